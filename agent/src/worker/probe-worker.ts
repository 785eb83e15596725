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
import { applyResultInPlace, type ProbeState, type ThresholdState, thresholdStart } from './threshold.js';

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

/** The callback form of an attempt's end: called exactly once per attempt, with its outcome. */
export type AttemptDone = (outcome: ProbeOutcome) => void;

export interface ProbeWorkerOptions {
  kind: ProbeKind;
  /** Runs one attempt (e.g. `(signal) => runProbe(target, {timeoutMs}, signal)`); should never
   *  reject — a rejection is recorded as an `unknown` outcome with reason ProbeError.
   *  Give either `attempt` or `run`. */
  attempt?: (signal: AbortSignal) => Promise<ProbeOutcome>;
  /** The same without a promise where it can (the agent's hot path): EITHER calls `done` exactly
   *  once, possibly synchronously, and returns undefined, OR returns the attempt's promise and
   *  never calls `done`. A throw is recorded as `attempt`'s rejection is. */
  run?: (signal: AbortSignal, done: AttemptDone) => Promise<ProbeOutcome> | undefined;
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
  /** Every completed attempt. Callbacks must not throw; if they do, onError gets the error.
   *  `info` (and its `state`) is the worker's own object, valid during the call only: copy what
   *  you keep (one object per worker, not one per attempt). */
  onResult?: (outcome: ProbeOutcome, info: ProbeAttemptInfo) => void;
  /** When the state changes, and for the first confirmed verdict (prev === next then). */
  onTransition?: (prev: ProbeState, next: ProbeState, outcome: ProbeOutcome) => void;
  onError?: (err: unknown) => void;
}

export class ProbeWorker {
  readonly kind: ProbeKind;
  private readonly clock: Clock;
  private readonly threshold: ThresholdState;
  /** The armed timer (undefined while an attempt runs and after stop()). */
  private timer: TimerHandle | undefined;
  /** The last timer that fired with a delay of exactly one period: re-armed (Clock.refresh) for the
   *  next period instead of a new timer object per attempt. Cleared timers are never kept here. */
  private periodTimer: TimerHandle | undefined;
  /** The delay the armed timer was set with. */
  private timerDelay = 0;
  private dueAt: number | undefined;
  private controller: AbortController | undefined;
  private busy = false;
  /** settled() callers waiting for the attempt in flight (a promise only when someone waits). */
  private waiters: (() => void)[] | undefined;
  /** The timer callback, bound once (not a closure per period). */
  private readonly onTimer = (): void => this.fire();
  private started = false;
  private stopped = false;
  private attempts = 0;
  /** The one info object handed to onResult (see ProbeWorkerOptions.onResult). */
  private readonly info: ProbeAttemptInfo;

  constructor(private readonly opts: ProbeWorkerOptions) {
    if (!(opts.periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${opts.periodMs}`);
    if (!opts.attempt && !opts.run) throw new TypeError('a ProbeWorker needs attempt or run');
    this.kind = opts.kind;
    this.clock = opts.clock ?? systemClock;
    this.threshold = thresholdStart(opts.initialState);
    this.info = { state: this.threshold, dueAt: 0, startedAt: 0, lagMs: 0, attempt: 0 };
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
    return this.busy;
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
    this.schedule(Math.max(this.opts.initialDelayMs ?? 0, jitterMs));
  }

  /** Clears the timer and aborts the in-flight attempt; no callback fires afterwards. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    this.periodTimer = undefined;
    this.controller?.abort();
  }

  /** Resolves when no attempt is in flight (callbacks of the last one included). */
  settled(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiters ??= [];
      this.waiters.push(resolve);
    });
  }

  /** Arms the timer `delayMs` from now: the fired period timer re-armed when the delay is one period. */
  private schedule(delayMs: number): void {
    this.clearTimer();
    const now = this.clock.now();
    this.dueAt = now + delayMs;
    const spent = this.periodTimer;
    this.periodTimer = undefined;
    if (spent !== undefined && delayMs === this.opts.periodMs && this.clock.refresh?.(spent)) {
      this.timer = spent;
    } else {
      this.timer = this.clock.setTimeout(this.onTimer, delayMs);
    }
    this.timerDelay = delayMs;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  // The attempt hot path (2,000 attempts/s at 1,000 VMIs): no async function, no promise (with
  // `run`), no closure and no object per attempt in the worker — the done handler is bound once,
  // the attempt's due/start times live in fields (at most one attempt is in flight), the threshold
  // state is updated in place, the info object and the period timer are reused.
  private readonly onOutcome: AttemptDone = (outcome) => this.complete(outcome);
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
    // A timer that fired with a delay of one period can be re-armed for the next one.
    if (this.timerDelay === this.opts.periodMs) this.periodTimer = this.timer;
    this.timer = undefined;
    if (this.stopped) return;
    const startedAt = this.clock.now();
    this.attemptDueAt = this.dueAt ?? startedAt;
    this.attemptStartedAt = startedAt;
    this.attempts++;
    this.busy = true;
    // fire() runs only between start() and stop(), so the controller exists.
    const signal = (this.controller as AbortController).signal;
    let pending: Promise<ProbeOutcome> | undefined;
    try {
      const run = this.opts.run;
      pending = run
        ? run(signal, this.onOutcome)
        : (this.opts.attempt as NonNullable<ProbeWorkerOptions['attempt']>)(signal);
    } catch (err) {
      this.onThrow(err);
      return;
    }
    pending?.then(this.onOutcome, this.onThrow);
  }

  /** The end of one attempt: threshold, callbacks, next schedule. Runs once per fire(); a second
   *  call for the same attempt (a `run` that calls done twice, or throws after done) is ignored. */
  private complete(raw: ProbeOutcome): void {
    if (!this.busy) return;
    this.busy = false;
    if (!this.stopped) this.judge(raw);
    const waiters = this.waiters;
    if (waiters !== undefined) {
      this.waiters = undefined;
      for (const w of waiters) w();
    }
  }

  private judge(raw: ProbeOutcome): void {
    const outcome = judgeStall(raw, this.opts.timeoutMs);
    const prev = this.threshold.state;
    const changed = applyResultInPlace(this.threshold, outcome.result, this.opts);
    if (this.opts.onResult) {
      const info = this.info;
      info.dueAt = this.attemptDueAt;
      info.startedAt = this.attemptStartedAt;
      info.lagMs = this.attemptStartedAt - this.attemptDueAt;
      info.attempt = this.attempts;
      try {
        this.opts.onResult(outcome, info);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
    if (changed && !this.stopped && this.opts.onTransition) {
      try {
        this.opts.onTransition(prev, this.threshold.state, outcome);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
    if (!this.stopped) this.schedule(this.opts.periodMs);
  }
}
