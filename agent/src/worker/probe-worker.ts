// One worker per VMI × probe kind. It owns one timer (on the injected Clock), at most one in-flight
// attempt and one AbortController for its whole life (created on start(), aborted by stop(); every
// attempt gets its signal — a controller per attempt cost ~2 % of a core at 2,000 attempts/s, and
// stop() is final, so one is enough); the constructor starts nothing, `start()` schedules
// the first attempt, `stop()` clears the timer and aborts the attempt (idempotent; nothing fires
// after it). Scheduling is by deadline: next due = completion of the last attempt + period, so a
// slow target never causes overlapping attempts. The first attempt is due after
// max(initialDelayMs, jitter) where jitter is random in [0, period) — it spreads the probes of an
// agent that starts with many VMIs without probing any of them before its initial delay.
// (Startup gating is the manager's: a gated probe has no worker until the startup probe succeeds.)
// Agent stalls: an attempt that timed out well after its deadline (the timeout timer itself fired
// late, so the event loop was blocked and the I/O that would have answered may be queued behind it)
// is turned into `unknown` (reason ProbeError) by `judgeStall`: an agent fault never counts against
// the VM (design §7 "Verdicts").

import type { ProbeKind } from '@vmprobe/shared';
import { REASON } from '@vmprobe/shared';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { ProbeOutcome } from '../probers/types.js';
import { applyResult, type ProbeState, type ThresholdState, thresholdStart } from './threshold.js';

/** A timeout that fired this much later than its deadline (or more) was caused by the agent. */
export const STALL_GRACE_MS = 1000;

/**
 * The stall rule, pure: a ProbeTimeout whose attempt lasted more than `timeoutMs + STALL_GRACE_MS`
 * means the timeout timer ran late (the event loop was blocked), so the verdict is the agent's
 * fault, not the VM's: it becomes `unknown` with a message that says so. Anything else is unchanged.
 */
export function judgeStall(outcome: ProbeOutcome, timeoutMs: number | undefined): ProbeOutcome {
  if (timeoutMs === undefined || outcome.reason !== REASON.ProbeTimeout) return outcome;
  const lateMs = outcome.timings.durationMs - timeoutMs;
  if (!(lateMs > STALL_GRACE_MS)) return outcome;
  return {
    ...outcome,
    result: 'unknown',
    reason: REASON.ProbeError,
    message: `not counted: the agent's event loop was blocked, its ${timeoutMs} ms timeout fired ${Math.round(lateMs)} ms late (${outcome.message})`,
  };
}

export interface ProbeAttemptInfo {
  /** Threshold state after this result. */
  state: ThresholdState;
  /** When the attempt was due and when it actually started (clock ms); lagMs = startedAt − dueAt. */
  dueAt: number;
  startedAt: number;
  lagMs: number;
  /** 1 for the first attempt of this worker. */
  attempt: number;
}

export interface ProbeWorkerOptions {
  kind: ProbeKind;
  /** Runs one attempt (e.g. `(signal) => runProbe(target, {timeoutMs}, signal)`); should never
   *  reject — a rejection is recorded as an `unknown` outcome with reason ProbeError. */
  attempt: (signal: AbortSignal) => Promise<ProbeOutcome>;
  periodMs: number;
  /** The attempt's own timeout (for the stall rule, see judgeStall); optional for tests. */
  timeoutMs?: number;
  successThreshold: number;
  failureThreshold: number;
  /** Delay still to wait before the first attempt (the caller computes it from the Running transition). */
  initialDelayMs?: number;
  /** Spread the first attempt by a random delay in [0, period) (default true). */
  jitter?: boolean;
  /** Source of randomness for the jitter, in [0, 1) (default Math.random). */
  random?: () => number;
  clock?: Clock;
  /** Provisional starting state (the manager's startingState()); the first verdict is reported
   *  even when it equals this (see threshold.ts). */
  initialState: ProbeState;
  /** Every completed attempt. Callbacks must not throw; if they do, onError gets the error. */
  onResult?: (outcome: ProbeOutcome, info: ProbeAttemptInfo) => void;
  /** When the state changes, and for the first confirmed verdict (prev === next then). */
  onTransition?: (prev: ProbeState, next: ProbeState, outcome: ProbeOutcome) => void;
  onError?: (err: unknown) => void;
}

