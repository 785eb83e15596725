// Fixed-rate load with a concurrency cap, for comparing probers at the same offered load.
//
// Starts `task` at `rate` per second (in 10 ms ticks) for `seconds`, never more than `concurrency`
// at once: a start that finds the cap reached is skipped and counted (the load generator never
// queues, so a slow side shows up as skipped starts instead of a growing backlog). Resolves once
// every started task has finished; a task that rejects is counted, not thrown. The caller owns
// whatever the tasks hold.

export interface RateOptions {
  rate: number;
  concurrency: number;
  seconds: number;
}

export interface RateResult<R> {
  started: number;
  /** Starts skipped because `concurrency` tasks were in flight. */
  skipped: number;
  /** Tasks that rejected (their results are missing from `results`). */
  rejected: number;
  /** Wall seconds from the first start to the last finish. */
  wallSeconds: number;
  results: R[];
}

const TICK_MS = 10;

export async function runAtRate<R>(
  opts: RateOptions,
  task: (i: number) => Promise<R>,
): Promise<RateResult<R>> {
  const results: R[] = [];
  const inflight = new Set<Promise<void>>();
  let started = 0;
  let skipped = 0;
  let rejected = 0;
  const t0 = performance.now();
  const endAt = t0 + opts.seconds * 1000;
  // Starts owed so far = elapsed × rate; each tick starts the difference (no drift, no burst catch-up
  // beyond what the cap allows).
  let owed = 0;
  let nextTick = t0;
  while (performance.now() < endAt) {
    const due = Math.floor(((performance.now() - t0) / 1000) * opts.rate);
    for (; owed < due; owed++) {
      if (inflight.size >= opts.concurrency) {
        skipped++;
        continue;
      }
      const i = started++;
      const p: Promise<void> = task(i).then(
        (r) => {
          results.push(r);
          inflight.delete(p);
        },
        () => {
          rejected++;
          inflight.delete(p);
        },
      );
      inflight.add(p);
    }
    nextTick += TICK_MS;
    const wait = nextTick - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  return { started, skipped, rejected, wallSeconds: (performance.now() - t0) / 1000, results };
}
