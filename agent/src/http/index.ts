export { EventLoopWatch, type EventLoopWatchOptions, type LoopHealth } from './event-loop-watch.js';
export {
  formatHostPort,
  type ListenAddress,
  ListenAddressError,
  parseListenAddress,
} from './listen-address.js';
export { AgentHttpServer, type AgentHttpServerOptions, type Check, type CheckResult } from './server.js';
export { DEFAULT_WATCH_STALL_MS, WatchHealth, type WatchHealthOptions } from './watch-health.js';
