// Guest probes (exec, guestAgentPing) in the probe manager: opt-in, their launcher-socket targets,
// and suspension (not run, not counted) while the VMI is paused or migrating or KubeVirt's
// kubevirt.io/pause-guest-agent-probes annotation is set.
import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log.js';
import type { WorkerRequest } from '../src/manager/index.js';
import { ProbeManager } from '../src/manager/index.js';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import { noopObserver, type ProbeState } from '../src/observer.js';
import type { ProbeOutcome } from '../src/probers/types.js';
import type { LastReported, Reporter, VmiProbeReport } from '../src/report/types.js';
import { ProbeAddressPolicy } from '../src/targets/index.js';
import { FakeClock } from './helpers/fake-clock.js';

const NODE = 'node-a';
const SOCKET = (podUid: string) => `/pods/${podUid}/volumes/kubernetes.io~empty-dir/sockets/launcher-sock`;

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
  emit(state: ProbeState) {
    const outcome: ProbeOutcome = {
      result: state === 'success' ? 'success' : 'failure',
      reason: state === 'success' ? 'ProbeSucceeded' : 'ProbeFailed',
      message: '',
      timings: { startedAt: 0, durationMs: 1 },
    };
    this.req.onResult(outcome, state, 0);
    this.req.onTransition(state, outcome);
  }
}

class FakeReporter implements Reporter {
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
    return [...this.reports].reverse()[0]?.conditions.find((c) => c.kind === kind);
  }
}

const MIGRATING = { migrationState: { startTimestamp: '2026-01-01T00:00:00Z' } };
const PAUSED = { conditions: [{ type: 'Paused', status: 'True' }] };

function vmi(over: { spec?: object; status?: object; annotations?: Record<string, string> } = {}): VmiObject {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid: 'uid-vm1', annotations: over.annotations ?? {} },
    spec: {
      readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 10 },
      livenessProbe: { guestAgentPing: {}, periodSeconds: 10 },
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

const POD: PodObject = {
  metadata: {
    name: 'virt-launcher-vm1-abcde',
    namespace: 'ns',
    uid: '3f1e2d4c-0b6a-4c8e-9a7d-5e2f1a0b9c8d',
    labels: { 'kubevirt.io/created-by': 'uid-vm1' },
  },
  spec: { nodeName: NODE },
  status: { phase: 'Running', podIP: '10.1.0.1' },
};

