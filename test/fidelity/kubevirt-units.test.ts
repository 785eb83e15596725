// The emulated KubeVirt's pure parts and its work queue, without a cluster.
import { describe, expect, it } from 'vitest';
import { podReadyCondition } from '../src/kubevirt/kubelet.js';
import { launcherPodFor, vmPortsFor } from '../src/kubevirt/launcher-pod.js';
import type { Condition, Vmi } from '../src/kubevirt/types.js';
import { matchesSelector, selectorToString } from '../src/kubevirt/util.js';
import { printableStatus } from '../src/kubevirt/vm.js';
import { WorkQueue } from '../src/kubevirt/workqueue.js';

describe('vmPortsFor', () => {
  it("serves the seed's 1500 always, probe ports by scheme, and the test-bed annotations", () => {
    const vmi: Vmi = {
      metadata: {
        annotations: {
          'vmprobe.io/startup-probe': JSON.stringify({ tcpSocket: { port: 2200 } }),
          'vmprobe.io/liveness-probe': 'not json',
          'vmprobe.test/http-ports': '8080, x, 70000',
          'vmprobe.test/tcp-ports': '22',
        },
      },
      spec: {
        livenessProbe: { httpGet: { port: 8443, scheme: 'HTTPS' } },
        readinessProbe: { tcpSocket: { port: '1500' } },
      },
    };
    expect(vmPortsFor(vmi)).toEqual({ httpPorts: [1500, 8080], httpsPorts: [8443], tcpPorts: [22, 2200] });
    expect(vmPortsFor({ spec: { livenessProbe: { httpGet: { port: 'http' } } } })).toEqual({
      httpPorts: [1500],
      httpsPorts: [],
      tcpPorts: [],
    });
  });
});

describe('launcherPodFor readiness gates', () => {
  const meta = { name: 'v', namespace: 'default', uid: 'u' };
  const gatesOf = (vmi: Vmi, vmprobeReadinessGate: boolean) =>
    launcherPodFor(vmi, 'node-a', { vmprobeReadinessGate }).spec?.readinessGates?.map((g) => g.conditionType);
  const UNPAUSED = 'kubevirt.io/virtual-machine-unpaused';
  const VMPROBE = 'vmprobe.io/ReadinessProbe';

  it.each<[string, Vmi, boolean, string[]]>([
    [
      'spec.readinessProbe, option on',
      { metadata: meta, spec: { readinessProbe: { tcpSocket: { port: 22 } } } },
      true,
      [UNPAUSED, VMPROBE],
    ],
    [
      'readiness annotation, option on',
      { metadata: { ...meta, annotations: { 'vmprobe.io/readiness-probe': '{"icmp":{}}' } } },
      true,
      [UNPAUSED, VMPROBE],
    ],
    [
      'unreadable readiness annotation, option on (the agent still writes the gate: InvalidProbe)',
      { metadata: { ...meta, annotations: { 'vmprobe.io/readiness-probe': 'not json' } } },
      true,
      [UNPAUSED, VMPROBE],
    ],
    [
      'liveness probe only, option on',
      { metadata: meta, spec: { livenessProbe: { tcpSocket: { port: 22 } } } },
      true,
      [UNPAUSED],
    ],
    ['no probe, option on', { metadata: meta }, true, [UNPAUSED]],
    [
      'spec.readinessProbe, option off',
      { metadata: meta, spec: { readinessProbe: { tcpSocket: { port: 22 } } } },
      false,
      [UNPAUSED],
    ],
  ])('%s', (_name, vmi, option, gates) => {
    expect(gatesOf(vmi, option)).toEqual(gates);
  });
});

