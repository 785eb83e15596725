// The same lifecycle over HTTPS (the emulator's own CA in the controllers' kubeconfig) and, as
// root, with VMs in their own network namespaces — where a paused VM drops packets for real.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SEED_VMI_FILES,
  startTestCluster,
  type TestCluster,
  type TestClusterOptions,
} from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { httpStatus } from '../src/vmsim/clients.js';
import { logSkip, netnsUnavailable } from '../src/vmsim/index.js';

const started: TestCluster[] = [];

afterAll(async () => {
  for (const c of started) await c.stop();
});

/** A test cluster stopped in afterAll. */
async function startCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const cluster = await startTestCluster(opts);
  started.push(cluster);
  return cluster;
}

describe('over HTTPS', () => {
  it('the controllers reach the emulator through its CA and run a seed VMI', async () => {
    const cluster = await startCluster({ tls: true });
    expect(cluster.emu.url).toMatch(/^https:/);
    await cluster.loadVmi(SEED_VMI_FILES.httpLiveness, { name: 'tls-vmi' });
    const { pod } = await cluster.waitForRunning('default', 'tls-vmi');
    expect(await httpStatus(pod.status?.podIP ?? '')).toBe(200);
  });
});

describe('with RBAC enforced', () => {
  it("KubeVirt's RBAC fixture is all the emulated controllers need", async () => {
    const denied: unknown[] = [];
    const cluster = await startCluster({
      rbacFiles: [], // enforce: only test/fixtures/rbac/kubevirt.yaml grants anything
      nodes: ['node-a', 'node-b'],
      onControllerError: (_c, _k, err) => {
        if ((err as { code?: number }).code === 403) denied.push(err);
      },
    });
    await cluster.loadVmi(SEED_VMI_FILES.readiness, { name: 'rbac-vmi' });
    await cluster.waitForRunning('default', 'rbac-vmi');
    await cluster.kubevirt.pause('default', 'rbac-vmi');
    await cluster.kubevirt.unpause('default', 'rbac-vmi');
    await cluster.kubevirt.startMigration('default', 'rbac-vmi', 'node-b');
    await cluster.kubevirt.completeMigration('default', 'rbac-vmi');
    await cluster.waitForVmi('default', 'rbac-vmi', (v) => v.status?.nodeName === 'node-b');
    expect(cluster.emu.requests.filter((r) => r.status === 403)).toEqual([]);
    expect(denied).toEqual([]);
    // RBAC really is enforced: an identity without a binding is refused.
    const stranger = cluster.emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CoreV1Api);
    await expect(stranger.listNamespacedPod({ namespace: 'default' })).rejects.toMatchObject({ code: 403 });
  });
});

describe('VMs in network namespaces (root)', () => {
  logSkip('netns-mode KubeVirt tests', netnsUnavailable);

  it.skipIf(netnsUnavailable !== undefined)(
    'a seed VMI runs on its namespace address; pause makes it unreachable, unpause restores it',
    async () => {
      const cluster = await startCluster({ vmsimMode: 'netns' });
      await cluster.loadVmi(SEED_VMI_FILES.readiness, { name: 'ns-vmi' });
      const { vmi, pod } = await cluster.waitForRunning('default', 'ns-vmi', { timeoutMs: 20_000 });
      const ip = pod.status?.podIP ?? '';
      expect(ip).not.toMatch(/^127\./);
      expect(vmi.status?.interfaces?.[0]?.ipAddresses).toEqual(pod.status?.podIPs?.map((p) => p.ip));
      expect(await httpStatus(ip)).toBe(200);

      await cluster.kubevirt.pause('default', 'ns-vmi');
      await expect(httpStatus(ip)).rejects.toThrow();
      await cluster.kubevirt.unpause('default', 'ns-vmi');
      expect(await httpStatus(ip)).toBe(200);
    },
    60_000,
  );
});
