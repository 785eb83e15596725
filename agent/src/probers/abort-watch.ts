// Cancelling attempts on a long-lived AbortSignal without an EventTarget listener per attempt.
// A worker hands the same signal (its one controller, aborted by its stop()) to every attempt;
// adding and removing an 'abort' listener per attempt (EventTarget validation, a listener record,
// an options object) was ~2.5 % of the agent's busy main-thread time at 2,000 attempts/s. Instead
// each signal gets ONE 'abort' listener, added the first time an attempt watches it, which runs the
// cancels registered for it at that moment; an attempt registers its cancel (a Set add) and
// unregisters it when it settles (a Set delete).
// Contract: `watchAbort` only for a signal not yet aborted (the probers check `signal.aborted`
// first); each registered cancel runs at most once, synchronously in the abort event; `unwatchAbort`
// is idempotent. The one listener is `once` and lives exactly as long as its signal (it is removed
// by the abort; a signal never aborted takes it along when it is garbage).

const watched = new WeakMap<AbortSignal, Set<() => void>>();

/** Runs `cancel` when `signal` aborts, until `unwatchAbort(signal, cancel)`. */
export function watchAbort(signal: AbortSignal, cancel: () => void): void {
  let cancels = watched.get(signal);
  if (cancels === undefined) {
    const set = new Set<() => void>();
    cancels = set;
    watched.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        watched.delete(signal);
        const now = [...set];
        set.clear();
        for (const c of now) c();
      },
      { once: true },
    );
  }
  cancels.add(cancel);
}

/** Forgets `cancel` (the attempt settled). Idempotent. */
export function unwatchAbort(signal: AbortSignal, cancel: () => void): void {
  watched.get(signal)?.delete(cancel);
}

/** Cancels registered for `signal` (for tests: settled attempts leave none behind). */
export function watchedCount(signal: AbortSignal): number {
  return watched.get(signal)?.size ?? 0;
}
