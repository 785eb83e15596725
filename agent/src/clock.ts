// Time as a dependency: workers, reporters and budgets take a Clock so tests step time instead of
// sleeping. The system clock wraps Date.now and the global timers.

export interface TimerHandle {
  readonly __timer: unique symbol;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs fn once after ms; the caller owns the handle and must clear it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};
