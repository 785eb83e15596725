// Verdicts through the real ProbeWorker + ProbeManager (issue 8 items 1-3): the probe outcomes are
// scripted per target address (a Prober), everything after them — thresholds, first verdicts,
// starting states, conditions, the liveness action's arming — is the shipped code.
import { REASON } from '@vmprobe/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { LivenessActionHandler } from '../src/liveness/handler.js';
import { silentLogger } from '../src/log.js';
import { type LivenessFailure, ProbeManager, probeWorkerFactory } from '../src/manager/index.js';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import { noopObserver } from '../src/observer.js';
import type { ProbeOutcome, ProbeResult, ProbeTarget } from '../src/probers/types.js';
import { EventRecorder } from '../src/report/events.js';
import { TokenBucket } from '../src/report/rate-limit.js';
import { ApiReporter } from '../src/report/reporter.js';
import type { LastReported, Reporter, VmiProbeReport } from '../src/report/types.js';
import { desire, eventWritten, newVmiState, queueTransitionEvents } from '../src/report/vmi-state.js';
import { ProbeAddressPolicy } from '../src/targets/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { FakeWrites, settle } from './report-fake-writes.js';

const NODE = 'node-a';
const UID = 'uid-vm1';

class RecordingReporter implements Reporter {
  reports: VmiProbeReport[] = [];
  last = new Map<string, LastReported>();
  async start() {}
  lastReported(uid: string) {
    return this.last.get(uid);
  }
  update(r: VmiProbeReport) {
    this.reports.push(structuredClone(r));
  }
  forget() {}
  async flush() {}
  async stop() {}
  condition(kind: string) {
    return this.reports.at(-1)?.conditions.find((c) => c.kind === kind);
  }
}

function vmi(status: object = {}, spec: object = {}): VmiObject {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid: UID, annotations: {} },
    spec: {
      readinessProbe: { tcpSocket: { port: 1500 }, periodSeconds: 1, failureThreshold: 3 },
      livenessProbe: { tcpSocket: { port: 1600 }, periodSeconds: 1, failureThreshold: 2 },
      ...spec,
    },
    status: {
      nodeName: NODE,
      phase: 'Running',
      interfaces: [{ name: 'default', ipAddress: '10.1.0.1' }],
      ...status,
    },
  };
}

function launcher(): PodObject {
  return {
    metadata: {
      name: 'virt-launcher-vm1-x',
      namespace: 'ns',
      uid: 'pod-1',
      labels: { 'kubevirt.io/created-by': UID },
    },
    spec: { nodeName: NODE },
    status: { phase: 'Running', podIP: '10.1.0.1' },
  };
}

