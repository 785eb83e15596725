// Higher-level KubeVirt behaviour the agent relies on: VirtualMachine runStrategy Always restarts a
// failed VMI as a fresh one, a VMIRS keeps its count, pause and live migration write what the agent
// reads — and the emulated controllers ride out API faults (outage, dropped watches, 410, 5xx).
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import type { VirtualMachine, VirtualMachineInstanceReplicaSet, Vmi } from '../src/kubevirt/index.js';
import { httpStatus } from '../src/vmsim/clients.js';

let cluster: TestCluster;
const controllerErrors: Array<{ component: string; err: unknown }> = [];

beforeAll(async () => {
  cluster = await startTestCluster({
    nodes: ['node-a', 'node-b'],
    onControllerError: (component, _key, err) => controllerErrors.push({ component, err }),
  });
});

afterAll(async () => {
  await cluster?.stop();
});

const KV = { group: 'kubevirt.io', version: 'v1' } as const;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
type WithConditions = { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } };
const cond = (o: WithConditions | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

async function template(labels: Record<string, string>) {
  const seed = await readManifest<Vmi>(SEED_VMI_FILES.httpLiveness);
  return { metadata: { labels }, spec: seed.spec };
}

/** A VirtualMachine in 'default' whose template is the seed's HTTP-liveness VMI labelled app=<name>. */
async function createVm(
  name: string,
  spec: Omit<NonNullable<VirtualMachine['spec']>, 'template'>,
): Promise<void> {
  await cluster.custom.createNamespacedCustomObject({
    ...KV,
    plural: 'virtualmachines',
    namespace: 'default',
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name },
      spec: { ...spec, template: await template({ app: name }) },
    },
  });
}

async function getVm(name: string): Promise<VirtualMachine> {
  return (await cluster.custom.getNamespacedCustomObject({
    ...KV,
    plural: 'virtualmachines',
    namespace: 'default',
    name,
  })) as VirtualMachine;
}

async function killLauncher(namespace: string, vmiName: string): Promise<void> {
  const pods = await cluster.launcherPods(namespace, vmiName);
  expect(pods.length).toBeGreaterThan(0);
  for (const p of pods) await cluster.core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace });
}

describe('VirtualMachine', () => {
  it('runStrategy Always starts a VMI, and replaces a failed one with a fresh VMI (new uid, new address)', async () => {
    await createVm('vm-always', { runStrategy: 'Always' });
    const first = await cluster.waitForRunning('default', 'vm-always');
    const vm = await getVm('vm-always');
    expect(first.vmi.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'VirtualMachine',
        name: 'vm-always',
        uid: vm.metadata?.uid,
        controller: true,
      }),
    ]);
    expect(first.vmi.metadata?.labels?.app).toBe('vm-always');
    expect(first.pod.metadata?.labels?.app).toBe('vm-always');
    await cluster.waitFor(
      async () => {
        const v = await getVm('vm-always');
        return (
          v.status?.printableStatus === 'Running' && v.status.ready === true && v.status.created === true
        );
      },
      { description: 'VM status Running/ready' },
    );

    await killLauncher('default', 'vm-always');
    const second = await cluster.waitFor(
      async () => {
        const r = await cluster
          .waitForRunning('default', 'vm-always', { timeoutMs: 100 })
          .catch(() => undefined);
        return r && r.vmi.metadata?.uid !== first.vmi.metadata?.uid ? r : undefined;
      },
      { description: 'a fresh VMI running' },
    );
    expect(second.vmi.status?.phaseTransitionTimestamps?.map((t) => t.phase)).not.toContain('Failed');
    expect(second.pod.status?.podIP).not.toBe(first.pod.status?.podIP);
    expect(second.vmi.status?.interfaces?.[0]?.ipAddress).toBe(second.pod.status?.podIP);
    expect(cluster.vmsim.vm(first.vmi.metadata?.uid ?? '')).toBeUndefined();
    expect(await httpStatus(second.pod.status?.podIP ?? '')).toBe(200);
  });

  it('running: true is Always; switching to runStrategy Halted stops the VMI', async () => {
    await createVm('vm-running', { running: true });
    await cluster.waitForRunning('default', 'vm-running');
    // A merge patch, so the controller's concurrent status writes cannot make it conflict.
    await cluster.custom.patchNamespacedCustomObject(
      {
        ...KV,
        plural: 'virtualmachines',
        namespace: 'default',
        name: 'vm-running',
        body: { spec: { running: null, runStrategy: 'Halted' } },
      },
      mergePatch,
    );
    await cluster.waitFor(async () => (await cluster.getVmi('default', 'vm-running')) === undefined, {
      description: 'VMI deleted',
    });
    await cluster.waitFor(async () => (await getVm('vm-running')).status?.printableStatus === 'Stopped', {
      description: 'VM Stopped',
    });
  });
});

