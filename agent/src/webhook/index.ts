export * from './admission.js';
export * from './handler.js';
export * from './metrics.js';
export * from './server.js';
export * from './tls-files.js';
export type { VmiLookup, VmiReader } from './vmi-reader.js';
