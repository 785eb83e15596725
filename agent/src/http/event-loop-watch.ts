// Is the event loop responsive? A repeating, unref'd timer measures how late it fires; a stall
// longer than maxLagMs makes the loop count as unhealthy for windowMs afterwards (so that a kubelet
// probe arriving after the stall still sees it). The timer is started by start() and cleared by
// stop() (idempotent); constructing one starts nothing.

export interface EventLoopWatchOptions {
  /** A tick later than this is a stall (default 2000 ms: probes with 1 s timeouts go wrong well before). */
  maxLagMs?: number;
  /** How long a stall is reported (default 30 s). */
  windowMs?: number;
  /** Tick interval (default 500 ms). */
  intervalMs?: number;
  now?: () => number;
}

export interface LoopHealth {
  ok: boolean;
  message: string;
}

export class EventLoopWatch {
  private readonly maxLagMs: number;
  private readonly windowMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private expectedAt = 0;
  private lastTickAt = 0;
  private lastStall: { at: number; lagMs: number } | undefined;

  constructor(opts: EventLoopWatchOptions = {}) {
    this.maxLagMs = opts.maxLagMs ?? 2000;
    this.windowMs = opts.windowMs ?? 30_000;
    this.intervalMs = opts.intervalMs ?? 500;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.lastTickAt = this.now();
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Records one tick `lagMs` late (exposed for tests; the timer calls it). */
  recordLag(lagMs: number): void {
    const now = this.now();
    this.lastTickAt = now;
    if (lagMs > this.maxLagMs) this.lastStall = { at: now, lagMs };
  }

  health(): LoopHealth {
    const now = this.now();
    if (this.timer && now - this.lastTickAt > this.maxLagMs + this.intervalMs) {
      return { ok: false, message: `event loop timer has not fired for ${now - this.lastTickAt} ms` };
    }
    if (this.lastStall && now - this.lastStall.at < this.windowMs) {
      const ago = Math.round((now - this.lastStall.at) / 1000);
      return {
        ok: false,
        message: `event loop stalled for ${Math.round(this.lastStall.lagMs)} ms, ${ago} s ago`,
      };
    }
    return { ok: true, message: 'ok' };
  }

  private schedule(): void {
    this.expectedAt = this.now() + this.intervalMs;
    this.timer = setTimeout(() => {
      this.recordLag(this.now() - this.expectedAt);
      if (this.timer) this.schedule();
    }, this.intervalMs);
    this.timer.unref();
  }
}