export class ProbeWorker {
  readonly kind: ProbeKind;
  private readonly clock: Clock;
  private threshold: ThresholdState;
  private timer: TimerHandle | undefined;
  private dueAt: number | undefined;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;
  /** The timer callback, bound once (not a closure per period). */
  private readonly onTimer = (): void => this.fire();
  private started = false;
  private stopped = false;
  private attempts = 0;

  constructor(private readonly opts: ProbeWorkerOptions) {
    if (!(opts.periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${opts.periodMs}`);
    this.kind = opts.kind;
    this.clock = opts.clock ?? systemClock;
    this.threshold = thresholdStart(opts.initialState);
  }

  get state(): ProbeState {
    return this.threshold.state;
  }

  get thresholdState(): ThresholdState {
    return { ...this.threshold };
  }

  /** When the next attempt is due (clock ms), or undefined while one runs or after stop(). */
  get nextDueAt(): number | undefined {
    return this.timer === undefined ? undefined : this.dueAt;
  }

  get inFlight(): boolean {
    return this.running !== undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Schedules the first attempt. Idempotent; does nothing after stop(). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.controller = new AbortController();
    const jitterMs =
      this.opts.jitter === false ? 0 : Math.floor((this.opts.random ?? Math.random)() * this.opts.periodMs);
    this.schedule(this.clock.now() + Math.max(this.opts.initialDelayMs ?? 0, jitterMs));
  }

  /** Clears the timer and aborts the in-flight attempt; no callback fires afterwards. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    this.controller?.abort();
  }

  /** Resolves when no attempt is in flight (callbacks of the last one included). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private schedule(at: number): void {
    this.clearTimer();
    this.dueAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, at - this.clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  // The attempt hot path (2,000 attempts/s at 1,000 VMIs): no async function, no .finally chain
  // and no closure per attempt — the attempt's promise gets the two handlers bound once below, and
  // the attempt's due/start times live in fields (at most one attempt is in flight).
  private readonly onOutcome = (outcome: ProbeOutcome): void => this.complete(outcome);
  private readonly onThrow = (err: unknown): void =>
    this.complete({
      result: 'unknown',
      reason: REASON.ProbeError,
      message: `probe attempt threw: ${err instanceof Error ? err.message : String(err)}`,
      timings: { startedAt: this.attemptStartedAt, durationMs: this.clock.now() - this.attemptStartedAt },
    });
  private attemptDueAt = 0;
  private attemptStartedAt = 0;

  private fire(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const startedAt = this.clock.now();
    this.attemptDueAt = this.dueAt ?? startedAt;
    this.attemptStartedAt = startedAt;
    this.attempts++;
    // fire() runs only between start() and stop(), so the controller exists.
    const signal = (this.controller as AbortController).signal;
    let pending: Promise<ProbeOutcome>;
    try {
      pending = this.opts.attempt(signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    // `running` is the promise that settles once complete() has run (settled() waits for it).
    this.running = pending.then(this.onOutcome, this.onThrow);
  }

  /** The end of one attempt: threshold, callbacks, next schedule. Runs once per fire(). */
  private complete(raw: ProbeOutcome): void {
    this.running = undefined;
    if (this.stopped) return;
    const outcome = judgeStall(raw, this.opts.timeoutMs);
    const prev = this.threshold.state;
    const { next, changed } = applyResult(this.threshold, outcome.result, this.opts);
    this.threshold = next;
    const startedAt = this.attemptStartedAt;
    const dueAt = this.attemptDueAt;
    if (this.opts.onResult) {
      const info: ProbeAttemptInfo = {
        state: { ...next },
        dueAt,
        startedAt,
        lagMs: startedAt - dueAt,
        attempt: this.attempts,
      };
      try {
        this.opts.onResult(outcome, info);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
    if (changed && !this.stopped && this.opts.onTransition) {
      try {
        this.opts.onTransition(prev, next.state, outcome);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
    if (!this.stopped) this.schedule(this.clock.now() + this.opts.periodMs);
  }
}
