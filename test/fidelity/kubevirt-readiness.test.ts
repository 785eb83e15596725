// Readiness through the launcher pod: vmprobe's gate condition (written as the agent would, by a
// strategic merge on pods/status) decides the pod's Ready like the kubelet computes it, the VMI's
// Ready follows the pod's as virt-controller copies it, and a Service's EndpointSlice follows both.
// The gate is listed only on the pods of VMIs with a readiness probe (design §4).
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import type { Vmi } from '../src/kubevirt/index.js';

const GATE = 'vmprobe.io/ReadinessProbe';
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

let cluster: TestCluster;
let agent: CoreV1Api;

beforeAll(async () => {
  cluster = await startTestCluster({ vmprobeReadinessGate: true });
  agent = cluster.emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await cluster?.stop();
});

type WithConditions = {
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
};
const cond = (o: WithConditions | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

async function startVmi(
  name: string,
  labels: Record<string, string> = {},
): Promise<{ vmi: Vmi; pod: V1Pod }> {
  const manifest = await readManifest<Vmi>(SEED_VMI_FILES.readiness);
  manifest.metadata = { ...manifest.metadata, labels: { ...manifest.metadata?.labels, ...labels } };
  await cluster.createVmi(manifest, { name });
  return cluster.waitForRunning('default', name);
}

/** What the agent writes: one condition, merged into the list by its type. */
async function patchGate(pod: V1Pod, status: 'True' | 'False'): Promise<void> {
  await agent.patchNamespacedPodStatus(
    {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      body: {
        status: {
          conditions: [
            {
              type: GATE,
              status,
              reason: status === 'True' ? 'ProbeSucceeded' : 'ProbeFailed',
              lastProbeTime: null,
              lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            },
          ],
        },
      },
    },
    strategic,
  );
}

async function podNamed(pod: V1Pod): Promise<V1Pod> {
  return cluster.core.readNamespacedPod({ name: pod.metadata?.name ?? '', namespace: 'default' });
}

describe('launcher pod readiness gates', () => {
  it('lists both gates and keeps the pod not Ready while the vmprobe condition is absent', async () => {
    const { vmi, pod } = await startVmi('gated');
    expect(pod.spec?.readinessGates).toEqual([
      { conditionType: 'kubevirt.io/virtual-machine-unpaused' },
      { conditionType: GATE },
    ]);
    const settled = await cluster.waitFor(
      async () => {
        const p = await podNamed(pod);
        return cond(p, 'kubevirt.io/virtual-machine-unpaused')?.status === 'True' && cond(p, 'Ready')
          ? p
          : undefined;
      },
      { description: "KubeVirt's gate set" },
    );
    expect(cond(settled, 'ContainersReady')?.status).toBe('True');
    expect(cond(settled, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message: `corresponding condition of pod readiness gate "${GATE}" does not exist.`,
    });
    expect(vmi.status?.phase).toBe('Running');
    expect(cond(vmi, 'Ready')?.status).toBe('False');
  });

  it("lists vmprobe's gate only for VMIs with a readiness probe: others become Ready on KubeVirt's gate alone", async () => {
    const tcp = await readManifest<Vmi>(SEED_VMI_FILES.tcpLiveness); // liveness only
    await cluster.createVmi(structuredClone(tcp), { name: 'no-readiness' });
    const annotated = structuredClone(tcp);
    annotated.metadata = {
      ...annotated.metadata,
      annotations: { 'vmprobe.io/readiness-probe': JSON.stringify({ tcpSocket: { port: 1500 } }) },
    };
    await cluster.createVmi(annotated, { name: 'annotated-readiness' });

    const plain = await cluster.waitForRunning('default', 'no-readiness');
    expect(plain.pod.spec?.readinessGates).toEqual([
      { conditionType: 'kubevirt.io/virtual-machine-unpaused' },
    ]);
    const plainVmi = await cluster.waitForVmi(
      'default',
      'no-readiness',
      (v) => cond(v, 'Ready')?.status === 'True',
      {
        description: 'VMI without a readiness probe Ready True',
      },
    );
    expect(plainVmi.status?.phase).toBe('Running');
    expect(cond(await podNamed(plain.pod), 'Ready')?.status).toBe('True');

    const gated = await cluster.waitForRunning('default', 'annotated-readiness');
    expect(gated.pod.spec?.readinessGates).toEqual([
      { conditionType: 'kubevirt.io/virtual-machine-unpaused' },
      { conditionType: GATE },
    ]);
    const waiting = await cluster.waitFor(
      async () => {
        const p = await podNamed(gated.pod);
        return cond(p, 'kubevirt.io/virtual-machine-unpaused')?.status === 'True' && cond(p, 'Ready')
          ? p
          : undefined;
      },
      { description: "KubeVirt's gate set on the annotated VMI's pod" },
    );
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
    expect(cond(await cluster.getVmi('default', 'annotated-readiness'), 'Ready')?.status).toBe('False');
    await patchGate(gated.pod, 'True');
    await cluster.waitForVmi('default', 'annotated-readiness', (v) => cond(v, 'Ready')?.status === 'True', {
      description: 'annotated VMI Ready True after the gate',
    });
  });

  it('pod Ready follows the gate patched by the agent, the VMI Ready follows the pod, other conditions survive', async () => {
    const { pod } = await startVmi('follows');
    await patchGate(pod, 'True');
    const ready = await cluster.waitFor(
      async () => {
        const p = await podNamed(pod);
        return cond(p, 'Ready')?.status === 'True' ? p : undefined;
      },
      { description: 'pod Ready True' },
    );
    // The strategic merge kept the kubelet's and KubeVirt's conditions.
    expect(ready.status?.conditions?.map((c) => c.type).sort()).toEqual(
      [
        'ContainersReady',
        'Initialized',
        'PodReadyToStartContainers',
        'PodScheduled',
        'Ready',
        'kubevirt.io/virtual-machine-unpaused',
        GATE,
      ].sort(),
    );
    expect(cond(ready, GATE)).toMatchObject({ status: 'True', reason: 'ProbeSucceeded' });
    expect(cond(ready, 'kubevirt.io/virtual-machine-unpaused')?.status).toBe('True');
    await cluster.waitForVmi('default', 'follows', (v) => cond(v, 'Ready')?.status === 'True', {
      description: 'VMI Ready True',
    });

    await patchGate(pod, 'False');
    const notReady = await cluster.waitFor(
      async () => {
        const p = await podNamed(pod);
        return cond(p, 'Ready')?.status === 'False' ? p : undefined;
      },
      { description: 'pod Ready False' },
    );
    expect(cond(notReady, 'Ready')).toMatchObject({
      reason: 'ReadinessGatesNotReady',
      message: `the status of pod readiness gate "${GATE}" is not "True", but False`,
    });
    expect(cond(notReady, 'ContainersReady')?.status).toBe('True');
    const vmi = await cluster.waitForVmi('default', 'follows', (v) => cond(v, 'Ready')?.status === 'False', {
      description: 'VMI Ready False',
    });
    expect(vmi.status?.phase).toBe('Running');
  });

  it("a Service's EndpointSlice drops the pod from its ready endpoints while not ready and regains it", async () => {
    const { pod } = await startVmi('served', { app: 'web' });
    const ip = pod.status?.podIP ?? '';
    await cluster.core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 1500 as never }] },
      },
    });
    const slice = async (): Promise<V1EndpointSlice | undefined> =>
      (
        await cluster.discovery.listNamespacedEndpointSlice({
          namespace: 'default',
          labelSelector: 'kubernetes.io/service-name=web',
        })
      ).items[0];
    const readyIps = (s: V1EndpointSlice | undefined) =>
      (s?.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses);

    const first = await cluster.waitFor(
      async () => {
        const s = await slice();
        return s?.endpoints?.length === 1 ? s : undefined;
      },
      { description: 'slice with the pod' },
    );
    expect(first.addressType).toBe('IPv4');
    expect(first.ports).toEqual([expect.objectContaining({ name: 'http', port: 1500, protocol: 'TCP' })]);
    expect(first.endpoints[0]).toMatchObject({
      addresses: [ip],
      conditions: { ready: false, serving: false, terminating: false },
      nodeName: 'node-a',
      targetRef: { kind: 'Pod', name: pod.metadata?.name, namespace: 'default', uid: pod.metadata?.uid },
    });
    expect(first.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Service',
      name: 'web',
      controller: true,
    });

    await patchGate(pod, 'True');
    await cluster.waitFor(async () => readyIps(await slice()).includes(ip), {
      description: 'endpoint ready',
    });
    await patchGate(pod, 'False');
    await cluster.waitFor(
      async () => {
        const s = await slice();
        return s !== undefined && readyIps(s).length === 0 && s.endpoints.length === 1;
      },
      { description: 'endpoint not ready' },
    );
    await patchGate(pod, 'True');
    await cluster.waitFor(async () => readyIps(await slice()).includes(ip), {
      description: 'endpoint ready again',
    });

    // A deleted VMI's pod leaves the slice altogether.
    await cluster.deleteVmi('default', 'served');
    await cluster.waitFor(async () => (await slice())?.endpoints?.length === 0, {
      description: 'endpoint removed',
    });
  });
});
