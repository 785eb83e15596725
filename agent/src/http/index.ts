export {
  type EndpointGuard,
  type GuardDecision,
  ReviewingGuard,
  type ReviewingGuardOptions,
} from './endpoint-auth.js';
export { EventLoopWatch, type EventLoopWatchOptions, type LoopHealth } from './event-loop-watch.js';
export {
  formatHostPort,
  type ListenAddress,
  ListenAddressError,
  parseListenAddress,
} from './listen-address.js';
export {
  AgentHttpServer,
  type AgentHttpServerOptions,
  type Check,
  type CheckResult,
  PROTECTED_PATHS,
} from './server.js';
export { DEFAULT_WATCH_STALL_MS, WatchHealth, type WatchHealthOptions } from './watch-health.js';
