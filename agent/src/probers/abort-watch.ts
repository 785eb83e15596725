// Cancelling attempts on a long-lived AbortSignal without an EventTarget listener per attempt.
// A worker hands the same signal (its one controller, aborted by its stop()) to every attempt;
// adding and removing an 'abort' listener per attempt (EventTarget validation, a listener record,
// an options object) was ~2.5 % of the agent's busy main-thread time at 2,000 attempts/s. Instead
// each signal gets ONE 'abort' listener, added the first time an attempt watches it, which runs the
// cancels registered for it at that moment; an attempt registers its cancel (in a slot, or a Set
// when the slot is taken) and unregisters it when it settles.
// Contract: `watchAbort` only for a signal not yet aborted (the probers check `signal.aborted`
// first); each registered cancel runs at most once, synchronously in the abort event; `unwatchAbort`
// is idempotent. The one listener is `once` and lives exactly as long as its signal (it is removed
// by the abort; a signal never aborted takes it along when it is garbage).

/** A signal's registered cancels: the first in a slot (a worker's signal has at most one attempt
 *  in flight, so nearly always the only one), any more in a Set. Adding and deleting the one
 *  element of a Set reallocates its table each time (~110 B per attempt); the slot does not. */
interface Cancels {
  first: (() => void) | undefined;
  more: Set<() => void> | undefined;
}

const watched = new WeakMap<AbortSignal, Cancels>();

/** Runs `cancel` when `signal` aborts, until `unwatchAbort(signal, cancel)`. */
export function watchAbort(signal: AbortSignal, cancel: () => void): void {
  let cancels = watched.get(signal);
  if (cancels === undefined) {
    const entry: Cancels = { first: undefined, more: undefined };
    cancels = entry;
    watched.set(signal, entry);
    signal.addEventListener(
      'abort',
      () => {
        watched.delete(signal);
        const now = [...(entry.first ? [entry.first] : []), ...(entry.more ?? [])];
        entry.first = undefined;
        entry.more = undefined;
        for (const c of now) c();
      },
      { once: true },
    );
  }
  if (cancels.first === cancel || cancels.more?.has(cancel)) return; // a Set's idempotence
  if (cancels.first === undefined) cancels.first = cancel;
  else {
    cancels.more ??= new Set();
    cancels.more.add(cancel);
  }
}

/** Forgets `cancel` (the attempt settled). Idempotent. */
export function unwatchAbort(signal: AbortSignal, cancel: () => void): void {
  const cancels = watched.get(signal);
  if (cancels === undefined) return;
  if (cancels.first === cancel) cancels.first = undefined;
  else cancels.more?.delete(cancel);
}

/** Cancels registered for `signal` (for tests: settled attempts leave none behind). */
export function watchedCount(signal: AbortSignal): number {
  const cancels = watched.get(signal);
  if (cancels === undefined) return 0;
  return (cancels.first ? 1 : 0) + (cancels.more?.size ?? 0);
}
