// The `watches` check behind /healthz: fails only when a watcher is wedged — no list/watch activity
// at all for far longer than a watch can last, while it is not backing off after an error.
//
// Why this shape: a healthy watcher shows activity at least every ~10 min even on a quiet node (a
// watch ends at its server-side timeout, ≤ 600 s, or is aborted by the stall watchdog 30 s later,
// and is then re-opened; every list, watch end and object event counts). During an API outage its
// lists fail and it backs off — restarting the agent (what a failed liveness probe does) cannot help
// then, so an error as the last thing seen never fails the check. What is left is a watcher that
// went silent without an error: a lost restart, a request hung forever, a ListWatch that stopped by
// itself — exactly what a restart fixes.
//
// Pure bookkeeping: no timer, time from the injected Clock. Callers report activity; check() reads it.
import type { Clock } from '../clock.js';
import type { CheckResult } from './server.js';

/** 20 min: twice the longest watch (600 s server timeout + the 30 s watchdog), with slack. */
export const DEFAULT_WATCH_STALL_MS = 20 * 60_000;

export interface WatchHealthOptions {
  clock: Clock;
  /** The watched resources (each starts "active now"). */
  resources: readonly string[];
  /** Silence longer than this (with no error last) fails the check. */
  stallMs?: number;
}

interface ResourceActivity {
  lastAt: number;
  /** The last thing seen was a failed request or an error restart: backing off, not wedged. */
  lastFailed: boolean;
}

export class WatchHealth {
  readonly stallMs: number;
  private readonly clock: Clock;
  private readonly byResource = new Map<string, ResourceActivity>();

  constructor(opts: WatchHealthOptions) {
    this.clock = opts.clock;
    this.stallMs = opts.stallMs ?? DEFAULT_WATCH_STALL_MS;
    if (!(this.stallMs > 0)) throw new RangeError(`stallMs must be > 0, got ${this.stallMs}`);
    const now = this.clock.now();
    for (const r of opts.resources) this.byResource.set(r, { lastAt: now, lastFailed: false });
  }

  /** A list or watch request of `resource` ended (code 0 = network error, ≥ 400 = failed). */
  request(resource: string, code: number): void {
    this.mark(resource, !(code >= 200 && code < 400));
  }

  /** The watcher restarted: `error` means it now backs off; `gone`/`closed` are routine. */
  restart(resource: string, reason: string): void {
    this.mark(resource, reason === 'error');
  }

  /** An object event or a completed (re)list reached the cache. */
  event(resource: string): void {
    this.mark(resource, false);
  }

  check(): CheckResult {
    const now = this.clock.now();
    const wedged: string[] = [];
    for (const [resource, a] of this.byResource) {
      const silentMs = now - a.lastAt;
      if (silentMs > this.stallMs && !a.lastFailed) {
        wedged.push(`${resource} watch silent for ${Math.round(silentMs / 1000)}s`);
      }
    }
    if (wedged.length > 0) {
      return { ok: false, message: `${wedged.join('; ')} (limit ${Math.round(this.stallMs / 1000)}s)` };
    }
    return { ok: true };
  }

  private mark(resource: string, failed: boolean): void {
    const a = this.byResource.get(resource);
    if (a) {
      a.lastAt = this.clock.now();
      a.lastFailed = failed;
    } else {
      this.byResource.set(resource, { lastAt: this.clock.now(), lastFailed: failed });
    }
  }
}