describe('guest probes in the probe manager', () => {
  let reporter: FakeReporter;
  let workers: FakeWorker[];
  let mgr: ProbeManager;
  const live = (kind: string) => workers.filter((w) => w.started && !w.stopped && w.req.probe.kind === kind);

  function start(guestProbes: boolean) {
    reporter = new FakeReporter();
    workers = [];
    mgr = new ProbeManager({
      nodeName: NODE,
      reporter,
      observer: noopObserver,
      logger: silentLogger,
      clock: new FakeClock(1_700_000_000_000),
      addressPolicy: new ProbeAddressPolicy({ nodeAddresses: { has: () => false } }),
      ...(guestProbes ? { guestProbes: { podsRoot: '/pods' } } : {}),
      createWorker: (req) => {
        const w = new FakeWorker(req);
        workers.push(w);
        return w;
      },
    });
    mgr.start();
    mgr.upsertPod(POD);
  }

  describe('without --guest-probes', () => {
    beforeEach(() => start(false));

    it('exec and guestAgentPing are Unknown/UnsupportedProbe with how to enable them, and run nothing', () => {
      mgr.upsertVmi(vmi());
      expect(workers).toHaveLength(0);
      for (const kind of ['readiness', 'liveness']) {
        const c = reporter.condition(kind);
        expect(c).toMatchObject({ status: 'Unknown', reason: 'UnsupportedProbe' });
        expect(c?.message).toContain('--guest-probes');
        expect(c?.message).toContain('manifests/components/guest-probes');
      }
    });
  });

  describe('with --guest-probes', () => {
    beforeEach(() => start(true));

    it('targets the launcher pod’s command socket under the pods root with domain <namespace>_<name>', () => {
      mgr.upsertVmi(vmi());
      const [r] = live('readiness');
      const [l] = live('liveness');
      expect(r?.req.target).toEqual({
        type: 'exec',
        socketPath: SOCKET(POD.metadata?.uid as string),
        domainName: 'ns_vm1',
        command: 'cat',
        args: ['/tmp/ready'],
      });
      expect(l?.req.target).toEqual({
        type: 'guestAgentPing',
        socketPath: SOCKET(POD.metadata?.uid as string),
        domainName: 'ns_vm1',
      });
    });

    it('no running launcher pod on this node: NoTargetAddress, nothing runs', () => {
      mgr.removePod(POD);
      mgr.upsertVmi(vmi());
      expect(workers).toHaveLength(0);
      expect(reporter.condition('readiness')).toMatchObject({ reason: 'NoTargetAddress' });
    });

    it('while migrating: readiness holds its last status (not run, not counted); liveness is Suspended; both resume after', () => {
      mgr.upsertVmi(vmi());
      live('readiness')[0]?.emit('success');
      live('liveness')[0]?.emit('success');
      expect(reporter.condition('readiness')).toMatchObject({ status: 'True' });
      mgr.upsertVmi(vmi({ status: MIGRATING }));
      expect(live('readiness')).toHaveLength(0);
      expect(live('liveness')).toHaveLength(0);
      expect(reporter.condition('readiness')).toMatchObject({ status: 'True', reason: 'Suspended' });
      expect(reporter.condition('readiness')?.message).toBe('exec probe suspended: VMI migrating');
      expect(reporter.condition('liveness')).toMatchObject({ status: 'Unknown', reason: 'Suspended' });
      mgr.upsertVmi(
        vmi({
          status: {
            migrationState: {
              ...MIGRATING.migrationState,
              endTimestamp: '2026-01-01T00:01:00Z',
              completed: true,
            },
          },
        }),
      );
      expect(live('readiness')).toHaveLength(1);
      expect(live('readiness')[0]?.req.initialState).toBe('success');
      expect(live('liveness')[0]?.req.initialState).toBe('success');
    });

    it('while paused: readiness that was failing holds False; nothing runs until unpaused', () => {
      mgr.upsertVmi(vmi());
      const before = workers.length;
      mgr.upsertVmi(vmi({ status: PAUSED }));
      expect(live('readiness')).toHaveLength(0);
      expect(workers).toHaveLength(before);
      expect(reporter.condition('readiness')).toMatchObject({ status: 'False', reason: 'Suspended' });
      expect(reporter.condition('readiness')?.message).toContain('VMI paused');
      mgr.upsertVmi(vmi());
      expect(live('readiness')).toHaveLength(1);
    });

    it('kubevirt.io/pause-guest-agent-probes: truthy per Go ParseBool suspends; other values and removal resume', () => {
      mgr.upsertVmi(vmi());
      live('readiness')[0]?.emit('success');
      for (const value of ['true', 'TRUE', 'True', 't', '1']) {
        mgr.upsertVmi(vmi({ annotations: { 'kubevirt.io/pause-guest-agent-probes': value } }));
        expect([value, live('readiness').length, live('liveness').length]).toEqual([value, 0, 0]);
        expect(reporter.condition('readiness')).toMatchObject({ status: 'True', reason: 'Suspended' });
        mgr.upsertVmi(vmi());
        expect([value, live('readiness').length]).toEqual([value, 1]);
      }
      for (const value of ['false', '0', 'foo', 'yes', '']) {
        mgr.upsertVmi(vmi({ annotations: { 'kubevirt.io/pause-guest-agent-probes': value } }));
        expect([value, live('readiness').length, live('liveness').length]).toEqual([value, 1, 1]);
      }
    });

    it('the annotation leaves non-guest probes alone; migration leaves readiness of other handlers running', () => {
      const spec = {
        readinessProbe: { tcpSocket: { port: 22 } },
        livenessProbe: { tcpSocket: { port: 22 } },
      };
      mgr.upsertVmi(vmi({ spec, annotations: { 'kubevirt.io/pause-guest-agent-probes': 'true' } }));
      expect(live('readiness')).toHaveLength(1);
      expect(live('liveness')).toHaveLength(1);
      mgr.upsertVmi(vmi({ spec, status: MIGRATING }));
      expect(live('readiness')).toHaveLength(1);
      expect(live('liveness')).toHaveLength(0);
    });

    it('a VMI first seen while migrating: readiness starts False/Suspended, or the last reported status', () => {
      mgr.upsertVmi(vmi({ status: MIGRATING }));
      expect(workers).toHaveLength(0);
      expect(reporter.condition('readiness')).toMatchObject({ status: 'False', reason: 'Suspended' });
      mgr.stop();
      start(true);
      reporter.last.set('uid-vm1', { conditions: { readiness: 'True' } });
      mgr.upsertVmi(vmi({ status: MIGRATING }));
      expect(reporter.condition('readiness')).toMatchObject({ status: 'True', reason: 'Suspended' });
    });
  });
});
