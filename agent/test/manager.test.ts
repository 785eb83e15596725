import { beforeEach, describe, expect, it } from 'vitest';
import { countKillableVmis } from '../src/liveness/budget.js';
import { silentLogger } from '../src/log.js';
import type { LivenessFailure, WorkerRequest } from '../src/manager/index.js';
import { ProbeManager } from '../src/manager/index.js';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import { type AgentObserver, noopObserver, type ProbeState } from '../src/observer.js';
import type { ProbeOutcome } from '../src/probers/types.js';
import type { LastReported, Reporter, VmiProbeReport } from '../src/report/types.js';
import { ProbeAddressPolicy } from '../src/targets/index.js';
import { FakeClock } from './helpers/fake-clock.js';

const NODE = 'node-a';

class FakeWorker {
  started = false;
  stopped = false;
  constructor(readonly req: WorkerRequest) {}
  start() {
    this.started = true;
  }
  stop() {
    this.stopped = true;
  }
  /** Simulate the engine: a result and (optionally) a transition. */
  emit(state: ProbeState, transition = true) {
    const outcome: ProbeOutcome = {
      result: state === 'success' ? 'success' : 'failure',
      reason: state === 'success' ? 'ProbeSucceeded' : 'ProbeFailed',
      message: state === 'success' ? '' : 'connection refused',
      timings: { startedAt: 0, durationMs: 1 },
    };
    this.req.onResult(outcome, state, 0);
    if (transition) this.req.onTransition(state, outcome);
  }
}

class FakeReporter implements Reporter {
  reports: VmiProbeReport[] = [];
  forgotten: string[] = [];
  last = new Map<string, LastReported>();
  async start() {}
  lastReported(uid: string) {
    return this.last.get(uid);
  }
  update(r: VmiProbeReport) {
    this.reports.push(structuredClone(r));
  }
  forget(uid: string) {
    this.forgotten.push(uid);
  }
  async flush() {}
  async stop() {}
  latest(uid: string) {
    return [...this.reports].reverse().find((r) => r.vmi.uid === uid);
  }
  condition(uid: string, kind: string) {
    return this.latest(uid)?.conditions.find((c) => c.kind === kind);
  }
}

function vmi(
  name: string,
  over: { spec?: object; status?: object; annotations?: Record<string, string> } = {},
): VmiObject {
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, annotations: over.annotations ?? {} },
    spec: {
      readinessProbe: { tcpSocket: { port: 1500 }, periodSeconds: 1 },
      livenessProbe: { httpGet: { port: 1500 }, periodSeconds: 1, initialDelaySeconds: 120 },
      terminationGracePeriodSeconds: 7,
      ...over.spec,
    },
    status: {
      nodeName: NODE,
      phase: 'Running',
      interfaces: [{ name: 'default', ipAddress: '10.1.0.1' }],
      ...over.status,
    },
  };
}

function launcher(v: VmiObject, ip: string, node = NODE): PodObject {
  const name = v.metadata?.name ?? '';
  return {
    metadata: {
      name: `virt-launcher-${name}-${ip}`,
      namespace: 'ns',
      uid: `pod-${name}-${ip}`,
      labels: { 'kubevirt.io/created-by': v.metadata?.uid ?? '' },
    },
    spec: { nodeName: node },
    status: { phase: 'Running', podIP: ip },
  };
}

