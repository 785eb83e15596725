// Fidelity: KubeVirt's VMI admission (status revert for non-KubeVirt identities) and the seed VMIs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  apiFailure,
  type Emulator,
  KUBEVIRT_CONTROLLER_USER,
  REPO_ROOT,
  startEmulator,
  VMPROBE_AGENT_USER,
} from '../src/emulator/index.js';

let emu: Emulator;
let agent: CustomObjectsApi;
let controller: CustomObjectsApi;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const VMI = { group: 'kubevirt.io', version: 'v1', namespace: 'default', plural: 'virtualmachineinstances' };
type Vmi = {
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string> };
  status?: { phase?: string };
  spec: Record<string, unknown>;
};

beforeAll(async () => {
  emu = await startEmulator();
  agent = emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CustomObjectsApi);
  controller = emu.kubeConfig(KUBEVIRT_CONTROLLER_USER).makeApiClient(CustomObjectsApi);
  await controller.createNamespacedCustomObject({
    ...VMI,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { name: 'adm' },
      spec: { domain: {} },
    },
  });
  await controller.replaceNamespacedCustomObject({
    ...VMI,
    name: 'adm',
    body: {
      ...(await controller.getNamespacedCustomObject({ ...VMI, name: 'adm' })),
      status: { phase: 'Running' },
    },
  });
});
afterAll(async () => {
  await emu.stop();
});

describe('KubeVirt VMI admission', () => {
  it('KubeVirt identities store status changes', async () => {
    const v = (await controller.getNamespacedCustomObject({ ...VMI, name: 'adm' })) as Vmi;
    expect(v.status?.phase).toBe('Running');
  });

  it('a merge patch of status by the agent answers 200 and stores nothing', async () => {
    const before = (await agent.getNamespacedCustomObject({ ...VMI, name: 'adm' })) as Vmi;
    const res = (await agent.patchNamespacedCustomObject(
      {
        ...VMI,
        name: 'adm',
        body: { status: { phase: 'Failed', conditions: [{ type: 'Ready', status: 'False' }] } },
      },
      merge,
    )) as Vmi;
    expect(res.status?.phase).toBe('Running');
    const after = (await agent.getNamespacedCustomObject({ ...VMI, name: 'adm' })) as Vmi;
    expect(after.status).toEqual(before.status);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('a json patch and an update of status by the agent are reverted too; label changes in the same write are kept', async () => {
    await agent.patchNamespacedCustomObject({
      ...VMI,
      name: 'adm',
      body: [{ op: 'replace', path: '/status/phase', value: 'Failed' }],
    });
    const cur = (await agent.getNamespacedCustomObject({ ...VMI, name: 'adm' })) as Vmi;
    expect(cur.status?.phase).toBe('Running');
    const upd = (await agent.replaceNamespacedCustomObject({
      ...VMI,
      name: 'adm',
      body: {
        ...cur,
        metadata: { ...cur.metadata, labels: { seen: 'yes' } },
        status: { phase: 'Succeeded' },
      },
    })) as Vmi;
    expect(upd.status?.phase).toBe('Running');
    expect(upd.metadata.labels?.seen).toBe('yes');
  });

  it('a VMI created by a non-KubeVirt identity has its status dropped', async () => {
    const v = (await agent.createNamespacedCustomObject({
      ...VMI,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'adm2' },
        spec: { domain: {} },
        status: { phase: 'Running' },
      },
    })) as Vmi;
    expect(v.status).toBeUndefined();
  });

  it('a spec change by a non-KubeVirt identity is denied by the validating webhook (422)', async () => {
    const f = await apiFailure(
      agent.patchNamespacedCustomObject(
        { ...VMI, name: 'adm', body: { spec: { domain: { cpu: { cores: 2 } } } } },
        merge,
      ),
    );
    expect(f.code).toBe(422);
    expect(f.status.message).toContain('admission webhook');
  });

  it("the seed's three VMI manifests load verbatim (v1alpha3) and keep their probes", async () => {
    const objs = KubernetesObjectApi.makeApiClient(emu.kubeConfig('admin'));
    const files = ['vmi-http-liveness.yaml', 'vmi-tcp-liveness.yaml', 'vmi-readiness.yaml'];
    for (const [i, f] of files.entries()) {
      const doc = parse(readFileSync(join(REPO_ROOT, 'test/fixtures/seed', f), 'utf8'));
      doc.metadata.namespace = `seed-${i}`;
      await objs.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `seed-${i}` } });
      const created = (await objs.create(doc)) as unknown as Vmi;
      expect(created.metadata.name).toBe('vmi-fedora');
      const spec = created.spec as { livenessProbe?: unknown; readinessProbe?: unknown; volumes: unknown[] };
      expect(spec.livenessProbe ?? spec.readinessProbe).toEqual(
        doc.spec.livenessProbe ?? doc.spec.readinessProbe,
      );
      expect(spec.volumes).toEqual(doc.spec.volumes);
    }
  });
});
