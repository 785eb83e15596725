// Node-bound writes (design §7): the shipped ValidatingAdmissionPolicy
// (manifests/base/node-bound-writes.yaml), evaluated by the emulator with a real CEL implementation,
// lets the agent of node-a act only on node-a: its token carries the node claim
// (authentication.kubernetes.io/node-name) as a kubelet-mounted bound token does. The agent's own
// write path (createKubeWrites) is used for every call.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKubeWrites } from '@vmprobe/agent/kube/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { REPO_ROOT, VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import type { KubeObject } from '../src/emulator/util.js';
import {
  type AgentBed,
  agentRbacFiles,
  FAST_TIMINGS,
  seedVmi,
  startAgentBed,
  waitForCondition,
} from './agent-helpers.js';

const POLICY_FILE = join(REPO_ROOT, 'manifests/base/node-bound-writes.yaml');

function policyObjects(): KubeObject[] {
  return parseAllDocuments(readFileSync(POLICY_FILE, 'utf8')).map((d) => d.toJS() as KubeObject);
}

const condition = (status: 'True' | 'False') => ({
  type: 'vmprobe.io/ReadinessProbe',
  status,
  reason: status === 'True' ? 'ProbeSucceeded' : 'ProbeFailed',
  message: 'test',
  lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
});

