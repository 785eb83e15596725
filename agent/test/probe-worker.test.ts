import {
  applyResult,
  FakeClock,
  initialProbeState,
  type ProbeOutcome,
  type ProbeResult,
  ProbeWorker,
  type ProbeWorkerOptions,
  thresholdStart,
} from '@vmprobe/agent';
import { describe, expect, it } from 'vitest';

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
    expect(st).toEqual({ state: 'failure', consecutiveSuccesses: 0, consecutiveFailures: 4 });
  });

  it('starts like the kubelet: liveness success, readiness failure, startup unknown', () => {
    expect(['liveness', 'readiness', 'startup'].map((k) => initialProbeState(k as 'liveness'))).toEqual([
      'success',
      'failure',
      'unknown',
    ]);
    expect(
      applyResult(thresholdStart('unknown'), 'failure', { successThreshold: 1, failureThreshold: 1 }).changed,
    ).toBe(true);
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
    expect(results.every((r) => r.lag === 0)).toBe(true);
    // A blocked event loop: the timer fires 250 ms late and the lag says so.
    clock.jump(10_250);
    clock.runDue();
    await answer('success');
    expect(results.at(-1)).toMatchObject({ lag: 250, attempt: 6 });
    worker.stop();
  });

  it('starts from an injected state: no transition when the first result agrees', async () => {
    const { clock, worker, transitions, answer } = setup({ initialState: 'success' });
    expect(worker.state).toBe('success');
    worker.start();
    clock.runDue();
    await answer('success');
    expect(transitions).toEqual([]);
    worker.stop();
  });

  it('a rejected attempt is an unknown outcome and does not change the state', async () => {
    const clock = new FakeClock(0);
    const seen: ProbeOutcome[] = [];
    const worker = new ProbeWorker({
      kind: 'readiness',
      attempt: () => Promise.reject(new Error('boom')),
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

  it('a closed gate skips attempts; kick() probes at once when it opens', async () => {
    let open = false;
    const { clock, s, worker, results } = setup({ gate: () => open });
    worker.start();
    clock.advance(0);
    clock.advance(30_000);
    expect(s.pending).toHaveLength(0);
    expect(results).toHaveLength(0);
    expect(worker.nextDueAt).toBe(40_000);
    open = true;
    worker.kick();
    expect(worker.nextDueAt).toBe(30_000);
    clock.runDue();
    expect(s.pending).toHaveLength(1);
    worker.kick(); // no-op while in flight
    expect(clock.pendingCount()).toBe(0);
    worker.stop();
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
    worker.kick();
    expect(clock.pendingCount()).toBe(0);
    // Stopping while only a timer is pending clears it.
    const other = setup();
    other.worker.start();
    expect(other.clock.pendingCount()).toBe(1);
    other.worker.stop();
    expect(other.clock.pendingCount()).toBe(0);
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
