// A deterministic Clock for tests: time moves only when the test calls advance()/runDue(). Timers
// fire in due order (ties in creation order), each with now() equal to its due time.
import type { Clock, TimerHandle } from '../../src/clock.js';

interface FakeTimer {
  id: number;
  dueAt: number;
  ms: number;
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
    this.setTimeouts++;
    this.timers.set(id, { id, dueAt: this.current + Math.max(0, ms), ms: Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as unknown as number);
    this.fired.delete(handle as unknown as number);
  }

  /** Clock.refresh (re-arm a fired timer), off unless a test sets `refreshable`: then a fired timer
   *  is re-armed with its delay from now under the same handle, and counted in `refreshes`. */
  refreshable = false;
  refreshes = 0;
  /** setTimeout calls (new timer objects), for tests of who re-arms instead. */
  setTimeouts = 0;
  private readonly fired = new Map<number, FakeTimer>();

  refresh(handle: TimerHandle): boolean {
    if (!this.refreshable) return false;
    const t = this.fired.get(handle as unknown as number);
    if (t === undefined) return false;
    this.fired.delete(t.id);
    t.dueAt = this.current + t.ms;
    this.timers.set(t.id, t);
    this.refreshes++;
    return true;
  }

  private fire(t: FakeTimer): void {
    this.timers.delete(t.id);
    if (this.refreshable) this.fired.set(t.id, t);
    t.fn();
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
      this.fire(t);
      fired++;
    }
    return fired;
  }

  /** Moves time forward by ms, firing each timer due in the window at its own due time. */
  advance(ms: number): number {
    const target = this.current + ms;
    let fired = 0;
    for (let t = this.earliest(); t && t.dueAt <= target; t = this.earliest()) {
      this.current = Math.max(this.current, t.dueAt);
      this.fire(t);
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
