// ApiReporter's options and their defaults (./reporter.ts re-exports all of them). Plain data: the
// limiter and the Event recorder may be shared with the liveness handler, which is why they can be
// passed in; everything else is a number with a default here.

import type { BackoffPolicy } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { KubeWrites, PodConditionRead } from '../kube/api.js';
import type { Logger } from '../log.js';
import type { AgentObserver } from '../observer.js';
import type { EventRecorder } from './events.js';
import type { TokenBucket } from './rate-limit.js';

export interface ApiReporterOptions {
  writes: KubeWrites;
  nodeName: string;
  clock?: Clock;
  logger?: Logger;
  observer?: AgentObserver;
  /** Random source for jitter (tests pin it). */
  random?: () => number;
  /** The write limiter; shared with the liveness handler. Default: writeQps / writeBurst. */
  limiter?: TokenBucket;
  writeQps?: number;
  writeBurst?: number;
  /** The Event recorder; shared with the liveness handler. Default: one of its own. */
  events?: EventRecorder;
  backoff?: BackoffPolicy;
  /** Backoff ceiling after a network error or 5xx (an API outage); default 5 s. 429 is not capped. */
  outageMaxMs?: number;
  /** Re-verification LIST period; 0 disables. Default 5 min. */
  heartbeatIntervalMs?: number;
  /** Reminder Event while a failure lasts; 0 disables. Default 10 min. */
  reminderIntervalMs?: number;
  /** Condition and Event messages are cut to this length. Default 1024. */
  maxMessageLength?: number;
  /** A failed Event write is retried this many times (then dropped, logged). Default 5. */
  maxEventAttempts?: number;
  /** The pod's current gate condition from the informer cache (skips writes a restart would repeat). */
  podCondition?: (namespace: string, name: string) => PodConditionRead | undefined;
}

export const DEFAULT_WRITE_QPS = 20;
export const DEFAULT_WRITE_BURST = 50;
export const DEFAULT_HEARTBEAT_MS = 5 * 60_000;
export const DEFAULT_REMINDER_MS = 10 * 60_000;
export const DEFAULT_OUTAGE_MAX_MS = 5_000;
