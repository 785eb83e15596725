// A client-side token bucket for API writes (like client-go's flowcontrol): `qps` tokens per
// second, at most `burst` stored. take() resolves in FIFO order as tokens become available, except
// that a `'high'` take queues ahead of every normal one (FIFO among the high ones): the launcher-pod
// gate writes, on the critical path of every VM start (issue 9), pass VMIProbeStatus writes and Events.
//
// Ownership: the bucket owns one timer (for the waiter at the head of the queue), armed only while a
// waiter is queued; stop() clears it, rejects every waiter with RateLimiterStoppedError and is
// idempotent. take(signal): an aborted signal removes that wait from the queue (it rejects with
// RateLimiterAbortedError) and the timer goes with the last wait — work that was dropped (a VMI
// forgotten) leaves no token wait and no timer behind. Time comes from the Clock.
import { type Clock, systemClock, type TimerHandle } from '../clock.js';

export class RateLimiterStoppedError extends Error {
  override readonly name = 'RateLimiterStoppedError';
  readonly code = 'RateLimiterStopped';
  constructor() {
    super('rate limiter stopped');
  }
}

/** take(signal) whose signal aborted before a token was available; the wait left the queue. */
export class RateLimiterAbortedError extends Error {
  override readonly name = 'RateLimiterAbortedError';
  readonly code = 'RateLimiterAborted';
  constructor() {
    super('rate limiter wait aborted');
  }
}

export interface TokenBucketOptions {
  /** Tokens per second (> 0). */
  qps: number;
  /** Bucket size (≥ 1); the bucket starts full. */
  burst: number;
  clock?: Clock;
}

export type TakePriority = 'high' | 'normal';

interface Waiter {
  high: boolean;
  resolve(): void;
  reject(err: Error): void;
  /** Removes the abort listener (called whenever the waiter leaves the queue). */
  detach(): void;
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private lastRefill: number;
  private readonly waiters: Waiter[] = [];
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** While true, take() resolves at once (SIGTERM drain: pending writes go out within the grace). */
  bypass = false;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.qps > 0)) throw new RangeError(`rate limit qps must be > 0, got ${opts.qps}`);
    if (!(opts.burst >= 1)) throw new RangeError(`rate limit burst must be ≥ 1, got ${opts.burst}`);
    this.qps = opts.qps;
    this.burst = Math.floor(opts.burst);
    this.clock = opts.clock ?? systemClock;
    this.tokens = this.burst;
    this.lastRefill = this.clock.now();
  }

  /** Waiters queued behind an empty bucket. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Takes a token now if one is there. */
  tryTake(): boolean {
    if (this.stopped) return false;
    if (this.bypass) return true;
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /**
   * Resolves when a token is taken (FIFO); rejects with RateLimiterStoppedError after stop(), and
   * with RateLimiterAbortedError when `signal` aborts first (the wait is removed from the queue).
   */
  take(signal?: AbortSignal, priority: TakePriority = 'normal'): Promise<void> {
    if (this.stopped) return Promise.reject(new RateLimiterStoppedError());
    if (signal?.aborted) return Promise.reject(new RateLimiterAbortedError());
    if (this.tryTake()) return Promise.resolve();
    const high = priority === 'high';
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        waiter.detach();
        if (this.waiters.length === 0) this.disarm();
        reject(new RateLimiterAbortedError());
      };
      const waiter: Waiter = {
        high,
        resolve: () => {
          waiter.detach();
          resolve();
        },
        reject: (err) => {
          waiter.detach();
          reject(err);
        },
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (high) {
        const firstNormal = this.waiters.findIndex((w) => !w.high);
        if (firstNormal < 0) this.waiters.push(waiter);
        else this.waiters.splice(firstNormal, 0, waiter);
      } else this.waiters.push(waiter);
      this.arm();
    });
  }

  /** Lets every queued waiter through and keeps the gate open (see `bypass`). */
  openGate(): void {
    this.bypass = true;
    this.disarm();
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.disarm();
    const err = new RateLimiterStoppedError();
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.lastRefill);
    this.lastRefill = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.qps) / 1000);
  }

  private arm(): void {
    if (this.timer !== undefined || this.waiters.length === 0) return;
    this.refill();
    const missing = Math.max(0, 1 - this.tokens);
    const waitMs = Math.max(1, Math.ceil((missing * 1000) / this.qps));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, waitMs);
  }

  private release(): void {
    if (this.stopped) return;
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiters.shift()!.resolve();
    }
    this.arm();
  }
}