describe('ProbeManager', () => {
  let clock: FakeClock;
  let reporter: FakeReporter;
  let workers: FakeWorker[];
  let failures: LivenessFailure[];
  let recovered: string[];
  let removed: string[];
  let states: string[];
  let mgr: ProbeManager;

  const live = (kind: string, uid = 'uid-vm1') =>
    workers.filter(
      (w) =>
        !w.stopped &&
        w.req.probe.kind === kind &&
        w.req.onResult !== undefined &&
        w.started &&
        owner.get(w) === uid,
    );
  const owner = new Map<FakeWorker, string>();
  let currentUid = '';

  beforeEach(() => {
    clock = new FakeClock(1_700_000_000_000);
    reporter = new FakeReporter();
    workers = [];
    failures = [];
    recovered = [];
    removed = [];
    states = [];
    const observer: AgentObserver = {
      ...noopObserver,
      probeRemoved: (id) => removed.push(`${id.vmi}/${id.probe}`),
      probeState: (id, s, r) => states.push(`${id.vmi}/${id.probe}=${s}:${r}`),
    };
    mgr = new ProbeManager({
      nodeName: NODE,
      reporter,
      observer,
      logger: silentLogger,
      clock,
      // the VMIs' guest-reported interface addresses are in 10.1/16
      addressPolicy: new ProbeAddressPolicy({
        allowCidrs: ['10.1.0.0/16'],
        nodeAddresses: { has: () => false },
      }),
      liveness: { onFailure: (f) => failures.push(f), onRecovery: (uid) => recovered.push(uid) },
      createWorker: (req) => {
        const w = new FakeWorker(req);
        workers.push(w);
        owner.set(w, currentUid);
        return w;
      },
    });
    mgr.start();
  });

  function upsert(v: VmiObject) {
    currentUid = v.metadata?.uid ?? '';
    mgr.upsertVmi(v);
  }

  it('starts one worker per kind for a Running VMI on this node; readiness starts False', () => {
    const v = vmi('vm1');
    upsert(v);
    expect(live('readiness')).toHaveLength(1);
    expect(live('liveness')).toHaveLength(1);
    expect(live('readiness')[0]?.req.initialState).toBe('failure');
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({
      status: 'False',
      reason: 'Initializing',
    });
    expect(reporter.condition('uid-vm1', 'liveness')).toMatchObject({ status: 'Unknown' });
    expect(reporter.latest('uid-vm1')).toMatchObject({ nodeName: NODE, target: '10.1.0.1' });
  });

  it('ignores VMIs that run on another node or are not Running', () => {
    upsert(vmi('vm1', { status: { nodeName: 'node-b' } }));
    upsert(vmi('vm2', { status: { phase: 'Scheduled' } }));
    expect(workers).toHaveLength(0);
    expect(reporter.reports).toHaveLength(0);
  });

  it('initialDelaySeconds counts from the Running transition', () => {
    const runningAt = new Date(clock.now() - 100_000).toISOString();
    upsert(
      vmi('vm1', {
        status: { phaseTransitionTimestamps: [{ phase: 'Running', phaseTransitionTimestamp: runningAt }] },
      }),
    );
    expect(live('liveness')[0]?.req.initialDelayMs).toBe(20_000);
    expect(live('readiness')[0]?.req.initialDelayMs).toBe(0);
  });

  it('reports transitions and calls the liveness handler once the liveness probe fails', () => {
    const v = vmi('vm1');
    upsert(v);
    mgr.upsertPod(launcher(v, '10.244.0.5'));
    const r = live('readiness')[0];
    r?.emit('success');
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({
      status: 'True',
      reason: 'ProbeSucceeded',
    });
    expect(reporter.latest('uid-vm1')?.launcherPods.map((p) => p.name)).toEqual([
      'virt-launcher-vm1-10.244.0.5',
    ]);
    live('liveness')[0]?.emit('failure');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      probe: 'liveness',
      terminationGracePeriodSeconds: 7,
      vmi: { uid: 'uid-vm1' },
    });
    expect(failures[0]?.launcherPods.map((p) => p.name)).toEqual(['virt-launcher-vm1-10.244.0.5']);
    expect(reporter.condition('uid-vm1', 'liveness')).toMatchObject({
      status: 'False',
      reason: 'ProbeFailed',
    });
  });

  it('a result that is not a verdict (no transition, no first verdict) writes nothing', () => {
    upsert(vmi('vm1'));
    const n = reporter.reports.length;
    live('readiness')[0]?.emit('failure', false);
    expect(reporter.reports).toHaveLength(n);
  });

  it('the same object again changes nothing (no duplicate worker, no report)', () => {
    const v = vmi('vm1');
    upsert(v);
    const n = workers.length;
    const reports = reporter.reports.length;
    upsert(structuredClone(v));
    mgr.resync([structuredClone(v)], []);
    expect(workers).toHaveLength(n);
    expect(reporter.reports).toHaveLength(reports);
  });

  it('a changed readiness spec restarts only the readiness worker, carrying its state', () => {
    const v = vmi('vm1');
    upsert(v);
    const r1 = live('readiness')[0];
    const l1 = live('liveness')[0];
    r1?.emit('success');
    upsert(vmi('vm1', { spec: { readinessProbe: { tcpSocket: { port: 1600 }, periodSeconds: 1 } } }));
    expect(r1?.stopped).toBe(true);
    expect(l1?.stopped).toBe(false);
    const r2 = live('readiness')[0];
    expect(r2?.req.target).toMatchObject({ port: 1600 });
    expect(r2?.req.initialState).toBe('success');
  });

  it('a new address (launcher pod appears) restarts the workers on the new target', () => {
    const v = vmi('vm1');
    upsert(v);
    const r1 = live('readiness')[0];
    mgr.upsertPod(launcher(v, '10.244.0.9'));
    expect(r1?.stopped).toBe(true);
    expect(live('readiness')[0]?.req.target).toMatchObject({ host: '10.244.0.9' });
  });

  it('suspends liveness while Paused and resumes it after', () => {
    upsert(vmi('vm1'));
    const l1 = live('liveness')[0];
    l1?.emit('success');
    upsert(vmi('vm1', { status: { conditions: [{ type: 'Paused', status: 'True' }] } }));
    expect(l1?.stopped).toBe(true);
    expect(live('liveness')).toHaveLength(0);
    expect(live('readiness')).toHaveLength(1);
    expect(reporter.condition('uid-vm1', 'liveness')).toMatchObject({
      status: 'Unknown',
      reason: 'Suspended',
    });
    expect(mgr.snapshot().find((s) => s.probe === 'liveness')?.suspended).toBe(true);
    upsert(vmi('vm1'));
    expect(live('liveness')).toHaveLength(1);
    expect(live('liveness')[0]?.req.initialState).toBe('success');
  });

  it('suspends liveness while migrating (started, not ended)', () => {
    upsert(vmi('vm1', { status: { migrationState: { startTimestamp: '2026-01-01T00:00:00Z' } } }));
    expect(live('liveness')).toHaveLength(0);
    upsert(
      vmi('vm1', {
        status: {
          migrationState: {
            startTimestamp: '2026-01-01T00:00:00Z',
            endTimestamp: '2026-01-01T00:01:00Z',
            completed: true,
          },
        },
      }),
    );
    expect(live('liveness')).toHaveLength(1);
  });

  it('an invalid probe is Unknown/InvalidProbe and runs nothing; exec is UnsupportedProbe', () => {
    upsert(
      vmi('vm1', {
        spec: { readinessProbe: { tcpSocket: { port: 0 } }, livenessProbe: { exec: { command: ['x'] } } },
      }),
    );
    expect(workers).toHaveLength(0);
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({
      status: 'Unknown',
      reason: 'InvalidProbe',
    });
    expect(reporter.condition('uid-vm1', 'liveness')).toMatchObject({
      status: 'Unknown',
      reason: 'UnsupportedProbe',
    });
  });

  it('no address yet is NoTargetAddress, and probing starts when one appears', () => {
    const v = vmi('vm1', { status: { interfaces: [] } });
    upsert(v);
    expect(workers).toHaveLength(0);
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({
      status: 'Unknown',
      reason: 'NoTargetAddress',
    });
    mgr.upsertPod(launcher(v, '10.244.0.3'));
    expect(live('readiness')).toHaveLength(1);
    expect(live('readiness')[0]?.req.initialState).toBe('failure');
  });

  it('after an agent restart the last reported condition is the starting state', () => {
    reporter.last.set('uid-vm1', { conditions: { readiness: 'True', liveness: 'True' } });
    upsert(vmi('vm1'));
    expect(live('readiness')[0]?.req.initialState).toBe('success');
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({ status: 'True' });
  });

  it('a startup probe gates liveness and readiness until it succeeds', () => {
    upsert(
      vmi('vm1', {
        annotations: {
          'vmprobe.io/startup-probe': JSON.stringify({ tcpSocket: { port: 22 }, periodSeconds: 1 }),
        },
      }),
    );
    expect(live('startup')).toHaveLength(1);
    expect(live('liveness')).toHaveLength(0);
    expect(reporter.condition('uid-vm1', 'readiness')).toMatchObject({
      status: 'False',
      reason: 'StartupPending',
    });
    live('startup')[0]?.emit('success');
    expect(live('startup')).toHaveLength(0);
    expect(live('liveness')).toHaveLength(1);
    expect(live('readiness')).toHaveLength(1);
    expect(reporter.condition('uid-vm1', 'startup')).toMatchObject({ status: 'True' });
  });

  it('when the VMI is deleted or leaves the node: workers stop, reporter forgets, series removed', () => {
    const v = vmi('vm1');
    upsert(v);
    upsert(vmi('vm2'));
    mgr.removeVmi(v);
    const vm1Workers = workers.filter((w) => owner.get(w) === 'uid-vm1');
    expect(vm1Workers.length).toBeGreaterThan(0);
    expect(vm1Workers.every((w) => w.stopped)).toBe(true);
    expect(reporter.forgotten).toEqual(['uid-vm1']);
    expect(removed.sort()).toEqual(['vm1/liveness', 'vm1/readiness']);
    upsert(vmi('vm2', { status: { nodeName: 'node-b' } }));
    expect(reporter.forgotten).toEqual(['uid-vm1', 'uid-vm2']);
    expect(mgr.workerCount).toBe(0);
    expect(mgr.snapshot()).toEqual([]);
  });

  it('resync drops VMIs missing from the relist', () => {
    upsert(vmi('vm1'));
    upsert(vmi('vm2'));
    mgr.resync([vmi('vm2')], []);
    expect(reporter.forgotten).toEqual(['uid-vm1']);
    expect(mgr.snapshot().map((s) => s.vmi)).toEqual(['vm2', 'vm2']);
  });

  it('the kill budget counts only VMIs whose liveness (or startup) probe runs: not paused, gated, invalid or readiness-only', () => {
    upsert(vmi('vm1'));
    upsert(vmi('vm2', { status: { conditions: [{ type: 'Paused', status: 'True' }] } }));
    upsert(vmi('vm3', { spec: { livenessProbe: { exec: { command: ['true'] } } } }));
    upsert(vmi('vm4', { spec: { livenessProbe: undefined } }));
    upsert(
      vmi('vm5', {
        annotations: {
          'vmprobe.io/startup-probe': JSON.stringify({ tcpSocket: { port: 22 }, periodSeconds: 1 }),
        },
      }),
    );
    expect(new Set(mgr.snapshot().map((p) => p.uid)).size).toBe(5);
    expect(countKillableVmis(mgr.snapshot())).toBe(2); // vm1 (liveness), vm5 (startup)
    upsert(vmi('vm2'));
    expect(countKillableVmis(mgr.snapshot())).toBe(3);
  });

  it('stop() stops every worker and is idempotent', () => {
    upsert(vmi('vm1'));
    mgr.stop();
    mgr.stop();
    expect(workers.length).toBeGreaterThan(0);
    expect(workers.every((w) => w.stopped)).toBe(true);
    expect(states.length).toBeGreaterThan(0);
  });
});
