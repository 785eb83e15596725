export const VMPROBE_TESTBED = true;
export * from './emulator/index.js';
export * from './kubevirt/index.js';
export * from './vmsim/index.js';
export * from './cluster.js';
