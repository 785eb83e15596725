export * from './events.js';
export * from './rate-limit.js';
export * from './reporter.js';
export * from './types.js';
