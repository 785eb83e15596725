import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import {
  applyResult,
  judgeStall,
  type ProbeOutcome,
  type ProbeResult,
  ProbeWorker,
  type ProbeWorkerOptions,
  STALL_GRACE_MS,
  thresholdStart,
} from '../src/index.js';
import { FakeClock } from './helpers/fake-clock.js';

const outcome = (result: ProbeResult): ProbeOutcome => ({
  result,
  reason: 'R',
  message: result,
  timings: { startedAt: 0, durationMs: 0 },
});

/** An attempt function whose attempts the test resolves by hand. */
function scripted() {
  const pending: { resolve: (o: ProbeOutcome) => void; signal: AbortSignal; startedAt: number }[] = [];
  let clock: FakeClock | undefined;
  return {
    pending,
    bind(c: FakeClock) {
      clock = c;
    },
    attempt: (signal: AbortSignal) =>
      new Promise<ProbeOutcome>((resolve) => {
        pending.push({ resolve, signal, startedAt: clock?.now() ?? 0 });
      }),
  };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function setup(extra: Partial<ProbeWorkerOptions> = {}) {
  const clock = new FakeClock(0);
  const s = scripted();
  s.bind(clock);
  const results: { o: ProbeOutcome; lag: number; attempt: number }[] = [];
  const transitions: string[] = [];
  const worker = new ProbeWorker({
    kind: 'readiness',
    attempt: s.attempt,
    initialState: 'failure',
    periodMs: 10_000,
    successThreshold: 1,
    failureThreshold: 3,
    jitter: false,
    clock,
    onResult: (o, info) => results.push({ o, lag: info.lagMs, attempt: info.attempt }),
    onTransition: (prev, next) => transitions.push(`${prev}->${next}`),
    ...extra,
  });
  /** Resolve the oldest pending attempt and let the worker process it. */
  const answer = async (r: ProbeResult) => {
    const p = s.pending.shift();
    if (!p) throw new Error('no attempt in flight');
    p.resolve(outcome(r));
    await worker.settled();
    await flush();
  };
  return { clock, s, worker, results, transitions, answer };
}

describe('threshold state machine', () => {
  const t = { successThreshold: 2, failureThreshold: 3 };
  it('flips only after the thresholds, warning counts as success, unknown moves nothing', () => {
    let st = thresholdStart('failure');
    const seq: [ProbeResult, string, boolean][] = [
      ['success', 'failure', false],
      ['unknown', 'failure', false],
      ['warning', 'success', true],
      ['failure', 'success', false],
      ['failure', 'success', false],
      ['success', 'success', false],
      ['failure', 'success', false],
      ['failure', 'success', false],
      ['failure', 'failure', true],
      ['failure', 'failure', false],
    ];
    for (const [r, want, changed] of seq) {
      const step = applyResult(st, r, t);
      expect([r, step.next.state, step.changed]).toEqual([r, want, changed]);
      st = step.next;
    }
    expect(st).toEqual({
      state: 'failure',
      consecutiveSuccesses: 0,
      consecutiveFailures: 4,
      confirmed: true,
    });
  });

  it('the first confirmed verdict is a change whatever the provisional starting state (table)', () => {
    const one = { successThreshold: 1, failureThreshold: 1 };
    const table: [string, ProbeResult[], boolean[]][] = [
      // start, results, changed after each
      ['failure', ['failure', 'failure'], [true, false]],
      ['success', ['success', 'success'], [true, false]],
      ['unknown', ['failure'], [true]],
      ['failure', ['unknown', 'unknown', 'failure'], [false, false, true]],
      ['failure', ['success', 'failure', 'failure'], [true, true, false]],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [start, results, want] of table) {
      let st = thresholdStart(start as 'failure');
      const got = results.map((r) => {
        const step = applyResult(st, r, one);
        st = step.next;
        return step.changed;
      });
      expect([start, results, got]).toEqual([start, results, want]);
    }
    // With thresholds above 1 the verdict waits for the threshold.
    let st = thresholdStart('failure');
    const t3 = { successThreshold: 1, failureThreshold: 3 };
    const changes = (['failure', 'failure', 'failure', 'failure'] as ProbeResult[]).map((r) => {
      const step = applyResult(st, r, t3);
      st = step.next;
      return step.changed;
    });
    expect(changes).toEqual([false, false, true, false]);
  });
});

describe('ProbeWorker', () => {
  it('starts nothing in the constructor; the first attempt waits for the initial delay', async () => {
    const { clock, s, worker } = setup({ initialDelayMs: 5000 });
    expect(clock.pendingCount()).toBe(0);
    worker.start();
    worker.start();
    expect(clock.pendingCount()).toBe(1);
    expect(worker.nextDueAt).toBe(5000);
    clock.advance(4999);
    expect(s.pending).toHaveLength(0);
    clock.advance(1);
    expect(s.pending).toHaveLength(1);
    worker.stop();
  });

  it('spreads the first attempt by jitter in [0, period), never before the initial delay', () => {
    const a = setup({ jitter: true, random: () => 0.25 });
    a.worker.start();
    expect(a.worker.nextDueAt).toBe(2500);
    const b = setup({ jitter: true, random: () => 0.25, initialDelayMs: 8000 });
    b.worker.start();
    expect(b.worker.nextDueAt).toBe(8000);
    const c = setup({ jitter: true, random: () => 0.999 });
    c.worker.start();
    expect(c.worker.nextDueAt).toBeLessThan(10_000);
    for (const x of [a, b, c]) x.worker.stop();
  });

  it('schedules by deadline: next due = completion + period, one attempt in flight at most', async () => {
    const { clock, s, worker, answer } = setup();
    worker.start();
    clock.advance(0);
    expect(s.pending).toHaveLength(1);
    // The target is slow: a long time passes with the attempt in flight; nothing else starts.
    clock.advance(35_000);
    expect(s.pending).toHaveLength(1);
    expect(clock.pendingCount()).toBe(0);
    expect(worker.inFlight).toBe(true);
    await answer('success');
    expect(worker.nextDueAt).toBe(45_000);
    clock.advance(9_999);
    expect(s.pending).toHaveLength(0);
    clock.advance(1);
    expect(s.pending).toHaveLength(1);
    expect(s.pending[0]?.startedAt).toBe(45_000);
    worker.stop();
  });

  it('emits every result and only transitions, and reports schedule lag', async () => {
    const { clock, worker, results, transitions, answer } = setup();
    worker.start();
    clock.runDue();
    await answer('success');
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await answer('failure');
    }
    clock.advance(10_000);
    await answer('failure');
    expect(results.map((r) => r.o.result)).toEqual(['success', 'failure', 'failure', 'failure', 'failure']);
    expect(transitions).toEqual(['failure->success', 'success->failure']);
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.lag === 0)).toBe(true);
    // A blocked event loop: the timer fires 250 ms late and the lag says so.
    clock.jump(10_250);
    clock.runDue();
    await answer('success');
    expect(results.at(-1)).toMatchObject({ lag: 250, attempt: 6 });
    worker.stop();
  });

  it('starts from an injected state: its first verdict is reported once even when it agrees', async () => {
    const { clock, worker, transitions, answer } = setup({ initialState: 'success' });
    expect(worker.state).toBe('success');
    worker.start();
    clock.runDue();
    await answer('success');
    expect(transitions).toEqual(['success->success']);
    clock.advance(10_000);
    await answer('success');
    expect(transitions).toEqual(['success->success']);
    worker.stop();
  });

  it('a rejected attempt is an unknown outcome and does not change the state', async () => {
    const clock = new FakeClock(0);
    const seen: ProbeOutcome[] = [];
    const worker = new ProbeWorker({
      kind: 'readiness',
      attempt: () => Promise.reject(new Error('boom')),
      initialState: 'failure',
      periodMs: 1000,
      successThreshold: 1,
      failureThreshold: 1,
      jitter: false,
      clock,
      onResult: (o) => seen.push(o),
    });
    worker.start();
    clock.runDue();
    await worker.settled();
    expect(seen[0]).toMatchObject({
      result: 'unknown',
      reason: 'ProbeError',
      message: 'probe attempt threw: boom',
    });
    expect(worker.state).toBe('failure');
    expect(worker.nextDueAt).toBe(1000);
    worker.stop();
  });

  it('a timeout that fired well past its deadline (agent stall) is unknown, not a failure', async () => {
    const clock = new FakeClock(0);
    const seen: ProbeOutcome[] = [];
    const transitions: string[] = [];
    const timeout = (durationMs: number): ProbeOutcome => ({
      result: 'failure',
      reason: 'ProbeTimeout',
      message: 'dial tcp 10.0.0.1:80: i/o timeout',
      timings: { startedAt: 0, durationMs },
    });
    const durations = [1000 + STALL_GRACE_MS + 500, 1004];
    const worker = new ProbeWorker({
      kind: 'liveness',
      attempt: async () => timeout(durations.shift() ?? 1000),
      initialState: 'success',
      periodMs: 1000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 1,
      jitter: false,
      clock,
      onResult: (o) => seen.push(o),
      onTransition: (a, b) => transitions.push(`${a}->${b}`),
    });
    worker.start();
    clock.runDue();
    await worker.settled();
    expect(seen[0]).toMatchObject({ result: 'unknown', reason: 'ProbeError' });
    expect(seen[0]?.message).toMatch(/event loop was blocked/);
    expect(transitions).toEqual([]);
    // A timeout that fired on time is the VM's failure.
    clock.advance(1000);
    await worker.settled();
    expect(seen[1]).toMatchObject({ result: 'failure', reason: 'ProbeTimeout' });
    expect(transitions).toEqual(['success->failure']);
    worker.stop();
  });

  it('judgeStall leaves everything but a late timeout alone (table)', () => {
    const o = (reason: string, durationMs: number): ProbeOutcome => ({
      result: 'failure',
      reason,
      message: 'm',
      timings: { startedAt: 0, durationMs },
    });
    const table: [ProbeOutcome, number | undefined, string][] = [
      [o('ProbeTimeout', 1000), 1000, 'failure'],
      [o('ProbeTimeout', 1000 + STALL_GRACE_MS), 1000, 'failure'],
      [o('ProbeTimeout', 1001 + STALL_GRACE_MS), 1000, 'unknown'],
      [o('ProbeTimeout', 60_000), undefined, 'failure'],
      [o('ProbeFailed', 60_000), 1000, 'failure'],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [outcome, timeoutMs, want] of table) expect(judgeStall(outcome, timeoutMs).result).toBe(want);
  });

  it('stop() aborts the in-flight attempt, leaves no timer, fires nothing after, and is idempotent', async () => {
    const { clock, s, worker, results, transitions } = setup();
    worker.start();
    clock.runDue();
    const inflight = s.pending[0];
    expect(inflight?.signal.aborted).toBe(false);
    worker.stop();
    worker.stop();
    expect(inflight?.signal.aborted).toBe(true);
    inflight?.resolve(outcome('success'));
    await worker.settled();
    expect(results).toHaveLength(0);
    expect(transitions).toHaveLength(0);
    expect(clock.pendingCount()).toBe(0);
    worker.start();
    expect(clock.pendingCount()).toBe(0);
    // Stopping while only a timer is pending clears it.
    const other = setup();
    other.worker.start();
    expect(other.clock.pendingCount()).toBe(1);
    other.worker.stop();
    expect(other.clock.pendingCount()).toBe(0);
  });
});

