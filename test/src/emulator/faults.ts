/**
 * Run-time fault injection. Rules match by Kubernetes verb and/or a path regexp (and optionally
 * user); each adds latency and/or answers an error with a probability, at most `count` times.
 * Watch-level faults (drop all watches, 410 on the next watch) and the outage switch are
 * delegated to the server through hooks. No timers of its own.
 */
import { type ApiError, errorForCode } from './errors.js';

export interface FaultMatch {
  /** Kubernetes verb(s): get, list, watch, create, update, patch, delete, deletecollection. */
  verb?: string | string[];
  /** Matched against the URL path (without query). */
  path?: RegExp;
  user?: string;
}

export interface FaultRule extends FaultMatch {
  /** Delay before the request is handled (ms). */
  latencyMs?: number;
  /** Probability 0..1 that `status` is answered instead of the real response (default 1 when status set). */
  errorRate?: number;
  /** HTTP status to answer (Status object with the real reason). */
  status?: number;
  /** Retry-After for 429 (seconds, default 1). */
  retryAfterSeconds?: number;
  /** Apply at most this many times, then the rule retires. */
  count?: number;
}

export interface FaultDecision {
  latencyMs: number;
  error?: ApiError;
}

export interface FaultHooks {
  dropAllWatches(): number;
  setOutage(on: boolean): Promise<void>;
}

export class FaultInjector {
  private readonly rules = new Map<number, FaultRule & { used: number }>();
  private seq = 0;
  private goneNext = 0;
  private outageOn = false;
  /** Random source (tests may replace it for determinism). */
  random: () => number = Math.random;

  constructor(private readonly hooks: FaultHooks) {}

  /** Adds a rule; returns its remover. */
  add(rule: FaultRule): () => void {
    const id = ++this.seq;
    this.rules.set(id, { ...rule, used: 0 });
    return () => {
      this.rules.delete(id);
    };
  }

  latency(ms: number, match: FaultMatch = {}): () => void {
    return this.add({ ...match, latencyMs: ms });
  }

  errorRate(rate: number, status: number, match: FaultMatch = {}): () => void {
    return this.add({ ...match, errorRate: rate, status });
  }

  /** Every matching request answers 429 with Retry-After (for `count` requests, or until removed). */
  tooManyRequests(opts: FaultMatch & { retryAfterSeconds?: number; count?: number } = {}): () => void {
    return this.add({ ...opts, status: 429, retryAfterSeconds: opts.retryAfterSeconds ?? 1 });
  }

  /** Ends every open watch stream cleanly (clients re-watch from their last resourceVersion). Returns how many. */
  dropAllWatches(): number {
    return this.hooks.dropAllWatches();
  }

  /** The next `n` watch requests get an ERROR 410 Expired event and end. */
  forceGoneOnNextWatch(n = 1): void {
    this.goneNext += n;
  }

  /** Full outage: the listening socket closes and every connection is destroyed; off listens again on the same port. */
  async outage(on: boolean): Promise<void> {
    this.outageOn = on;
    await this.hooks.setOutage(on);
  }

  get inOutage(): boolean {
    return this.outageOn;
  }

  clear(): void {
    this.rules.clear();
    this.goneNext = 0;
  }

  /** @internal consumed by the watch handler. */
  takeForcedGone(): boolean {
    if (this.goneNext <= 0) return false;
    this.goneNext -= 1;
    return true;
  }

  /** @internal Decide what happens to one request. */
  decide(verb: string, path: string, user: string): FaultDecision {
    let latencyMs = 0;
    let error: ApiError | undefined;
    for (const [id, r] of this.rules) {
      if (r.verb !== undefined && !(Array.isArray(r.verb) ? r.verb.includes(verb) : r.verb === verb))
        continue;
      if (r.path && !r.path.test(path)) continue;
      if (r.user !== undefined && r.user !== user) continue;
      let applied = false;
      if (r.latencyMs) {
        latencyMs += r.latencyMs;
        applied = true;
      }
      if (r.status !== undefined && !error && this.random() < (r.errorRate ?? 1)) {
        error = errorForCode(r.status, r.retryAfterSeconds ?? 1);
        applied = true;
      }
      if (applied) {
        r.used += 1;
        if (r.count !== undefined && r.used >= r.count) this.rules.delete(id);
      }
    }
    return { latencyMs, error };
  }
}
