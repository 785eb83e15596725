export * from './names.js';
export * from './probe.js';