describe('verdicts through the real ProbeWorker and manager', () => {
  let clock: FakeClock;
  let reporter: RecordingReporter;
  let failures: LivenessFailure[];
  let recoveries: string[];
  /** What the "VM" answers, per port: 1500 readiness, 1600 liveness. */
  let answer: Map<number, { result: ProbeResult; reason: string; message: string }>;
  let attempts: number;
  let stalled: boolean;
  let mgr: ProbeManager;

  const setAnswer = (port: number, result: ProbeResult, reason?: string, message?: string) =>
    answer.set(port, {
      result,
      reason: reason ?? (result === 'success' ? REASON.ProbeSucceeded : REASON.ProbeFailed),
      message: message ?? (result === 'success' ? 'ok' : `dial tcp 10.1.0.1:${port}: connection refused`),
    });

  /** One probe period: fire the due attempts and let their outcomes through the worker. */
  async function period(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      clock.advance(1000);
      for (let j = 0; j < 5; j++) await new Promise<void>((r) => setImmediate(r));
    }
  }

  function build(): ProbeManager {
    return new ProbeManager({
      nodeName: NODE,
      reporter,
      observer: noopObserver,
      logger: silentLogger,
      clock,
      addressPolicy: new ProbeAddressPolicy({ nodeAddresses: { has: () => false } }),
      liveness: {
        onFailure: (f) => failures.push(f),
        onRecovery: (uid) => recoveries.push(uid),
      },
      createWorker: probeWorkerFactory({
        logger: silentLogger,
        jitter: false,
        prober: async (target: ProbeTarget): Promise<ProbeOutcome> => {
          attempts++;
          const port = target.type === 'tcp' || target.type === 'http' ? target.port : 0;
          const a = answer.get(port) ?? { result: 'success', reason: REASON.ProbeSucceeded, message: '' };
          // A stalled agent: the 1 s timeout timer fired 5 s late.
          const durationMs = a.reason === REASON.ProbeTimeout && stalled ? 6000 : 1;
          return { ...a, timings: { startedAt: clock.now(), durationMs } };
        },
      }),
    });
  }

  beforeEach(() => {
    clock = new FakeClock(1_700_000_000_000);
    reporter = new RecordingReporter();
    failures = [];
    recoveries = [];
    answer = new Map();
    attempts = 0;
    stalled = false;
    mgr = build();
  });

  it('item 1: a readiness probe failing from its first attempt is reported ProbeFailed with the message and an Unhealthy Event', async () => {
    setAnswer(1500, 'failure');
    setAnswer(1600, 'success');
    mgr.start();
    // The pod first: its IP vouches for the guest-reported interface address (targets/policy.ts).
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    const first = structuredClone(reporter.reports.at(-1) as VmiProbeReport);
    expect(reporter.condition('readiness')).toMatchObject({ status: 'False', reason: REASON.Initializing });
    await period(2);
    expect(reporter.condition('readiness')).toMatchObject({ reason: REASON.Initializing });
    await period(1); // third failure: failureThreshold reached, the first verdict
    expect(reporter.condition('readiness')).toEqual({
      kind: 'readiness',
      status: 'False',
      reason: REASON.ProbeFailed,
      message: 'dial tcp 10.1.0.1:1500: connection refused',
    });
    // The reporter's Event rule sees the verdict: an Unhealthy Warning is queued.
    const st = newVmiState(first, undefined);
    queueTransitionEvents(st);
    desire(st, reporter.reports.at(-1) as VmiProbeReport);
    expect([...st.pendingEvents.keys()]).toEqual(['readiness/Unhealthy']);
    expect(st.pendingEvents.get('readiness/Unhealthy')?.intent.message).toBe(
      'Readiness probe failed: dial tcp 10.1.0.1:1500: connection refused',
    );
    // Later failures are not verdicts: nothing new is reported.
    const n = reporter.reports.length;
    await period(3);
    expect(reporter.reports).toHaveLength(n);
    mgr.stop();
  });

  it('item 2: a liveness probe resumed as failed after an agent restart is stopped when it fails for real', async () => {
    reporter.last.set(UID, { conditions: { liveness: 'False' } });
    setAnswer(1600, 'failure');
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    expect(reporter.condition('liveness')).toMatchObject({ status: 'False', reason: REASON.ProbeFailed });
    await period(2);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      probe: 'liveness',
      message: 'dial tcp 10.1.0.1:1600: connection refused',
    });
    expect(reporter.condition('liveness')?.message).toBe('dial tcp 10.1.0.1:1600: connection refused');
    mgr.stop();
  });

  it('item 2: fails, is paused, unpaused and fails again -> the liveness action is armed again', async () => {
    setAnswer(1600, 'failure');
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    await period(2);
    expect(failures).toHaveLength(1);
    mgr.upsertVmi(vmi({ conditions: [{ type: 'Paused', status: 'True' }] }));
    expect(reporter.condition('liveness')).toMatchObject({ status: 'Unknown', reason: REASON.Suspended });
    expect(recoveries).toEqual([UID]);
    mgr.upsertVmi(vmi());
    // Resumed provisionally as failed (its last verdict, reason and message), no action before a verdict.
    expect(reporter.condition('liveness')).toEqual({
      kind: 'liveness',
      status: 'False',
      reason: REASON.ProbeFailed,
      message: 'dial tcp 10.1.0.1:1600: connection refused',
      provisional: true,
    });
    expect(failures).toHaveLength(1);
    await period(2);
    expect(failures).toHaveLength(2);
    expect(reporter.condition('liveness')).toMatchObject({
      status: 'False',
      reason: REASON.ProbeFailed,
      message: 'dial tcp 10.1.0.1:1600: connection refused',
    });
    // Events over the whole sequence (the reporter's rule on each report): one Unhealthy per
    // failure verdict, none for the provisional failure at the resume (it carries the last message).
    expect(reporter.reports.length).toBeGreaterThan(0);
    const st = newVmiState(reporter.reports[0] as VmiProbeReport, undefined);
    const unhealthy: string[] = [];
    for (const r of reporter.reports) {
      desire(st, r);
      for (const [k, pe] of st.pendingEvents) {
        if (k === 'liveness/Unhealthy') unhealthy.push(pe.intent.message);
        eventWritten(st, k);
      }
    }
    expect(unhealthy).toEqual([
      'Liveness probe failed: dial tcp 10.1.0.1:1600: connection refused',
      'Liveness probe failed: dial tcp 10.1.0.1:1600: connection refused',
    ]);
    mgr.stop();
  });

  it('blank message after a resume: an agent restart against stored statuses writes nothing, keeps the stored message, and a real failure still arms the action', async () => {
    const writes = new FakeWrites();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    const agent = async () => {
      const apiReporter = new ApiReporter({
        writes,
        nodeName: NODE,
        clock,
        random: () => 0,
        heartbeatIntervalMs: 0,
        podCondition: (ns, name) =>
          writes.pods.get(`${ns}/${name}`)?.conditions.find((c) => c.type === 'vmprobe.io/ReadinessProbe'),
      });
      await apiReporter.start();
      reporter = Object.assign(new RecordingReporter(), {
        lastReported: (uid: string) => apiReporter.lastReported(uid),
        update: (r: VmiProbeReport) => {
          reporter.reports.push(structuredClone(r));
          apiReporter.update(r);
        },
      });
      const m = build();
      m.start();
      m.upsertPod(launcher());
      m.upsertVmi(vmi());
      await settle();
      return { m, apiReporter };
    };
    const refused = 'dial tcp 10.1.0.1:1600: connection refused';
    const timedOut = 'dial tcp 10.1.0.1:1500: i/o timeout';
    setAnswer(1500, 'failure', REASON.ProbeTimeout, timedOut);
    setAnswer(1600, 'failure');
    // The first agent reports both verdicts and stops.
    const first = await agent();
    await period(3);
    await settle();
    expect(failures).toHaveLength(1);
    const stored = () =>
      writes.statuses.get('ns/vm1')?.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message]);
    expect(stored()).toEqual([
      ['LivenessProbe', 'False', REASON.ProbeFailed, refused],
      ['ReadinessProbe', 'False', REASON.ProbeTimeout, timedOut],
    ]);
    first.m.stop();
    await first.apiReporter.stop();
    // The restarted agent resumes both as failed with the stored reasons and messages: no write.
    const statusWrites = () =>
      writes.count('createProbeStatus') +
      writes.count('patchProbeStatusStatus') +
      writes.count('patchPodCondition');
    const before = statusWrites();
    const eventsBefore = writes.count('createEvent') + writes.count('patchEvent');
    const second = await agent();
    expect(reporter.condition('liveness')).toMatchObject({
      status: 'False',
      reason: REASON.ProbeFailed,
      message: refused,
    });
    expect(reporter.condition('readiness')).toMatchObject({
      status: 'False',
      reason: REASON.ProbeTimeout,
      message: timedOut,
    });
    expect(statusWrites()).toBe(before);
    expect(writes.count('createEvent') + writes.count('patchEvent')).toBe(eventsBefore);
    // It fails for real: the liveness action is armed again; the stored status still needs no write.
    await period(3);
    await settle();
    expect(failures).toHaveLength(2);
    expect(failures[1]).toMatchObject({ probe: 'liveness', message: refused });
    expect(statusWrites()).toBe(before);
    expect(stored()).toEqual([
      ['LivenessProbe', 'False', REASON.ProbeFailed, refused],
      ['ReadinessProbe', 'False', REASON.ProbeTimeout, timedOut],
    ]);
    second.m.stop();
    await second.apiReporter.stop();
  });

  it('item 2: fails, recovers, is paused, and fails again after unpause -> armed each time', async () => {
    setAnswer(1600, 'failure');
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    await period(2);
    setAnswer(1600, 'success');
    await period(1);
    expect(recoveries).toEqual([UID]);
    mgr.upsertVmi(vmi({ conditions: [{ type: 'Paused', status: 'True' }] }));
    mgr.upsertVmi(vmi());
    setAnswer(1600, 'failure');
    await period(2);
    expect(failures).toHaveLength(2);
    mgr.stop();
  });

  it('item 3: an unknown outcome before any verdict shows its reason and message, status unchanged', async () => {
    const why = 'ICMP needs CAP_NET_RAW: cannot open a raw ipv4 socket (Operation not permitted)';
    setAnswer(1500, 'unknown', REASON.ProbeError, why);
    setAnswer(1600, 'unknown', REASON.ProbeError, why);
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    await period(1);
    expect(attempts).toBeGreaterThan(0);
    expect(reporter.condition('readiness')).toEqual({
      kind: 'readiness',
      status: 'False',
      reason: REASON.ProbeError,
      message: why,
    });
    expect(reporter.condition('liveness')).toEqual({
      kind: 'liveness',
      status: 'Unknown',
      reason: REASON.ProbeError,
      message: why,
    });
    expect(failures).toHaveLength(0);
    // Once a verdict exists, a later unknown does not hide it.
    setAnswer(1500, 'success');
    await period(1);
    expect(reporter.condition('readiness')).toMatchObject({ status: 'True', reason: REASON.ProbeSucceeded });
    setAnswer(1500, 'unknown', REASON.ProbeError, why);
    await period(2);
    expect(reporter.condition('readiness')).toMatchObject({ status: 'True', reason: REASON.ProbeSucceeded });
    mgr.stop();
  });

  it('item 5: a stalled agent (timeouts firing far past their deadline) stops no VMI and fails no probe', async () => {
    stalled = true;
    setAnswer(1500, 'failure', REASON.ProbeTimeout, 'dial tcp 10.1.0.1:1500: i/o timeout');
    setAnswer(1600, 'failure', REASON.ProbeTimeout, 'dial tcp 10.1.0.1:1600: i/o timeout');
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    await period(10);
    expect(attempts).toBeGreaterThanOrEqual(10);
    expect(failures).toHaveLength(0);
    expect(reporter.condition('liveness')).toMatchObject({ status: 'Unknown', reason: REASON.ProbeError });
    expect(reporter.condition('liveness')?.message).toMatch(/event loop was blocked/);
    // The same timeouts on time are the VM's failure.
    stalled = false;
    await period(2);
    expect(failures).toHaveLength(1);
    mgr.stop();
  });

  it('item 2 with the real liveness action: resumed as failed after an agent restart -> stopped; recovers, is paused, fails after unpause -> stopped again', async () => {
    reporter.last.set(UID, { conditions: { liveness: 'False' } });
    const writes = new FakeWrites();
    writes.addVmi('ns', 'vm1', UID, NODE);
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    const limiter = new TokenBucket({ qps: 100, burst: 100, clock });
    const handler = new LivenessActionHandler({
      action: 'stop-launcher',
      writes,
      events: new EventRecorder({ writes, limiter, clock, observer: noopObserver }),
      limiter,
      clock,
      random: () => 0,
      probedCount: () => 10,
      settleMs: 500,
    });
    mgr = new ProbeManager({
      nodeName: NODE,
      reporter,
      observer: noopObserver,
      logger: silentLogger,
      clock,
      addressPolicy: new ProbeAddressPolicy({ nodeAddresses: { has: () => false } }),
      liveness: handler,
      createWorker: probeWorkerFactory({
        logger: silentLogger,
        jitter: false,
        prober: async (target: ProbeTarget): Promise<ProbeOutcome> => {
          const port = target.type === 'tcp' || target.type === 'http' ? target.port : 0;
          const a = answer.get(port) ?? { result: 'success', reason: REASON.ProbeSucceeded, message: '' };
          return { ...a, timings: { startedAt: clock.now(), durationMs: 1 } };
        },
      }),
    });
    setAnswer(1600, 'failure');
    mgr.start();
    mgr.upsertPod(launcher());
    mgr.upsertVmi(vmi());
    await period(3);
    expect(writes.count('deletePod')).toBe(1);
    // The VM comes back (a fresh launcher pod), recovers, is paused and unpaused, then fails again.
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    setAnswer(1600, 'success');
    await period(1);
    mgr.upsertVmi(vmi({ conditions: [{ type: 'Paused', status: 'True' }] }));
    await period(2);
    mgr.upsertVmi(vmi());
    setAnswer(1600, 'failure');
    await period(3);
    expect(writes.count('deletePod')).toBe(2);
    mgr.stop();
    await handler.stop();
  });
});
