export { type Clock, systemClock, type TimerHandle } from './clock.js';
export * from './probers/index.js';
export { VERSION } from './version.js';
export * from './worker/index.js';
