// Issue 10.2: probe timings past what one Node timer holds (2^31-1 ms, where Node fires after 1 ms)
// behave as written: no attempt flood from a long period, no early timeout from a long timeout.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clearLongTimeout, MAX_TIMER_DELAY_MS, setLongTimeout, systemClock } from '../src/clock.js';
import { silentLogger } from '../src/log.js';
import { probeWorkerFactory } from '../src/manager/index.js';
import { probeHttp } from '../src/probers/http.js';
import type { ProbeOutcome, ProbeTarget } from '../src/probers/types.js';
import { ProbeWorker } from '../src/worker/index.js';
import { FakeClock } from './helpers/fake-clock.js';

const LONG_SECONDS = 2_147_484; // 2147484000 ms > 2^31-1 ms
const LONG_MS = LONG_SECONDS * 1000;

/** Resolves after `ms` of real time: the observation window of the real-time checks below. */
const windowOf = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const ok = (): ProbeOutcome => ({
  result: 'success',
  reason: 'ProbeSucceeded',
  message: '',
  timings: { startedAt: 0, durationMs: 0 },
});

describe('long probe timings (issue 10.2)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('setLongTimeout chains segments and fires once after the whole delay; clear stops a chain', async () => {
    expect(LONG_MS).toBeGreaterThan(MAX_TIMER_DELAY_MS);
    const t0 = performance.now();
    const fired = await new Promise<number>((resolve) => {
      setLongTimeout(() => resolve(performance.now() - t0), 60, 20);
    });
    expect(fired).toBeGreaterThanOrEqual(58);
    let calls = 0;
    const t = setLongTimeout(() => calls++, 60, 20);
    await windowOf(30);
    clearLongTimeout(t);
    await windowOf(80);
    expect(calls).toBe(0);
  });

  it('fake clock: a period and a timeout past 2^31-1 ms are passed on whole and scheduled as written', async () => {
    const clock = new FakeClock(0);
    const seenTimeouts: number[] = [];
    const factory = probeWorkerFactory({
      logger: silentLogger,
      jitter: false,
      prober: async (_t: ProbeTarget, o) => {
        seenTimeouts.push(o.timeoutMs);
        return ok();
      },
    });
    const worker = factory({
      probe: {
        kind: 'liveness',
        handler: { tcpSocket: { port: 80 } },
        initialDelaySeconds: 0,
        timeoutSeconds: LONG_SECONDS,
        periodSeconds: LONG_SECONDS,
        successThreshold: 1,
        failureThreshold: 3,
      } as never,
      target: { type: 'tcp', host: '10.0.0.1', port: 80 },
      initialState: 'unknown',
      initialDelayMs: 0,
      clock,
      onResult: () => {},
      onTransition: () => {},
    });
    worker.start();
    clock.runDue();
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(seenTimeouts).toEqual([LONG_MS]);
    clock.advance(24 * 3600 * 1000);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(seenTimeouts).toHaveLength(1);
    clock.advance(LONG_MS);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(seenTimeouts).toHaveLength(2);
    worker.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('real time: a worker with a period past 2^31-1 ms makes one attempt, not a flood', async () => {
    let attempts = 0;
    let first: () => void = () => {};
    const firstDone = new Promise<void>((r) => {
      first = r;
    });
    const worker = new ProbeWorker({
      kind: 'readiness',
      attempt: async () => {
        attempts++;
        first();
        return ok();
      },
      initialState: 'failure',
      periodMs: LONG_MS,
      successThreshold: 1,
      failureThreshold: 1,
      jitter: false,
      clock: systemClock,
    });
    cleanups.push(() => worker.stop());
    worker.start();
    await firstDone;
    await windowOf(300); // a clamped 1 ms timer would make ~300 attempts here
    expect(attempts).toBe(1);
    worker.stop();
  });

  it('real time: a timeout past 2^31-1 ms does not time out early', async () => {
    const sockets: Socket[] = [];
    let accepted: () => void = () => {};
    const connected = new Promise<void>((r) => {
      accepted = r;
    });
    const server: Server = createServer((s) => {
      sockets.push(s); // accepts, never answers
      accepted();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    const port = (server.address() as { port: number }).port;
    const ac = new AbortController();
    let settled: ProbeOutcome | undefined;
    const attempt = probeHttp(
      { type: 'http', scheme: 'http', host: '127.0.0.1', port, path: '/', headers: [] },
      { timeoutMs: LONG_MS },
      ac.signal,
    ).then((o) => {
      settled = o;
      return o;
    });
    await connected;
    await windowOf(300); // a clamped timer would have timed out after 1 ms
    expect(sockets.length).toBe(1);
    expect(settled).toBeUndefined();
    ac.abort();
    const outcome = await attempt;
    expect(outcome.reason).toBe('ProbeAborted');
  });
});
