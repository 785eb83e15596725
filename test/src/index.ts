export * from './cluster.js';
export * from './emulator/index.js';
export * from './kubevirt/index.js';
export * from './vmsim/index.js';