describe('node-bound writes (ValidatingAdmissionPolicy)', () => {
  let bed: AgentBed;
  let cluster: TestCluster;
  const pods: Record<string, { name: string; uid: string }> = {};

  beforeAll(async () => {
    // An agent on node-a (liveness action none: this test makes the deletes itself) with the policy
    // in force: its normal writes must pass.
    bed = await startAgentBed({
      cluster: { nodes: ['node-a', 'node-b'], vmprobeReadinessGate: true, rbacFiles: agentRbacFiles() ?? [] },
      agents: [{ liveness: undefined }],
    });
    cluster = bed.cluster;
    for (const o of policyObjects()) cluster.emu.store.create(o);
    for (const [name, node] of [
      ['vm-a', 'node-a'],
      ['vm-a2', 'node-a'],
      ['vm-b', 'node-b'],
    ] as const) {
      const vmi = await seedVmi(SEED_VMI_FILES.readiness, name, FAST_TIMINGS);
      vmi.metadata = {
        ...vmi.metadata,
        annotations: { ...vmi.metadata?.annotations, 'vmprobe.test/node': node },
      };
      await cluster.createVmi(vmi);
    }
    for (const name of ['vm-a', 'vm-a2', 'vm-b']) {
      const { pod } = await cluster.waitForRunning('default', name, { timeoutMs: 60_000 });
      pods[name] = { name: pod.metadata?.name as string, uid: pod.metadata?.uid as string };
      expect(pod.spec?.nodeName).toBe(name === 'vm-b' ? 'node-b' : 'node-a');
    }
  }, 120_000);

  afterAll(async () => {
    await bed?.stop();
  });

  const writesAs = (nodeName?: string) =>
    createKubeWrites({
      kubeConfig: cluster.emu.kubeConfig(VMPROBE_AGENT_USER, nodeName ? { nodeName } : {}),
      nodeName: nodeName ?? 'node-a',
    });

  it('the agent of node-a works normally under the policy (its VMIProbeStatus and pod condition are written)', async () => {
    await waitForCondition(cluster, 'default', 'vm-a', 'ReadinessProbe', 'True', 30_000);
    const pod = (await cluster.launcherPods('default', 'vm-a'))[0];
    expect(pod?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe')?.status).toBe('True');
    const denied = cluster.emu.requests.filter((r) => r.user === VMPROBE_AGENT_USER && r.status === 403);
    expect(denied).toEqual([]);
  });

  it('denies the agent of node-a patching the condition of node-b’s launcher pod, allows its own', async () => {
    const a = writesAs('node-a');
    await expect(
      a.patchPodCondition('default', pods['vm-b']!.name, condition('False')),
    ).rejects.toMatchObject({
      status: 403,
      code: 'Forbidden',
    });
    const stored = (await cluster.launcherPods('default', 'vm-b'))[0];
    expect(stored?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe')?.reason).not.toBe(
      'ProbeFailed',
    );
    await expect(
      a.patchPodCondition('default', pods['vm-a2']!.name, condition('True')),
    ).resolves.toBeDefined();
  });

  it('denies changing any other pod condition, even on its own node', async () => {
    const kc = cluster.emu.kubeConfig(VMPROBE_AGENT_USER, { nodeName: 'node-a' });
    const { CoreV1Api, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const core = kc.makeApiClient(CoreV1Api);
    const err = await core
      .patchNamespacedPodStatus(
        {
          name: pods['vm-a2']!.name,
          namespace: 'default',
          body: { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      )
      .then(
        () => undefined,
        (e: { code?: number; body?: string }) => e,
      );
    expect(err?.code).toBe(403);
    expect(String(err?.body)).toContain('may change only the vmprobe.io/ReadinessProbe condition');
  });

  it('denies the agent of node-a deleting node-b’s launcher pod, allows deleting its own', async () => {
    const a = writesAs('node-a');
    await expect(a.deletePod('default', pods['vm-b']!.name, pods['vm-b']!.uid, 0)).rejects.toMatchObject({
      status: 403,
    });
    expect((await cluster.launcherPods('default', 'vm-b')).map((p) => p.metadata?.uid)).toContain(
      pods['vm-b']!.uid,
    );
    await expect(a.deletePod('default', pods['vm-a2']!.name, pods['vm-a2']!.uid, 0)).resolves.toBeDefined();
  });

  it('with the delete-vmi rule, denies deleting a VMI of another node, allows its own', async () => {
    // the delete-vmi overlay's extra right (manifests/overlays/delete-vmi), granted here directly
    cluster.emu.loadRbac([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'vmprobe-delete-vmi' },
        rules: [{ apiGroups: ['kubevirt.io'], resources: ['virtualmachineinstances'], verbs: ['delete'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'vmprobe-delete-vmi' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'vmprobe-delete-vmi' },
        subjects: [{ kind: 'ServiceAccount', name: 'vmprobe', namespace: 'vmprobe-system' }],
      },
    ]);
    const a = writesAs('node-a');
    const uidOf = (name: string) =>
      cluster.emu.store.get({
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        namespace: 'default',
        name,
      })?.metadata?.uid as string;
    const err = await a.deleteVmi('default', 'vm-b', uidOf('vm-b')).then(
      () => undefined,
      (e: { status?: number; message?: string }) => e,
    );
    expect(err?.status).toBe(403);
    expect(err?.message).toContain('may delete only VMIs running on its node');
    expect(uidOf('vm-b')).toBeTruthy();
    // vm-a2 (its launcher pod deleted above, so Failed) still names node-a in status.nodeName
    await expect(a.deleteVmi('default', 'vm-a2', uidOf('vm-a2'))).resolves.toBeDefined();
  });

  it('denies VMIProbeStatus writes for another node, and everything to a token without the node claim', async () => {
    const a = writesAs('node-a');
    await expect(
      // vm-a's object (written by node-a's agent) claimed for node-b
      a.patchProbeStatusStatus('default', 'vm-a', { nodeName: 'node-b' } as never),
    ).rejects.toMatchObject({ status: 403 });
    await expect(
      a.patchProbeStatusMetadata('default', 'vm-a', { labels: { 'vmprobe.io/node': 'node-b' } }),
    ).rejects.toMatchObject({ status: 403 });
    const unbound = writesAs(undefined);
    await expect(
      unbound.patchPodCondition('default', pods['vm-a']!.name, condition('True')),
    ).rejects.toMatchObject({
      status: 403,
    });
  });
});
