import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/backoff.js';
import { noopObserver } from '../src/observer.js';
import { RateLimiterAbortedError, TokenBucket } from '../src/report/rate-limit.js';
import { ApiReporter, type ApiReporterOptions } from '../src/report/reporter.js';
import type { ProbeConditionReport, VmiProbeReport } from '../src/report/types.js';
import { FakeClock } from './helpers/fake-clock.js';
import { apiError, FakeWrites, settle } from './report-fake-writes.js';

const NODE = 'node-a';
const vmi = { namespace: 'ns', name: 'vm1', uid: 'vmi-uid-1' };
const pod = { namespace: 'ns', name: 'virt-launcher-vm1-abcde', uid: 'pod-uid-1' };

function report(conds: ProbeConditionReport[], extra: Partial<VmiProbeReport> = {}): VmiProbeReport {
  return { vmi, nodeName: NODE, target: '10.0.0.5', conditions: conds, launcherPods: [pod], ...extra };
}
const ready = (
  status: 'True' | 'False' | 'Unknown',
  reason = 'ProbeSucceeded',
  message = '',
): ProbeConditionReport => ({
  kind: 'readiness',
  status,
  reason,
  message,
});
const live = (
  status: 'True' | 'False' | 'Unknown',
  reason = 'ProbeSucceeded',
  message = '',
): ProbeConditionReport => ({
  kind: 'liveness',
  status,
  reason,
  message,
});

function setup(opts: Partial<ApiReporterOptions> = {}) {
  const clock = new FakeClock();
  const writes = new FakeWrites();
  writes.addPod(pod.namespace, pod.name, pod.uid, [
    { type: 'Ready', status: 'False' },
    { type: 'kubevirt.io/virtual-machine-unpaused', status: 'True' },
  ]);
  const writesLog: string[] = [];
  const observer = {
    ...noopObserver,
    reporterWrite: (t: string, r: string) => {
      writesLog.push(`${t}:${r}`);
    },
  };
  const reporter = new ApiReporter({
    writes,
    nodeName: NODE,
    clock,
    random: () => 0,
    observer,
    heartbeatIntervalMs: 0,
    ...opts,
  });
  return { clock, writes, reporter, writesLog };
}

