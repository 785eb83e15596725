// Time as a dependency: workers, reporters and budgets take a Clock so tests step time instead of
// sleeping. The system clock wraps Date.now and the global timers.
//
// Long delays: Node clamps a timer delay above 2^31-1 ms (~24.8 days) to 1 ms, so a probe spec
// with periodSeconds or timeoutSeconds above 2147483 would fire at once and then every
// millisecond. Every delay the agent arms from user input goes through setLongTimeout (the system
// clock uses it; the probers' own timeouts too), which chains timers of at most 2^31-1 ms until the
// whole delay has passed. Probe timings are therefore honoured up to the validated int32 seconds.

export interface TimerHandle {
  readonly __timer: unique symbol;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs fn once after ms; the caller owns the handle and must clear it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Optional: re-arms a timer of this clock that has FIRED (not cleared) with its original delay,
   *  counted from now, and returns true; false when it cannot (the caller then sets a new one).
   *  Lets a periodic owner keep one timer object for its whole life instead of one per period. */
  refresh?(handle: TimerHandle): boolean;
}

/** The longest delay one Node timer honours (longer ones fire after 1 ms). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A delay longer than one Node timer can hold, as a chain of timers (see file comment). */
class ChainedTimeout {
  private timer: NodeJS.Timeout | undefined;
  private remaining: number;

  constructor(
    private readonly fn: () => void,
    ms: number,
    private readonly maxSegmentMs: number,
  ) {
    this.remaining = ms;
    this.arm();
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const segment = Math.min(this.remaining, this.maxSegmentMs);
    this.timer = setTimeout(() => {
      this.remaining -= segment;
      if (this.remaining > 0) this.arm();
      else {
        this.timer = undefined;
        this.fn();
      }
    }, segment);
  }
}

export type LongTimeout = NodeJS.Timeout | ChainedTimeout;

/** setTimeout that honours any finite delay (a plain timer when it fits, a chain when not).
 *  `maxSegmentMs` exists for tests. */
export function setLongTimeout(fn: () => void, ms: number, maxSegmentMs = MAX_TIMER_DELAY_MS): LongTimeout {
  const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
  return delay <= maxSegmentMs ? setTimeout(fn, delay) : new ChainedTimeout(fn, delay, maxSegmentMs);
}

export function clearLongTimeout(t: LongTimeout | undefined): void {
  if (t instanceof ChainedTimeout) t.clear();
  else if (t !== undefined) clearTimeout(t);
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setLongTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearLongTimeout(handle as unknown as LongTimeout),
  refresh: (handle) => {
    const t = handle as unknown as LongTimeout;
    if (t instanceof ChainedTimeout) return false;
    t.refresh();
    return true;
  },
};
