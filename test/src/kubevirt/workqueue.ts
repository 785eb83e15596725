// A keyed work queue in the style of client-go's: a key is processed by at most one worker at a
// time, adds while it is queued are merged, an add while it runs schedules one more run, a failed
// run is retried with per-key exponential backoff. The queue owns its delay timers; stop() clears
// them and waits for the runs in flight.

export type Reconcile = (key: string) => Promise<void>;

export interface WorkQueueOptions {
  name: string;
  concurrency?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
  onError?: (name: string, key: string, err: unknown) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private started = false;
  private stopped = false;
  private readonly concurrency: number;

  constructor(
    private readonly reconcile: Reconcile,
    private readonly opts: WorkQueueOptions,
  ) {
    this.concurrency = opts.concurrency ?? 4;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.pump();
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; an earlier pending delayed add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Stops taking work, clears timers, waits for runs in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** True when nothing is queued, running or waiting for a retry (for tests and benchmarks). */
  get idle(): boolean {
    return this.queue.length === 0 && this.running.size === 0 && this.timers.size === 0;
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    while (this.running.size < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.running.add(key);
      const p = this.runOne(key);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  private async runOne(key: string): Promise<void> {
    let failed = false;
    try {
      await this.reconcile(key);
      this.failures.delete(key);
    } catch (err) {
      failed = true;
      if (!this.stopped) this.opts.onError?.(this.opts.name, key, err);
    } finally {
      this.running.delete(key);
    }
    if (this.stopped) return;
    if (failed) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const min = this.opts.minRetryMs ?? 20;
      const max = this.opts.maxRetryMs ?? 2_000;
      this.dirty.delete(key);
      this.addAfter(key, Math.min(max, min * 2 ** (n - 1)));
    } else if (this.dirty.delete(key)) {
      this.add(key);
    }
    this.pump();
  }
}

export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