describe('VirtualMachineInstanceReplicaSet', () => {
  it('keeps spec.replicas VMIs, replacing a failed one, and scales down', async () => {
    const listVmis = async () =>
      (
        (await cluster.custom.listNamespacedCustomObject({
          ...KV,
          plural: 'virtualmachineinstances',
          namespace: 'default',
          labelSelector: 'app=rs',
        })) as { items: Vmi[] }
      ).items;
    const getRs = async () =>
      (await cluster.custom.getNamespacedCustomObject({
        ...KV,
        plural: 'virtualmachineinstancereplicasets',
        namespace: 'default',
        name: 'rs',
      })) as VirtualMachineInstanceReplicaSet;
    await cluster.custom.createNamespacedCustomObject({
      ...KV,
      plural: 'virtualmachineinstancereplicasets',
      namespace: 'default',
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstanceReplicaSet',
        metadata: { name: 'rs' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'rs' } },
          template: await template({ app: 'rs' }),
        },
      },
    });
    const running = async (n: number) =>
      cluster.waitFor(
        async () => {
          const vmis = (await listVmis()).filter(
            (v) => v.status?.phase === 'Running' && !v.metadata?.deletionTimestamp,
          );
          const all = await listVmis();
          return vmis.length === n && all.length === n ? vmis : undefined;
        },
        { description: `${n} running VMIs` },
      );
    const three = await running(3);
    for (const v of three) {
      expect(v.metadata?.name).toMatch(/^rs[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(v.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'VirtualMachineInstanceReplicaSet',
        name: 'rs',
      });
    }
    await cluster.waitFor(
      async () => {
        const rs = await getRs();
        return rs.status?.replicas === 3 && rs.status.readyReplicas === 3;
      },
      { description: 'VMIRS status 3/3' },
    );

    const victim = three[0]?.metadata?.name ?? '';
    await killLauncher('default', victim);
    const replaced = await cluster.waitFor(
      async () => {
        const vmis = await running(3);
        return vmis.every((v) => v.metadata?.name !== victim) ? vmis : undefined;
      },
      { description: 'failed VMI replaced' },
    );
    expect(replaced).toHaveLength(3);

    // A merge patch, so the controller's concurrent status writes cannot make it conflict.
    await cluster.custom.patchNamespacedCustomObject(
      {
        ...KV,
        plural: 'virtualmachineinstancereplicasets',
        namespace: 'default',
        name: 'rs',
        body: { spec: { replicas: 1 } },
      },
      mergePatch,
    );
    await running(1);
    await cluster.waitFor(async () => (await getRs()).status?.replicas === 1, {
      description: 'VMIRS status 1',
    });
  });
});

