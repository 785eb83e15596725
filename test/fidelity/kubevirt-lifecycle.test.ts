// The emulated KubeVirt lifecycle against the real API emulator and the VM simulator (loopback),
// driven through @kubernetes/client-node: the seed VMIs, launcher pods, failure and deletion.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import type { Vmi } from '../src/kubevirt/index.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: ['node-a', 'node-b'] });
});

afterAll(async () => {
  await cluster?.stop();
});

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'GET', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function condition(obj: { status?: { conditions?: Array<{ type: string; status: string }> } }, type: string) {
  return obj.status?.conditions?.find((c) => c.type === type);
}

const seeds = [
  { file: SEED_VMI_FILES.httpLiveness, name: 'vmi-fedora-http' },
  { file: SEED_VMI_FILES.tcpLiveness, name: 'vmi-fedora-tcp' },
  { file: SEED_VMI_FILES.readiness, name: 'vmi-fedora-ready' },
];

describe('seed VMIs', () => {
  it('load verbatim and reach Running with launcher pods and addresses that answer on port 1500', async () => {
    for (const s of seeds) {
      const manifest = await readManifest<Vmi>(s.file);
      expect(manifest.apiVersion).toBe('kubevirt.io/v1alpha3');
      const created = await cluster.loadVmi(s.file, { name: s.name });
      expect(created.spec).toEqual(manifest.spec);
    }
    for (const s of seeds) {
      const manifest = await readManifest<Vmi>(s.file);
      const { vmi, pod } = await cluster.waitForRunning('default', s.name);
      const uid = vmi.metadata?.uid ?? '';

      // The VMI, as KubeVirt reports it.
      expect(vmi.spec).toEqual(manifest.spec);
      expect(vmi.status?.phaseTransitionTimestamps?.map((t) => t.phase)).toEqual([
        'Pending',
        'Scheduling',
        'Scheduled',
        'Running',
      ]);
      for (const t of vmi.status?.phaseTransitionTimestamps ?? [])
        expect(t.phaseTransitionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(cluster.nodes).toContain(vmi.status?.nodeName);
      expect(vmi.metadata?.labels?.['kubevirt.io/nodeName']).toBe(vmi.status?.nodeName);
      expect(vmi.metadata?.labels?.special).toBe('vmi-fedora');
      const iface = vmi.status?.interfaces?.[0];
      expect(iface).toMatchObject({
        name: 'default',
        ipAddress: pod.status?.podIP,
        interfaceName: 'eth0',
        infoSource: 'domain, guest-agent',
      });
      expect(iface?.ipAddresses).toContain(pod.status?.podIP);
      expect(iface?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(vmi.status?.activePods).toEqual({ [pod.metadata?.uid ?? '']: vmi.status?.nodeName });

      // Its virt-launcher pod, as virt-controller renders it and the kubelet runs it.
      expect(pod.metadata?.name).toMatch(
        new RegExp(`^virt-launcher-${s.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`),
      );
      expect(pod.metadata?.labels).toMatchObject({
        'kubevirt.io': 'virt-launcher',
        'kubevirt.io/created-by': uid,
        'vm.kubevirt.io/name': s.name,
        special: 'vmi-fedora',
      });
      expect(pod.metadata?.ownerReferences).toEqual([
        expect.objectContaining({
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          name: s.name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        }),
      ]);
      expect(pod.spec?.nodeName).toBe(vmi.status?.nodeName);
      expect(pod.spec?.readinessGates).toEqual([{ conditionType: 'kubevirt.io/virtual-machine-unpaused' }]);
      expect(pod.spec?.containers.map((c) => c.name)).toEqual(['compute']);
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({ name: 'compute', ready: true });
      await cluster.waitFor(
        async () => {
          const p = (await cluster.launcherPods('default', s.name))[0];
          return p && condition(p, 'Ready')?.status === 'True' ? p : undefined;
        },
        { description: `${s.name}'s launcher pod Ready` },
      );
      const ready = await cluster.waitForVmi(
        'default',
        s.name,
        (v) => condition(v, 'Ready')?.status === 'True',
      );
      expect(condition(ready, 'Ready')?.status).toBe('True');

      // The address answers like the seed's cloud-init HTTP server.
      const res = await httpGet(pod.status?.podIP ?? '', 1500);
      expect(res.status).toBe(200);
      expect(res.body).toContain('Hello World!');
      expect(cluster.kubevirt.vmFor('default', s.name)?.ip).toBe(pod.status?.podIP);
    }
    const ips = new Set(
      await Promise.all(
        seeds.map(async (s) => (await cluster.getVmi('default', s.name))?.status?.interfaces?.[0]?.ipAddress),
      ),
    );
    expect(ips.size).toBe(seeds.length);
  });

  it('a settled cluster makes no writes (so request-log assertions about the agent stay meaningful)', async () => {
    for (const s of seeds)
      await cluster.waitForVmi('default', s.name, (v) => condition(v, 'Ready')?.status === 'True');
    await cluster.waitFor(async () => cluster.kubevirt.idle, { description: 'controllers idle' });
    const since = Date.now();
    // An observation window, not a synchronisation: nothing is supposed to happen in it.
    await new Promise((r) => setTimeout(r, 500));
    expect(cluster.kubevirt.idle).toBe(true);
    expect(
      cluster.emu.requests
        .since(since)
        .filter((r) => r.verb !== 'get' && r.verb !== 'list' && r.verb !== 'watch'),
    ).toEqual([]);
  });

  it('places a VMI on the node its nodeSelector names', async () => {
    const manifest = await readManifest<Vmi>(SEED_VMI_FILES.readiness);
    manifest.spec = { ...manifest.spec, nodeSelector: { 'kubernetes.io/hostname': 'node-b' } };
    await cluster.createVmi(manifest, { name: 'pinned' });
    const { vmi, pod } = await cluster.waitForRunning('default', 'pinned');
    expect(vmi.status?.nodeName).toBe('node-b');
    expect(pod.spec?.nodeName).toBe('node-b');
  });
});

describe('launcher pod and VMI lifetime', () => {
  it('a deleted launcher pod fails its VMI and destroys the simulated VM', async () => {
    await cluster.loadVmi(SEED_VMI_FILES.httpLiveness, { name: 'doomed' });
    const { vmi, pod } = await cluster.waitForRunning('default', 'doomed');
    const uid = vmi.metadata?.uid ?? '';
    expect(cluster.vmsim.vm(uid)).toBeDefined();
    // With the pod's grace period, as the kubelet's kill would end it.
    await cluster.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace: 'default' });
    const failed = await cluster.waitForVmi('default', 'doomed', (v) => v.status?.phase === 'Failed');
    expect(failed.metadata?.uid).toBe(uid);
    expect(failed.status?.phaseTransitionTimestamps?.at(-1)?.phase).toBe('Failed');
    expect(condition(failed, 'Ready')?.status).toBe('False');
    await cluster.waitFor(async () => cluster.vmsim.vm(uid) === undefined, { description: 'VM destroyed' });
    await cluster.waitFor(async () => (await cluster.launcherPods('default', 'doomed')).length === 0, {
      description: 'terminated launcher pod removed',
    });
    // A failed VMI stays failed: nothing restarts it without a VM or VMIRS.
    const again = await cluster.getVmi('default', 'doomed');
    expect(again?.status?.phase).toBe('Failed');
  });

  it('deleting a VMI garbage-collects its launcher pod and a VMIProbeStatus it owns', async () => {
    await cluster.loadVmi(SEED_VMI_FILES.readiness, { name: 'gc-me' });
    const { vmi } = await cluster.waitForRunning('default', 'gc-me');
    const uid = vmi.metadata?.uid ?? '';
    await cluster.custom.createNamespacedCustomObject({
      group: 'vmprobe.io',
      version: 'v1alpha1',
      plural: 'vmiprobestatuses',
      namespace: 'default',
      body: {
        apiVersion: 'vmprobe.io/v1alpha1',
        kind: 'VMIProbeStatus',
        metadata: {
          name: 'gc-me',
          namespace: 'default',
          ownerReferences: [
            { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'gc-me', uid },
          ],
        },
      },
    });
    await cluster.deleteVmi('default', 'gc-me');
    await cluster.waitFor(
      async () => {
        const pods = await cluster.core.listNamespacedPod({
          namespace: 'default',
          labelSelector: `kubevirt.io/created-by=${uid}`,
        });
        return pods.items.length === 0;
      },
      { description: 'launcher pod collected' },
    );
    await cluster.waitFor(
      async () => {
        try {
          await cluster.custom.getNamespacedCustomObject({
            group: 'vmprobe.io',
            version: 'v1alpha1',
            plural: 'vmiprobestatuses',
            namespace: 'default',
            name: 'gc-me',
          });
          return false;
        } catch (err) {
          return (err as { code?: number }).code === 404;
        }
      },
      { description: 'VMIProbeStatus collected' },
    );
    await cluster.waitFor(async () => cluster.vmsim.vm(uid) === undefined, { description: 'VM destroyed' });
  });
});
