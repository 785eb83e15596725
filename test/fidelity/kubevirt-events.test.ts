// The emulated components' Events (scheduler, kubelet, virt-controller, virt-handler, the VM
// controller) and the launcher pod's resources / QoS class, through @kubernetes/client-node.
import type { CoreV1Event } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import type { Vmi } from '../src/kubevirt/index.js';

let cluster: TestCluster;
const NS = 'default';

beforeAll(async () => {
  cluster = await startTestCluster({ timing: { bootMs: 10, terminateMs: 10 } });
});
afterAll(async () => {
  await cluster?.stop();
});

async function eventsOf(kind: string, name: string): Promise<CoreV1Event[]> {
  const list = await cluster.core.listNamespacedEvent({
    namespace: NS,
    fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
  });
  return list.items;
}

async function waitForReasons(kind: string, name: string, reasons: string[]): Promise<CoreV1Event[]> {
  return cluster.waitFor(
    async () => {
      const evs = await eventsOf(kind, name);
      return reasons.every((r) => evs.some((e) => e.reason === r)) ? evs : undefined;
    },
    { timeoutMs: 15_000, description: `${kind}/${name} events ${reasons.join(', ')}` },
  );
}

describe('Events', () => {
  it('a VMI’s start reads like a real cluster: Scheduled, Pulled, Created, Started on the pod; SuccessfulCreate, Created, Started on the VMI', async () => {
    await cluster.loadVmi(SEED_VMI_FILES.tcpLiveness, { name: 'ev-a' });
    const { pod } = await cluster.waitForRunning(NS, 'ev-a');
    const podName = pod.metadata?.name ?? '';
    const podEvents = await waitForReasons('Pod', podName, ['Scheduled', 'Pulled', 'Created', 'Started']);
    const by = (r: string) => podEvents.find((e) => e.reason === r) as CoreV1Event;
    expect(by('Scheduled')).toMatchObject({
      type: 'Normal',
      message: `Successfully assigned ${NS}/${podName} to node-a`,
      source: { component: 'default-scheduler' },
    });
    expect(by('Started')).toMatchObject({
      message: 'Started container compute',
      source: { component: 'kubelet', host: 'node-a' },
      involvedObject: {
        kind: 'Pod',
        name: podName,
        fieldPath: 'spec.containers{compute}',
        uid: pod.metadata?.uid,
      },
    });
    expect(by('Pulled').message).toMatch(/^Container image ".+" already present on machine$/);
    const vmiEvents = await waitForReasons('VirtualMachineInstance', 'ev-a', [
      'SuccessfulCreate',
      'Created',
      'Started',
    ]);
    const sc = vmiEvents.find((e) => e.reason === 'SuccessfulCreate') as CoreV1Event;
    expect(sc.message).toBe(`Created virtual machine pod ${podName}`);
    expect(sc.source?.component).toBe('virtualmachine-controller');
    const started = vmiEvents.find((e) => e.reason === 'Started') as CoreV1Event;
    expect(started).toMatchObject({
      message: 'VirtualMachineInstance started.',
      source: { component: 'virt-handler', host: 'node-a' },
    });
  });

  it('a launcher pod deleted: the kubelet’s Killing on the pod, virt-handler’s Stopped on the VMI', async () => {
    const { pod } = await cluster.waitForRunning(NS, 'ev-a');
    const podName = pod.metadata?.name ?? '';
    await cluster.core.deleteNamespacedPod({ name: podName, namespace: NS, gracePeriodSeconds: 30 });
    const killing = (await waitForReasons('Pod', podName, ['Killing'])).find((e) => e.reason === 'Killing');
    expect(killing).toMatchObject({
      type: 'Normal',
      message: 'Stopping container compute',
      source: { component: 'kubelet' },
    });
    const stopped = (await waitForReasons('VirtualMachineInstance', 'ev-a', ['Stopped'])).find(
      (e) => e.reason === 'Stopped',
    );
    expect(stopped?.message).toBe('The VirtualMachineInstance was shut down.');
  });

  it('a VirtualMachine records SuccessfulCreate of its VMI', async () => {
    const vmi = await readManifest<Vmi>(SEED_VMI_FILES.tcpLiveness);
    await cluster.custom.createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachines',
      namespace: NS,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: 'ev-vm' },
        spec: { runStrategy: 'Always', template: { metadata: { labels: { app: 'ev-vm' } }, spec: vmi.spec } },
      },
    });
    const evs = await waitForReasons('VirtualMachine', 'ev-vm', ['SuccessfulCreate']);
    expect(evs.find((e) => e.reason === 'SuccessfulCreate')?.message).toBe(
      'Started the virtual machine by creating the new virtual machine instance ev-vm',
    );
  });
});

describe('launcher pod resources', () => {
  it('carry the VMI’s requests and limits, so the pod’s QoS class and the VMI’s match (Guaranteed)', async () => {
    const vmi = await readManifest<Vmi>(SEED_VMI_FILES.tcpLiveness);
    const domain = vmi.spec?.domain as Record<string, unknown>;
    domain.resources = { requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } };
    await cluster.createVmi(vmi, { name: 'qos-g' });
    const { vmi: running, pod } = await cluster.waitForRunning(NS, 'qos-g');
    expect(pod.spec?.containers?.[0]?.resources).toEqual({
      requests: { cpu: '2', memory: '2Gi' },
      limits: { cpu: '2', memory: '2Gi' },
    });
    expect(pod.status?.qosClass).toBe('Guaranteed');
    expect(running.status?.qosClass).toBe('Guaranteed');
  });

  it('the seed’s memory-only request gives Burstable on both', async () => {
    await cluster.loadVmi(SEED_VMI_FILES.readiness, { name: 'qos-b' });
    const { vmi, pod } = await cluster.waitForRunning(NS, 'qos-b');
    expect(pod.spec?.containers?.[0]?.resources?.requests).toEqual({ memory: '1024M', cpu: '100m' });
    expect(pod.status?.qosClass).toBe('Burstable');
    expect(vmi.status?.qosClass).toBe('Burstable');
  });
});