describe('ProbeWorker: callback attempts and objects kept for its life', () => {
  /** A worker whose attempts are `run` callbacks the test answers by hand. */
  function callbackSetup(extra: Partial<ProbeWorkerOptions> = {}) {
    const clock = new FakeClock(0);
    const calls: { signal: AbortSignal; done: (o: ProbeOutcome) => void }[] = [];
    const results: { o: ProbeOutcome; attempt: number; lag: number }[] = [];
    const transitions: string[] = [];
    const worker = new ProbeWorker({
      kind: 'liveness',
      run: (signal, done) => {
        calls.push({ signal, done });
        return undefined;
      },
      initialState: 'success',
      periodMs: 1000,
      successThreshold: 1,
      failureThreshold: 2,
      jitter: false,
      clock,
      onResult: (o, info) => results.push({ o, attempt: info.attempt, lag: info.lagMs }),
      onTransition: (prev, next) => transitions.push(`${prev}->${next}`),
      ...extra,
    });
    return { clock, calls, results, transitions, worker };
  }

  it('run: a callback answered later drives thresholds and the schedule as a promise does; a second done is ignored', async () => {
    const { clock, calls, results, transitions, worker } = callbackSetup();
    worker.start();
    clock.runDue();
    expect(calls).toHaveLength(1);
    expect(worker.inFlight).toBe(true);
    expect(worker.nextDueAt).toBeUndefined();
    clock.advance(30);
    const waited = worker.settled();
    calls[0]?.done(outcome('failure'));
    await waited;
    expect(worker.inFlight).toBe(false);
    expect(worker.nextDueAt).toBe(1030); // completion + period
    calls[0]?.done(outcome('failure')); // a prober bug: not a second result
    expect(results.map((r) => r.o.result)).toEqual(['failure']);
    clock.advance(1000);
    calls[1]?.done(outcome('failure'));
    expect(results.map((r) => [r.o.result, r.attempt])).toEqual([
      ['failure', 1],
      ['failure', 2],
    ]);
    expect(transitions).toEqual(['success->failure']);
    expect(worker.state).toBe('failure');
    worker.stop();
  });

  it('run: a synchronous done, a returned promise and a throw all end the attempt', async () => {
    const sync = callbackSetup({
      run: (_signal, done) => {
        done(outcome('success'));
        return undefined;
      },
    });
    sync.worker.start();
    sync.clock.runDue();
    expect(sync.results.map((r) => r.o.result)).toEqual(['success']);
    expect(sync.worker.nextDueAt).toBe(1000);
    sync.worker.stop();

    const promised = callbackSetup({ run: () => Promise.resolve(outcome('failure')) });
    promised.worker.start();
    promised.clock.runDue();
    await promised.worker.settled();
    expect(promised.results.map((r) => r.o.result)).toEqual(['failure']);
    promised.worker.stop();

    const thrown = callbackSetup({
      run: () => {
        throw new Error('boom');
      },
    });
    thrown.worker.start();
    thrown.clock.runDue();
    expect(thrown.results.map((r) => [r.o.result, r.o.reason, r.o.message])).toEqual([
      ['unknown', 'ProbeError', 'probe attempt threw: boom'],
    ]);
    expect(thrown.worker.state).toBe('success');
    thrown.worker.stop();
  });

  it('re-arms its one period timer (Clock.refresh) instead of a new timer per attempt; stop() clears it', () => {
    const { clock, calls, worker } = callbackSetup({ jitter: true, random: () => 0.5 });
    clock.refreshable = true;
    worker.start();
    expect(clock.setTimeouts).toBe(1); // the jitter delay (500 ms), not a period
    clock.runDue();
    clock.advance(500);
    expect(calls).toHaveLength(1);
    calls[0]?.done(outcome('success'));
    expect(clock.setTimeouts).toBe(2); // the first period timer
    for (let i = 1; i <= 5; i++) {
      clock.advance(1000);
      expect(calls).toHaveLength(i + 1);
      calls[i]?.done(outcome('success'));
      expect(worker.nextDueAt).toBe(clock.now() + 1000);
    }
    expect(clock.setTimeouts).toBe(2);
    expect(clock.refreshes).toBe(5);
    expect(clock.pendingCount()).toBe(1);
    worker.stop();
    expect(clock.pendingCount()).toBe(0);
    clock.advance(10_000);
    expect(calls).toHaveLength(6);
  });

  it('the system clock re-arms a timer that has fired', async () => {
    let fired = 0;
    let onFire: () => void = () => {};
    const handle = systemClock.setTimeout(() => {
      fired++;
      onFire();
    }, 5);
    await new Promise<void>((r) => {
      onFire = r;
    });
    expect(systemClock.refresh?.(handle)).toBe(true);
    await new Promise<void>((r) => {
      onFire = r;
    });
    expect(fired).toBe(2);
    systemClock.clearTimeout(handle);
  });

  it('needs an attempt or a run', () => {
    expect(
      () =>
        new ProbeWorker({
          kind: 'readiness',
          periodMs: 1000,
          successThreshold: 1,
          failureThreshold: 1,
          initialState: 'failure',
        }),
    ).toThrow(TypeError);
  });
});

describe('FakeClock', () => {
  it('fires timers in due order at their own time, including ones scheduled while advancing', () => {
    const clock = new FakeClock(100);
    const log: string[] = [];
    clock.setTimeout(() => {
      log.push(`b@${clock.now()}`);
      clock.setTimeout(() => log.push(`c@${clock.now()}`), 5);
    }, 20);
    const h = clock.setTimeout(() => log.push('x'), 15);
    clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
    clock.clearTimeout(h);
    expect(clock.nextDueAt()).toBe(110);
    expect(clock.advance(30)).toBe(3);
    expect(log).toEqual(['a@110', 'b@120', 'c@125']);
    expect(clock.now()).toBe(130);
    expect(clock.nextDueAt()).toBeUndefined();
  });
});
