// Fidelity: bearer-token authentication and RBAC enforcement (403 with the real message shape).
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiFailure,
  type Emulator,
  KUBEVIRT_CONTROLLER_USER,
  REPO_ROOT,
  startEmulator,
  VMPROBE_AGENT_USER,
} from '../src/emulator/index.js';

const AGENT_ROLE = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'vmprobe-test' },
  rules: [
    { apiGroups: ['kubevirt.io'], resources: ['virtualmachineinstances'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
    { apiGroups: ['vmprobe.io'], resources: ['vmiprobestatuses/status'], verbs: ['patch'] },
  ],
};
const BINDING = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: 'vmprobe-test' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'vmprobe-test' },
  subjects: [{ kind: 'ServiceAccount', name: 'vmprobe', namespace: 'vmprobe-system' }],
};

let emu: Emulator;
let core: CoreV1Api;

beforeAll(async () => {
  emu = await startEmulator({ rbacFiles: [join(REPO_ROOT, 'test/fixtures/rbac/kubevirt.yaml')] });
  emu.loadRbac([AGENT_ROLE, BINDING]);
  core = emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CoreV1Api);
  emu.store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'i' }] },
  });
});
afterAll(async () => {
  await emu.stop();
});

describe('emulator authentication and RBAC', () => {
  it('an unknown or missing token is 401 Unauthorized', async () => {
    const res = await fetch(`${emu.url}/api/v1/pods`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { reason: string }).reason).toBe('Unauthorized');
    expect((await fetch(`${emu.url}/api/v1/pods`)).status).toBe(401);
  });

  it('allowed calls pass; a forbidden one is 403 with the real message', async () => {
    expect((await core.listPodForAllNamespaces()).items).toHaveLength(1);
    const f = await apiFailure(core.deleteNamespacedPod({ namespace: 'default', name: 'p' }));
    expect(f.code).toBe(403);
    expect(f.status.reason).toBe('Forbidden');
    expect(f.status.message).toBe(
      `pods "p" is forbidden: User "${VMPROBE_AGENT_USER}" cannot delete resource "pods" in API group "" in the namespace "default"`,
    );
    const g = await apiFailure(core.listNamespace());
    expect(g.status.message).toBe(
      `namespaces is forbidden: User "${VMPROBE_AGENT_USER}" cannot list resource "namespaces" in API group "" at the cluster scope`,
    );
  });

  it('a subresource needs its own rule; dropping one rule via loadRbac breaks exactly that call', async () => {
    const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    const patch = () =>
      core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'p',
          body: { status: { conditions: [{ type: 'vmprobe.io/ReadinessProbe', status: 'True' }] } },
        },
        strategic,
      );
    await patch();
    emu.loadRbac([
      { ...AGENT_ROLE, rules: AGENT_ROLE.rules.filter((r) => !r.resources.includes('pods/status')) },
    ]);
    const f = await apiFailure(patch());
    expect(f.code).toBe(403);
    expect(f.status.message).toContain('cannot patch resource "pods/status"');
    // Everything else still works.
    await core.readNamespacedPod({ namespace: 'default', name: 'p' });
    const custom = emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CustomObjectsApi);
    await custom.listClusterCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachineinstances',
    });
    emu.loadRbac([AGENT_ROLE]);
    await patch();
  });

  it("KubeVirt's identities are authorised by the fixture's rules; admin bypasses RBAC; discovery is open", async () => {
    const kv = emu.kubeConfig(KUBEVIRT_CONTROLLER_USER).makeApiClient(CoreV1Api);
    await kv.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'launcher' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    expect((await apiFailure(kv.listNode())).code).toBe(403);
    await emu.kubeConfig('admin').makeApiClient(CoreV1Api).listNode();
    const res = await fetch(`${emu.url}/apis`, {
      headers: { authorization: `Bearer ${emu.tokenFor('system:serviceaccount:x:y')}` },
    });
    expect(res.status).toBe(200);
  });
});
