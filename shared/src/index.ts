export * from './names.js';
export * from './probe.js';
export * from './probe-defaults.js';
export * from './probe-validation.js';
export * from './readiness-gate.js';
export * from './vmi-probes.js';