describe('pause and migration', () => {
  it('pause sets Paused on the VMI and the unpaused gate False on the pod; unpause reverts both', async () => {
    await cluster.loadVmi(SEED_VMI_FILES.readiness, { name: 'pausable' });
    const { pod } = await cluster.waitForRunning('default', 'pausable');
    const ip = pod.status?.podIP ?? '';
    await cluster.waitForVmi('default', 'pausable', (v) => cond(v, 'Ready')?.status === 'True');

    await cluster.kubevirt.pause('default', 'pausable');
    const paused = await cluster.waitForVmi(
      'default',
      'pausable',
      (v) => cond(v, 'Ready')?.status === 'False',
      {
        description: 'paused VMI not Ready',
      },
    );
    expect(cond(paused, 'Paused')).toMatchObject({ status: 'True', reason: 'PausedByUser' });
    const pausedPod = await cluster.core.readNamespacedPod({
      name: pod.metadata?.name ?? '',
      namespace: 'default',
    });
    expect(cond(pausedPod, 'kubevirt.io/virtual-machine-unpaused')?.status).toBe('False');
    expect(cond(pausedPod, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
    await expect(httpStatus(ip)).rejects.toThrow(); // a frozen guest does not answer

    await cluster.kubevirt.unpause('default', 'pausable');
    const resumed = await cluster.waitForVmi(
      'default',
      'pausable',
      (v) => cond(v, 'Ready')?.status === 'True',
      {
        description: 'unpaused VMI Ready',
      },
    );
    expect(cond(resumed, 'Paused')).toBeUndefined();
    const resumedPod = await cluster.core.readNamespacedPod({
      name: pod.metadata?.name ?? '',
      namespace: 'default',
    });
    const gate = cond(resumedPod, 'kubevirt.io/virtual-machine-unpaused');
    expect(gate?.status).toBe('True');
    expect(gate?.reason).toBeUndefined(); // the strategic merge's null removed PausedByUser
    expect(await httpStatus(ip)).toBe(200);
  });

  it('migration: migrationState while in flight, then node, label and launcher pod move to the target', async () => {
    const manifest = await readManifest<Vmi>(SEED_VMI_FILES.readiness);
    // Pinned by the test-bed annotation (a nodeSelector would contradict the migration target).
    manifest.metadata = { ...manifest.metadata, annotations: { 'vmprobe.test/node': 'node-a' } };
    await cluster.createVmi(manifest, { name: 'mover' });
    const before = await cluster.waitForRunning('default', 'mover');
    expect(before.vmi.status?.nodeName).toBe('node-a');

    await cluster.kubevirt.startMigration('default', 'mover', 'node-b');
    const inFlight = await cluster.getVmi('default', 'mover');
    expect(inFlight?.status?.migrationState).toMatchObject({
      sourceNode: 'node-a',
      targetNode: 'node-b',
      sourcePod: before.pod.metadata?.name,
      completed: false,
    });
    expect(inFlight?.status?.migrationState?.startTimestamp).toMatch(/Z$/);
    expect(inFlight?.status?.migrationState?.endTimestamp).toBeUndefined();
    expect(inFlight?.status?.nodeName).toBe('node-a');

    await cluster.kubevirt.completeMigration('default', 'mover');
    const after = await cluster.waitForRunning('default', 'mover');
    expect(after.vmi.metadata?.uid).toBe(before.vmi.metadata?.uid);
    expect(after.vmi.status?.nodeName).toBe('node-b');
    expect(after.vmi.metadata?.labels?.['kubevirt.io/nodeName']).toBe('node-b');
    expect(after.vmi.status?.migrationState).toMatchObject({ completed: true, targetNode: 'node-b' });
    expect(after.vmi.status?.migrationState?.endTimestamp).toMatch(/Z$/);
    expect(after.pod.spec?.nodeName).toBe('node-b');
    expect(after.pod.metadata?.name).not.toBe(before.pod.metadata?.name);
    expect(after.pod.status?.podIP).toBe(before.pod.status?.podIP);
    await cluster.waitFor(
      async () => {
        const pods = await cluster.launcherPods('default', 'mover');
        return pods.length === 1 && pods[0]?.spec?.nodeName === 'node-b';
      },
      { description: 'source pod removed' },
    );
    const final = await cluster.waitForVmi('default', 'mover', (v) => cond(v, 'Ready')?.status === 'True');
    expect(final.status?.phase).toBe('Running');
    expect(final.status?.phaseTransitionTimestamps?.map((t) => t.phase)).not.toContain('Failed');
  });
});

describe('resilience to API faults', () => {
  it('keeps working through dropped watches, forced 410s, 5xx on writes and a full outage', async () => {
    cluster.emu.faults.dropAllWatches();
    cluster.emu.faults.forceGoneOnNextWatch(3);
    const remove = cluster.emu.faults.errorRate(0.3, 500, {
      verb: ['create', 'update', 'patch'],
      user: 'system:serviceaccount:kubevirt:kubevirt-controller',
    });
    try {
      await cluster.loadVmi(SEED_VMI_FILES.tcpLiveness, { name: 'flaky' });
      await cluster.waitForRunning('default', 'flaky', { timeoutMs: 20_000 });
    } finally {
      remove();
    }

    const errorsBefore = controllerErrors.filter((e) => e.component.startsWith('informer:')).length;
    await cluster.emu.faults.outage(true);
    try {
      await cluster.waitFor(
        async () => controllerErrors.filter((e) => e.component.startsWith('informer:')).length > errorsBefore,
        { description: 'informers notice the outage' },
      );
    } finally {
      await cluster.emu.faults.outage(false);
    }
    await cluster.loadVmi(SEED_VMI_FILES.httpLiveness, { name: 'after-outage' });
    await cluster.waitForRunning('default', 'after-outage', { timeoutMs: 20_000 });
  });
});
