// A deterministic Clock for tests: time moves only when the test calls advance()/runDue(). Timers
// fire in due order (ties in creation order), each with now() equal to its due time.
import type { Clock, TimerHandle } from '../../src/clock.js';

interface FakeTimer {
  id: number;
  dueAt: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, dueAt: this.current + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as unknown as number);
  }

  /** Timers not yet fired or cleared. */
  pendingCount(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    return this.earliest()?.dueAt;
  }

  /** Fires every timer due at the current time (including ones they schedule for now). Returns how many fired. */
  runDue(): number {
    let fired = 0;
    for (let t = this.earliest(); t && t.dueAt <= this.current; t = this.earliest()) {
      this.timers.delete(t.id);
      t.fn();
      fired++;
    }
    return fired;
  }

  /** Moves time forward by ms, firing each timer due in the window at its own due time. */
  advance(ms: number): number {
    const target = this.current + ms;
    let fired = 0;
    for (let t = this.earliest(); t && t.dueAt <= target; t = this.earliest()) {
      this.timers.delete(t.id);
      this.current = Math.max(this.current, t.dueAt);
      t.fn();
      fired++;
    }
    this.current = target;
    return fired;
  }

  /** Moves time forward WITHOUT firing anything: a following runDue() fires the overdue timers
   *  late, as a blocked event loop would (for schedule-lag tests). */
  jump(ms: number): void {
    this.current += ms;
  }

  /** Sets the time to the earliest pending due time (if later) and fires what is due then. */
  advanceToNext(): number {
    const due = this.nextDueAt();
    if (due === undefined) return 0;
    this.current = Math.max(this.current, due);
    return this.runDue();
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers.values()) {
      if (!best || t.dueAt < best.dueAt || (t.dueAt === best.dueAt && t.id < best.id)) best = t;
    }
    return best;
  }
}