describe('ApiReporter', () => {
  it('writes the pod gate first, then creates the VMIProbeStatus, owned by the VMI, labelled with the node, and patches its status', async () => {
    const { writes, reporter } = setup();
    await reporter.start();
    reporter.update(report([ready('False', 'Initializing')]));
    await settle();
    expect(writes.calls.map((c) => c.method)).toEqual([
      'listProbeStatuses',
      'patchPodCondition',
      'createProbeStatus',
      'patchProbeStatusStatus',
    ]);
    const obj = writes.statuses.get('ns/vm1')!;
    expect(obj.metadata.labels).toEqual({ 'vmprobe.io/node': NODE });
    expect(obj.metadata.ownerReferences).toEqual([
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: vmi.uid },
    ]);
    expect(obj.metadata.ownerReferences?.[0]).not.toHaveProperty('blockOwnerDeletion');
    expect(obj.status).toMatchObject({
      nodeName: NODE,
      target: '10.0.0.5',
      vmiUID: vmi.uid,
      conditions: [{ type: 'ReadinessProbe', status: 'False', reason: 'Initializing', message: '' }],
    });
    const podConds = writes.pods.get('ns/virt-launcher-vm1-abcde')!.conditions;
    expect(podConds.map((c) => c.type)).toEqual([
      'Ready',
      'kubevirt.io/virtual-machine-unpaused',
      'vmprobe.io/ReadinessProbe',
    ]);
    expect(writes.count('createEvent')).toBe(0);
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('makes at most 3 requests per transition and a Warning Unhealthy event with the probe message', async () => {
    const { writes, reporter } = setup();
    reporter.update(report([ready('True')]));
    await settle();
    const before = writes.calls.length;
    reporter.update(report([ready('False', 'ProbeFailed', 'HTTP probe failed with statuscode: 503')]));
    await settle();
    const made = writes.calls.slice(before).map((c) => c.method);
    expect(made).toEqual(['patchPodCondition', 'patchProbeStatusStatus', 'createEvent']);
    const ev = [...writes.events.values()][0]!;
    expect(ev).toMatchObject({
      type: 'Warning',
      reason: 'Unhealthy',
      message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
    });
    await reporter.stop();
  });

  it('writes nothing when the desired state equals what is stored', async () => {
    const { writes, reporter } = setup();
    reporter.update(report([ready('True'), live('True')]));
    await settle();
    const before = writes.calls.length;
    reporter.update(report([ready('True'), live('True')]));
    reporter.update(report([ready('True'), live('True')]));
    await settle();
    expect(writes.calls.length).toBe(before);
    await reporter.stop();
  });

  it('keeps lastTransitionTime while the status holds and moves it on a change', async () => {
    const { writes, reporter, clock } = setup();
    reporter.update(report([ready('False', 'ProbeFailed', 'a')]));
    await settle();
    const t0 = writes.statuses.get('ns/vm1')!.status!.conditions![0]!.lastTransitionTime;
    clock.advance(5000);
    reporter.update(report([ready('False', 'ProbeTimeout', 'b')]));
    await settle();
    expect(writes.statuses.get('ns/vm1')!.status!.conditions![0]!.lastTransitionTime).toBe(t0);
    clock.advance(5000);
    reporter.update(report([ready('True')]));
    await settle();
    const t2 = writes.statuses.get('ns/vm1')!.status!.conditions![0]!.lastTransitionTime;
    expect(Date.parse(t2) - Date.parse(t0)).toBe(10_000);
    await reporter.stop();
  });

  it('coalesces: one write per VMI in flight, and the latest desired state wins', async () => {
    const { writes, reporter } = setup();
    reporter.update(report([ready('True')]));
    await settle();
    let release!: () => void;
    writes.gate = new Promise((r) => {
      release = r;
    });
    const before = writes.calls.length;
    reporter.update(report([ready('False', 'ProbeFailed', 'x1')]));
    await settle();
    for (let i = 2; i <= 5; i++)
      reporter.update(report([ready(i % 2 ? 'False' : 'True', 'ProbeFailed', `x${i}`)]));
    await settle();
    expect(writes.maxInFlight).toBe(1);
    writes.gate = undefined;
    release();
    await settle();
    // The first sync (x1) then exactly one more with the latest (x5).
    const statusPatches = writes.calls
      .slice(before)
      .filter((c) => c.method === 'patchProbeStatusStatus')
      .map((c) => (c.args[2] as { conditions: { message: string }[] }).conditions[0]!.message);
    expect(statusPatches).toEqual(['x1', 'x5']);
    expect(writes.statuses.get('ns/vm1')!.status!.conditions![0]).toMatchObject({
      status: 'False',
      message: 'x5',
    });
    await reporter.stop();
  });

  it('retries a 500 with exponential backoff and stores the state afterwards', async () => {
    const { writes, reporter, clock, writesLog } = setup();
    writes.fail('createProbeStatus', apiError('ServerError', 500), apiError('ServerError', 503));
    reporter.update(report([ready('True')]));
    await settle();
    expect(writes.statuses.size).toBe(0);
    expect(reporter.isIdle()).toBe(false);
    // random() = 0 → delays are half of 500 ms, 1 s.
    expect(clock.nextDueAt()! - clock.now()).toBe(
      backoffDelay({ initialMs: 500, maxMs: 300_000 }, 1, () => 0),
    );
    clock.advance(250);
    await settle();
    expect(writes.count('createProbeStatus')).toBe(2);
    expect(clock.nextDueAt()! - clock.now()).toBe(500);
    clock.advance(500);
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.status).toBe('True');
    expect(writesLog).toContain('probestatus:retry');
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('honours Retry-After on 429 and makes a newer update wait for it', async () => {
    const { writes, reporter, clock } = setup();
    writes.fail('createProbeStatus', apiError('TooManyRequests', 429, 7));
    reporter.update(report([ready('True')]));
    await settle();
    reporter.update(report([ready('False', 'ProbeFailed', 'later')]));
    await settle();
    expect(writes.count('createProbeStatus')).toBe(1);
    clock.advance(6999);
    await settle();
    expect(writes.count('createProbeStatus')).toBe(1);
    clock.advance(1);
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]).toMatchObject({
      status: 'False',
      message: 'later',
    });
    await reporter.stop();
  });

  it('an API outage (network errors, 5xx) backs off at most 5 s, so the final write lands ≤ 5 s after it ends', async () => {
    const { writes, reporter, clock } = setup({ random: () => 0.999 });
    // 12 failed attempts: the uncapped backoff (0.5 s doubling to 300 s) would be ~17 min by then.
    for (let i = 0; i < 12; i++)
      writes.fail('createProbeStatus', i % 2 ? apiError('ServerError', 503) : apiError('Network', 0));
    reporter.update(report([ready('True')]));
    await settle();
    expect(writes.count('createProbeStatus')).toBe(1);
    for (let attempt = 2; attempt <= 13; attempt++) {
      clock.advance(5000);
      await settle();
      expect(writes.count('createProbeStatus')).toBe(attempt);
    }
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]).toMatchObject({ status: 'True' });
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('a 429 keeps the full backoff and its Retry-After (not capped like an outage)', async () => {
    const { writes, reporter, clock } = setup({ random: () => 0.999 });
    for (let i = 0; i < 6; i++) writes.fail('createProbeStatus', apiError('TooManyRequests', 429));
    writes.fail('createProbeStatus', apiError('TooManyRequests', 429, 40));
    reporter.update(report([ready('True')]));
    await settle();
    const gaps: number[] = [];
    let last = clock.now();
    for (let t = 0; t < 200_000 && writes.count('createProbeStatus') < 8; t += 100) {
      const before = writes.count('createProbeStatus');
      clock.advance(100);
      await settle();
      if (writes.count('createProbeStatus') > before) {
        gaps.push(clock.now() - last);
        last = clock.now();
      }
    }
    expect(gaps).toHaveLength(7);
    expect(Math.max(...gaps.slice(0, 6))).toBeGreaterThan(10_000); // 0.5 s · 2^5 = 16 s
    expect(gaps[6]).toBeGreaterThanOrEqual(40_000); // Retry-After is a floor
    reporter.apiReachable(); // a watch succeeding does not cut a 429 wait short
    await reporter.stop();
  });

  it('apiReachable() retries writes waiting out an outage at once, but not a 429’s Retry-After', async () => {
    const { writes, reporter, clock } = setup();
    const other = { namespace: 'ns', name: 'vm2', uid: 'vmi-uid-2' };
    writes.fail('createProbeStatus', apiError('ServerError', 503), apiError('TooManyRequests', 429, 30));
    reporter.update(report([ready('True')]));
    await settle();
    reporter.update({ vmi: other, nodeName: NODE, conditions: [live('True')], launcherPods: [] });
    await settle();
    expect(writes.count('createProbeStatus')).toBe(2);
    expect(reporter.pendingCount()).toBe(2);
    reporter.apiReachable();
    await settle();
    expect(writes.statuses.has('ns/vm1')).toBe(true); // the 503 one, without any time passing
    expect(writes.statuses.has('ns/vm2')).toBe(false); // the 429 one waits for its Retry-After
    clock.advance(30_000);
    await settle();
    expect(writes.statuses.has('ns/vm2')).toBe(true);
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('re-reads after a 409 on the status patch, then retries', async () => {
    const { writes, reporter, clock, writesLog } = setup();
    reporter.update(report([ready('True')]));
    await settle();
    writes.fail('patchProbeStatusStatus', apiError('Conflict', 409));
    reporter.update(report([ready('False', 'ProbeFailed', 'm')]));
    await settle();
    expect(writesLog).toContain('probestatus:conflict');
    const methods = writes.calls.map((c) => c.method);
    const failedAt = methods.lastIndexOf('patchProbeStatusStatus');
    expect(methods[failedAt + 1]).toBe('getProbeStatus');
    clock.advance(250);
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.status).toBe('False');
    await reporter.stop();
  });

  it('adopts an object that already exists (409 AlreadyExists) and fixes its owner and node label', async () => {
    const { writes, reporter } = setup();
    writes.statuses.set('ns/vm1', {
      apiVersion: 'vmprobe.io/v1alpha1',
      kind: 'VMIProbeStatus',
      metadata: {
        name: 'vm1',
        namespace: 'ns',
        labels: { 'vmprobe.io/node': 'node-b' },
        ownerReferences: [
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'old' },
        ],
      },
    });
    writes.addVmi('ns', 'vm1', vmi.uid, NODE); // the VMI's status.nodeName says: here
    reporter.update(report([ready('True')]));
    await settle();
    expect(writes.calls.map((c) => c.method)).toEqual([
      'patchPodCondition',
      'createProbeStatus',
      'getProbeStatus',
      'getVmi',
      'patchProbeStatusMetadata',
      'patchProbeStatusStatus',
    ]);
    const obj = writes.statuses.get('ns/vm1')!;
    expect(obj.metadata.labels?.['vmprobe.io/node']).toBe(NODE);
    expect(obj.metadata.ownerReferences?.[0]?.uid).toBe(vmi.uid);
    await reporter.stop();
  });

  it('handover (item 6): an agent whose VMI is not on its node (fresh status.nodeName) never writes the VMIProbeStatus', async () => {
    const { writes, reporter } = setup();
    writes.statuses.set('ns/vm1', {
      apiVersion: 'vmprobe.io/v1alpha1',
      kind: 'VMIProbeStatus',
      metadata: {
        name: 'vm1',
        namespace: 'ns',
        resourceVersion: '5',
        labels: { 'vmprobe.io/node': 'node-b' },
        ownerReferences: [
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: vmi.uid },
        ],
      },
      status: { nodeName: 'node-b', vmiUID: vmi.uid, conditions: [] },
    });
    writes.addVmi('ns', 'vm1', vmi.uid, 'node-b'); // the API says node-b; this agent's watch is stale
    reporter.update(report([ready('True')]));
    await settle();
    expect(writes.count('getVmi')).toBe(1);
    expect(writes.count('patchProbeStatusMetadata')).toBe(0);
    expect(writes.count('patchProbeStatusStatus')).toBe(0);
    expect(writes.statuses.get('ns/vm1')?.metadata.labels?.['vmprobe.io/node']).toBe('node-b');
    await reporter.stop();
  });

  it('handover (item 6): two agents that both believe the VMI is theirs do not fight; status.nodeName decides', async () => {
    const clock = new FakeClock();
    const writes = new FakeWrites();
    writes.addPod(pod.namespace, pod.name, pod.uid);
    writes.addVmi('ns', 'vm1', vmi.uid, 'node-a'); // before the migration
    const mk = (nodeName: string) =>
      new ApiReporter({
        writes,
        nodeName,
        clock,
        random: () => 0,
        observer: noopObserver,
        heartbeatIntervalMs: 0,
      });
    const a = mk('node-a');
    const b = mk('node-b');
    a.update(report([ready('True')], { nodeName: 'node-a', launcherPods: [] }));
    await settle();
    expect(writes.statuses.get('ns/vm1')?.metadata.labels?.['vmprobe.io/node']).toBe('node-a');
    // The migration completes: the VMI's status.nodeName is node-b. A's watch has not seen it yet.
    writes.addVmi('ns', 'vm1', vmi.uid, 'node-b');
    b.update(report([ready('True', 'ProbeSucceeded', 'from b')], { nodeName: 'node-b', launcherPods: [] }));
    await settle();
    const afterB = structuredClone(writes.statuses.get('ns/vm1'));
    expect(afterB?.metadata.labels?.['vmprobe.io/node']).toBe('node-b');
    expect(afterB?.status?.nodeName).toBe('node-b');
    // A (stale) reports again, several times: its status patch meets a 409 (the object changed),
    // it re-reads, sees node-b, checks the VMI fresh and stops writing.
    for (let i = 0; i < 3; i++) {
      a.update(
        report([ready('False', 'ProbeFailed', `stale ${i}`)], { nodeName: 'node-a', launcherPods: [] }),
      );
      await settle();
      clock.advance(60_000);
      await settle();
    }
    const final = writes.statuses.get('ns/vm1');
    expect(final?.metadata.labels?.['vmprobe.io/node']).toBe('node-b');
    expect(final?.status).toEqual(afterB?.status);
    await a.stop();
    await b.stop();
  });

  it('detects a silently dropped write (200, nothing stored), never reports it as success, and retries', async () => {
    const { writes, reporter, clock, writesLog } = setup();
    reporter.update(report([ready('True')]));
    await settle();
    writes.drop.add('patchProbeStatusStatus');
    writes.drop.add('patchPodCondition');
    reporter.update(report([ready('False', 'ProbeFailed', 'm')]));
    await settle();
    expect(writesLog.filter((w) => w === 'probestatus:error' || w === 'pod:error')).toHaveLength(2);
    expect(reporter.isIdle()).toBe(false);
    writes.drop.clear();
    clock.advance(250);
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.status).toBe('False');
    const gate = writes.pods
      .get(`ns/${pod.name}`)!
      .conditions.find((c) => c.type === 'vmprobe.io/ReadinessProbe');
    expect(gate?.status).toBe('False');
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('a missing right for Events (403) drops the event but still writes status and pod condition', async () => {
    const { writes, reporter } = setup();
    writes.fail('createEvent', apiError('Forbidden', 403));
    reporter.update(report([ready('False', 'ProbeFailed', 'm')]));
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.status).toBe('False');
    expect(
      writes.pods.get(`ns/${pod.name}`)!.conditions.some((c) => c.type === 'vmprobe.io/ReadinessProbe'),
    ).toBe(true);
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
  });

  it('a 403 on the status patch retries at the backoff ceiling but does not delay a newer state', async () => {
    const { writes, reporter, clock } = setup();
    reporter.update(report([ready('True')]));
    await settle();
    writes.fail('patchProbeStatusStatus', apiError('Forbidden', 403));
    reporter.update(report([ready('False', 'ProbeFailed', 'a')]));
    await settle();
    expect(clock.nextDueAt()! - clock.now()).toBeGreaterThanOrEqual(150_000);
    reporter.update(report([ready('False', 'ProbeFailed', 'b')]));
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.message).toBe('b');
    await reporter.stop();
  });

  it('seeds lastReported from the node’s VMIProbeStatuses and makes no write when the state is unchanged', async () => {
    const { writes, reporter: first } = setup();
    first.update(report([ready('True'), live('False', 'ProbeFailed', 'down')]));
    await settle();
    await first.stop();
    const clock = new FakeClock();
    const restarted = new ApiReporter({
      writes,
      nodeName: NODE,
      clock,
      heartbeatIntervalMs: 0,
      podCondition: (ns, name) =>
        writes.pods.get(`${ns}/${name}`)?.conditions.find((c) => c.type === 'vmprobe.io/ReadinessProbe'),
    });
    await restarted.start();
    expect(restarted.lastReported(vmi.uid)).toEqual({
      conditions: { readiness: 'True', liveness: 'False' },
      shown: {
        readiness: { reason: 'ProbeSucceeded', message: '' },
        liveness: { reason: 'ProbeFailed', message: 'down' },
      },
    });
    expect(restarted.lastReported('other')).toBeUndefined();
    const before = writes.calls.length;
    restarted.update(report([ready('True'), live('False', 'ProbeFailed', 'down')]));
    await settle();
    expect(writes.calls.length).toBe(before); // no status, pod or duplicate event write
    await restarted.stop();
  });

  it('heartbeat re-verifies with one LIST and no write, and recreates an object deleted behind its back', async () => {
    const { writes, reporter, clock } = setup({ heartbeatIntervalMs: 300_000 });
    await reporter.start();
    reporter.update(report([ready('True')]));
    await settle();
    const before = writes.calls.length;
    clock.advance(300_000);
    await settle();
    expect(writes.calls.slice(before).map((c) => c.method)).toEqual(['listProbeStatuses']);
    writes.statuses.delete('ns/vm1');
    clock.advance(300_000);
    await settle();
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]?.status).toBe('True');
    await reporter.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('reminds with a count patch every reminder interval while the failure lasts, and stops after recovery', async () => {
    const { writes, reporter, clock } = setup({ reminderIntervalMs: 600_000 });
    reporter.update(report([live('False', 'ProbeFailed', 'refused')], { launcherPods: [] }));
    await settle();
    expect(writes.count('createEvent')).toBe(1);
    clock.advance(600_000);
    await settle();
    expect(writes.count('patchEvent')).toBe(1);
    expect([...writes.events.values()][0]?.count).toBe(2);
    reporter.update(report([live('True')], { launcherPods: [] }));
    await settle();
    clock.advance(1_200_000);
    await settle();
    expect(writes.count('patchEvent')).toBe(1);
    expect(writes.count('createEvent')).toBe(1);
    await reporter.stop();
  });

  it('rate-limits writes with the token bucket', async () => {
    const { writes, reporter, clock } = setup({ writeQps: 1, writeBurst: 2 });
    reporter.update(report([ready('True')]));
    await settle();
    // pod gate + create took the burst; the status patch waits for a token.
    expect(writes.count('patchPodCondition')).toBe(1);
    expect(writes.count('patchProbeStatusStatus')).toBe(0);
    clock.advance(999);
    await settle();
    expect(writes.count('patchProbeStatusStatus')).toBe(0);
    clock.advance(1);
    await settle();
    expect(writes.count('patchProbeStatusStatus')).toBe(1);
    await reporter.stop();
  });

  it('gate writes go ahead of VMIProbeStatus writes and Events of other VMIs in the token queue', async () => {
    const { writes, reporter, clock } = setup({ writeQps: 1, writeBurst: 1 });
    const update = (i: number) =>
      reporter.update(
        report([ready('True')], {
          vmi: { namespace: 'ns', name: `vm${i}`, uid: `uid-vm${i}` },
          launcherPods: [{ namespace: 'ns', name: `pod-vm${i}`, uid: `uid-pod-vm${i}` }],
        }),
      );
    update(1);
    await settle(); // vm1's gate took the token; its VMIProbeStatus create now waits in the queue
    update(2);
    update(3);
    for (let i = 0; i < 12; i++) {
      await settle();
      clock.advance(1_000);
    }
    await settle();
    const order = writes.calls.map((c) => c.method).filter((m) => m !== 'listProbeStatuses');
    expect(order.slice(0, 3)).toEqual(['patchPodCondition', 'patchPodCondition', 'patchPodCondition']);
    expect(order.slice(3).every((m) => m !== 'patchPodCondition')).toBe(true);
    expect(order.filter((m) => m === 'createProbeStatus')).toHaveLength(3);
    await reporter.stop();
  });

  it('a gate write that waited for its token writes the latest readiness (one write, not False then True)', async () => {
    const { writes, reporter, clock } = setup({ writeQps: 1, writeBurst: 1 });
    const vm = (i: number, status: 'True' | 'False') =>
      report([status === 'True' ? ready('True') : ready('False', 'Initializing')], {
        vmi: { namespace: 'ns', name: `vm${i}`, uid: `uid-vm${i}` },
        launcherPods: [{ namespace: 'ns', name: `pod-vm${i}`, uid: `uid-pod-vm${i}` }],
      });
    for (const i of [1, 2]) writes.addPod('ns', `pod-vm${i}`, `uid-pod-vm${i}`);
    reporter.update(vm(1, 'False'));
    await settle(); // vm1's gate took the only token
    reporter.update(vm(2, 'False'));
    await settle(); // vm2's gate write waits for a token…
    reporter.update(vm(2, 'True')); // …while its first probe succeeds
    for (let i = 0; i < 8; i++) {
      clock.advance(1_000);
      await settle();
    }
    const vm2Gates = writes.calls
      .filter((c) => c.method === 'patchPodCondition' && c.args[1] === 'pod-vm2')
      .map((c) => (c.args[2] as { status: string }).status);
    expect(vm2Gates).toEqual(['True']);
    expect(
      writes.pods.get('ns/pod-vm2')?.conditions.find((c) => c.type === 'vmprobe.io/ReadinessProbe')?.status,
    ).toBe('True');
    await reporter.stop();
  });

  it('forget() drops the VMI’s queued write-token waits: 500 VMIs deleted at 20 writes/s leave no timer and make no write', async () => {
    const clock = new FakeClock();
    const writes = new FakeWrites();
    const limiter = new TokenBucket({ qps: 20, burst: 50, clock });
    const reporter = new ApiReporter({
      writes,
      nodeName: NODE,
      clock,
      limiter,
      random: () => 0,
      heartbeatIntervalMs: 0,
    });
    const vmis = Array.from({ length: 500 }, (_, i) => ({ namespace: 'ns', name: `vm${i}`, uid: `u${i}` }));
    for (const v of vmis)
      reporter.update({
        vmi: v,
        nodeName: NODE,
        conditions: [live('Unknown', 'Initializing')],
        launcherPods: [],
      });
    await settle();
    expect(limiter.queued).toBeGreaterThan(400); // the burst went out; the rest wait for tokens
    for (const v of vmis) reporter.forget(v.uid);
    await settle();
    expect(limiter.queued).toBe(0);
    expect(clock.pendingCount()).toBe(0); // no token timer, no retry timer
    const writesAtForget = writes.writeCount();
    clock.advance(120_000);
    await settle();
    expect(writes.writeCount()).toBe(writesAtForget); // nothing written for a forgotten VMI
    await reporter.stop();
    limiter.stop();
  });

  it('a gate sync does not wait behind the VMIProbeStatus create: the True gate write passes the create waiting for its token', async () => {
    const { writes, reporter, clock } = setup({ writeQps: 1, writeBurst: 1 });
    const gate = () =>
      writes.pods
        .get(`${pod.namespace}/${pod.name}`)
        ?.conditions.find((c) => c.type === 'vmprobe.io/ReadinessProbe');
    reporter.update(report([ready('False', 'Initializing')]));
    await settle();
    // The first gate write (False) took the only token; the create waits for the next one.
    expect(writes.calls.map((c) => c.method)).toEqual(['patchPodCondition']);
    expect(gate()?.status).toBe('False');
    // The first verdict arrives while the create waits: its gate write takes the next token.
    reporter.update(report([ready('True', 'ProbeSucceeded', 'HTTP 200')]));
    await settle();
    clock.advance(1000);
    await settle();
    expect(writes.calls.map((c) => c.method)).toEqual(['patchPodCondition', 'patchPodCondition']);
    expect(gate()).toMatchObject({ status: 'True', reason: 'ProbeSucceeded', message: 'HTTP 200' });
    // Then the VMIProbeStatus: the running sync's create + status patch, and the follow-up sync's
    // patch to the latest state; no further gate write.
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await settle();
    }
    expect(writes.calls.map((c) => c.method)).toEqual([
      'patchPodCondition',
      'patchPodCondition',
      'createProbeStatus',
      'patchProbeStatusStatus',
      'patchProbeStatusStatus',
    ]);
    expect(writes.statuses.get('ns/vm1')?.status?.conditions?.[0]).toMatchObject({
      status: 'True',
      message: 'HTTP 200',
    });
    expect(reporter.isIdle()).toBe(true);
    await reporter.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('stop() drops every queued wait on a shared limiter too', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucket({ qps: 1, burst: 1, clock });
    const reporter = new ApiReporter({
      writes: new FakeWrites(),
      nodeName: NODE,
      clock,
      limiter,
      heartbeatIntervalMs: 0,
    });
    for (let i = 0; i < 5; i++)
      reporter.update({
        vmi: { namespace: 'ns', name: `vm${i}`, uid: `u${i}` },
        nodeName: NODE,
        conditions: [live('True')],
        launcherPods: [],
      });
    await settle();
    expect(limiter.queued).toBeGreaterThan(0);
    await reporter.stop();
    await settle();
    expect(limiter.queued).toBe(0);
    expect(clock.pendingCount()).toBe(0);
    limiter.stop();
  });

  it('flush writes pending retries before the deadline; forget drops a VMI without a write', async () => {
    const { writes, reporter, clock } = setup();
    const other = { namespace: 'ns', name: 'vm2', uid: 'vmi-uid-2' };
    writes.fail('createProbeStatus', apiError('ServerError', 500), apiError('ServerError', 500));
    reporter.update(report([ready('True')]));
    reporter.update({ vmi: other, nodeName: NODE, conditions: [live('True')], launcherPods: [] });
    await settle();
    reporter.forget(other.uid);
    const flushed = reporter.flush(clock.now() + 5000);
    await settle();
    clock.advance(250);
    await settle();
    await flushed;
    expect(writes.statuses.has('ns/vm1')).toBe(true);
    expect(writes.statuses.has('ns/vm2')).toBe(false);
    await reporter.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('flush gives up at the deadline', async () => {
    const { writes, reporter, clock } = setup();
    for (let i = 0; i < 50; i++) writes.fail('createProbeStatus', apiError('ServerError', 500));
    reporter.update(report([ready('True')]));
    await settle();
    const flushed = reporter.flush(clock.now() + 1000);
    for (let i = 0; i < 10; i++) {
      clock.advance(250);
      await settle();
    }
    await flushed;
    expect(reporter.isIdle()).toBe(false);
    await reporter.stop();
    await reporter.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('start retries a failing list and stops at abort', async () => {
    const { writes, reporter, clock } = setup();
    writes.fail('listProbeStatuses', apiError('Network', 0), apiError('Network', 0));
    const started = reporter.start();
    await settle();
    clock.advance(250);
    await settle();
    clock.advance(500);
    await settle();
    await started;
    expect(writes.count('listProbeStatuses')).toBe(3);
    const ac = new AbortController();
    const { writes: w2, reporter: r2 } = setup();
    w2.fail('listProbeStatuses', apiError('Network', 0));
    const p = r2.start(ac.signal);
    await settle();
    ac.abort();
    await expect(p).rejects.toBeDefined();
    await reporter.stop();
    await r2.stop();
  });
});

describe('TokenBucket', () => {
  it('take(signal): an abort removes just that wait, and the timer goes with the last one', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 1, burst: 1, clock });
    await bucket.take();
    const a = new AbortController();
    const b = new AbortController();
    const order: string[] = [];
    const first = bucket.take(a.signal).then(
      () => order.push('first'),
      (e: unknown) => order.push(e instanceof RateLimiterAbortedError ? 'first aborted' : 'first ?'),
    );
    const second = bucket.take(b.signal).then(() => order.push('second'));
    expect(bucket.queued).toBe(2);
    a.abort();
    await first;
    expect(bucket.queued).toBe(1);
    expect(clock.pendingCount()).toBe(1);
    clock.advance(1000);
    await second;
    expect(order).toEqual(['first aborted', 'second']);
    expect(clock.pendingCount()).toBe(0);
    const c = new AbortController();
    const third = bucket.take(c.signal);
    expect(clock.pendingCount()).toBe(1);
    c.abort();
    await expect(third).rejects.toBeInstanceOf(RateLimiterAbortedError);
    expect(clock.pendingCount()).toBe(0);
    await expect(bucket.take(c.signal)).rejects.toBeInstanceOf(RateLimiterAbortedError);
    bucket.stop();
  });
});