describe('podReadyCondition (the kubelet)', () => {
  const pod = launcherPodFor(
    {
      metadata: { name: 'v', namespace: 'default', uid: 'u' },
      spec: { readinessProbe: { httpGet: { port: 1500 } } },
    },
    'node-a',
    { vmprobeReadinessGate: true },
  );
  const gate = (type: string, status: Condition['status']): Condition => ({ type, status });

  it('is False while containers are not ready, whatever the gates say', () => {
    const c = podReadyCondition(pod, [gate('kubevirt.io/virtual-machine-unpaused', 'True')], false);
    expect(c).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
  });

  it('is False with the kubelet messages for an absent or non-True gate, True when all are True', () => {
    expect(podReadyCondition(pod, [gate('kubevirt.io/virtual-machine-unpaused', 'True')], true)).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message: 'corresponding condition of pod readiness gate "vmprobe.io/ReadinessProbe" does not exist.',
    });
    expect(
      podReadyCondition(
        pod,
        [gate('kubevirt.io/virtual-machine-unpaused', 'Unknown'), gate('vmprobe.io/ReadinessProbe', 'True')],
        true,
      ).message,
    ).toBe(
      'the status of pod readiness gate "kubevirt.io/virtual-machine-unpaused" is not "True", but Unknown',
    );
    expect(
      podReadyCondition(
        pod,
        [gate('kubevirt.io/virtual-machine-unpaused', 'True'), gate('vmprobe.io/ReadinessProbe', 'True')],
        true,
      ),
    ).toEqual({ type: 'Ready', status: 'True' });
  });
});

describe('label selectors', () => {
  it('match like metav1.LabelSelector and render as the query string', () => {
    const sel = {
      matchLabels: { app: 'rs' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    expect(matchesSelector(sel, { app: 'rs', tier: 'a' })).toBe(true);
    expect(matchesSelector(sel, { app: 'rs', tier: 'c' })).toBe(false);
    expect(matchesSelector(sel, { app: 'rs', tier: 'a', canary: '' })).toBe(false);
    expect(matchesSelector(undefined, { app: 'rs' })).toBe(false);
    expect(selectorToString(sel)).toBe('app=rs,tier in (a,b),!canary');
  });
});

describe('printableStatus', () => {
  it("follows the VMI's state", () => {
    expect(printableStatus('Always', undefined)).toBe('Starting');
    expect(printableStatus('Halted', undefined)).toBe('Stopped');
    expect(printableStatus('Always', { status: { phase: 'Scheduling' } })).toBe('Starting');
    expect(printableStatus('Always', { status: { phase: 'Running' } })).toBe('Running');
    expect(
      printableStatus('Always', {
        status: { phase: 'Running', conditions: [{ type: 'Paused', status: 'True' }] },
      }),
    ).toBe('Paused');
    expect(printableStatus('Always', { status: { phase: 'Failed' } })).toBe('Stopped');
  });
});

describe('WorkQueue', () => {
  function deferred() {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  }

  it('runs a key once at a time, merges adds, and runs again when added while running', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActive = 0;
    const gates: Array<ReturnType<typeof deferred>> = [];
    const q = new WorkQueue(
      async (key) => {
        runs.push(key);
        active++;
        maxActive = Math.max(maxActive, active);
        const g = deferred();
        gates.push(g);
        await g.promise;
        active--;
      },
      { name: 't', concurrency: 4 },
    );
    q.start();
    q.add('a');
    q.add('a'); // 'a' is running: marks it dirty
    q.add('a');
    expect(runs).toEqual(['a']);
    gates[0]?.resolve();
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual(['a', 'a']); // exactly one re-run for the adds made while running
    expect(maxActive).toBe(1);
    gates[1]?.resolve();
    await new Promise((r) => setImmediate(r));
    expect(q.idle).toBe(true);
    await q.stop();
  });

  it('retries a failing key with backoff and reports the error; stop clears pending retries', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const done = deferred();
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls < 3) throw new Error(`boom ${calls}`);
        done.resolve();
      },
      { name: 't', minRetryMs: 1, maxRetryMs: 5, onError: (_n, _k, err) => errors.push(err) },
    );
    q.start();
    q.add('k');
    await done.promise;
    expect(calls).toBe(3);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom 1', 'boom 2']);
    q.addAfter('k', 60_000);
    expect(q.idle).toBe(false);
    await q.stop();
    expect(q.idle).toBe(true);
  });
});
