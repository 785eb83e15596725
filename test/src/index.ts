export * from './cluster.js';
export * from './emulator/index.js';
export * from './kubevirt/index.js';
export * from './vmsim/index.js';
export * from './webhook.js';
export * from './webhook-certs.js';
