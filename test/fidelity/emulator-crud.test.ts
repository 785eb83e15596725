// Fidelity: CRUD semantics of the API emulator through @kubernetes/client-node.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  type V1Pod,
  VersionApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFailure, type Emulator, startEmulator, waitFor } from '../src/emulator/index.js';

let emu: Emulator;
let core: CoreV1Api;
let custom: CustomObjectsApi;

const pod = (name: string, extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...extra },
});

beforeAll(async () => {
  emu = await startEmulator();
  core = emu.kubeConfig('admin').makeApiClient(CoreV1Api);
  custom = emu.kubeConfig('admin').makeApiClient(CustomObjectsApi);
});
afterAll(async () => {
  await emu.stop();
});

describe('emulator CRUD', () => {
  it('create assigns uid, creationTimestamp and a resourceVersion from one global counter; pod status reset to Pending', async () => {
    const a = await core.createNamespacedPod({ namespace: 'default', body: pod('crud-a') });
    const b = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'crud-svc' }, spec: { ports: [{ port: 80 }] } },
    });
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(Number(a.metadata?.resourceVersion));
    expect(a.status?.phase).toBe('Pending');
    expect(b.spec?.clusterIP).toMatch(/^10\.96\./);
  });

  it('create of an existing name is 409 AlreadyExists; generateName gets a suffix', async () => {
    const f = await apiFailure(core.createNamespacedPod({ namespace: 'default', body: pod('crud-a') }));
    expect(f.code).toBe(409);
    expect(f.status.reason).toBe('AlreadyExists');
    expect(f.status.message).toBe('pods "crud-a" already exists');
    const g = await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { generateName: 'gen-' }, spec: pod('x').spec },
    });
    expect(g.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('objects in a namespace that does not exist are 404 NotFound for the namespace', async () => {
    const f = await apiFailure(core.createNamespacedPod({ namespace: 'nope', body: pod('p') }));
    expect(f.code).toBe(404);
    expect(f.status.message).toBe('namespaces "nope" not found');
  });

  it('invalid objects are 422 Invalid with causes', async () => {
    const f = await apiFailure(
      core.createNamespacedPod({
        namespace: 'default',
        body: { metadata: { name: 'Bad_Name' }, spec: { containers: [] } },
      }),
    );
    expect(f.code).toBe(422);
    expect(f.status.reason).toBe('Invalid');
    expect(f.status.details?.causes?.map((c) => c.field)).toContain('metadata.name');
  });

  it('update with a stale resourceVersion is 409 Conflict; with the current one it succeeds and bumps it', async () => {
    const cur = await core.readNamespacedPod({ namespace: 'default', name: 'crud-a' });
    const stale = structuredClone(cur);
    cur.metadata = { ...cur.metadata, labels: { app: 'web', v: '2' } };
    const ok = await core.replaceNamespacedPod({ namespace: 'default', name: 'crud-a', body: cur });
    expect(Number(ok.metadata?.resourceVersion)).toBeGreaterThan(Number(cur.metadata?.resourceVersion));
    stale.metadata = { ...stale.metadata, labels: { app: 'web', v: '3' } };
    const f = await apiFailure(
      core.replaceNamespacedPod({ namespace: 'default', name: 'crud-a', body: stale }),
    );
    expect(f.code).toBe(409);
    expect(f.status.reason).toBe('Conflict');
    expect(f.status.message).toContain('the object has been modified');
  });

  it('a no-op update writes nothing and keeps the resourceVersion', async () => {
    const cur = await core.readNamespacedPod({ namespace: 'default', name: 'crud-a' });
    const again = await core.replaceNamespacedPod({ namespace: 'default', name: 'crud-a', body: cur });
    expect(again.metadata?.resourceVersion).toBe(cur.metadata?.resourceVersion);
  });

  it('pod spec is immutable except images (422)', async () => {
    const cur = await core.readNamespacedPod({ namespace: 'default', name: 'crud-a' });
    cur.spec = {
      ...cur.spec,
      containers: cur.spec?.containers ?? [],
      readinessGates: [{ conditionType: 'x/y' }],
    };
    const f = await apiFailure(
      core.replaceNamespacedPod({ namespace: 'default', name: 'crud-a', body: cur }),
    );
    expect(f.code).toBe(422);
    expect(f.status.details?.causes?.[0]?.field).toBe('spec');
  });

  it('delete preconditions: wrong uid or resourceVersion is 409, right ones delete', async () => {
    const p = await core.createNamespacedPod({ namespace: 'default', body: pod('crud-del') });
    const f = await apiFailure(
      core.deleteNamespacedPod({
        namespace: 'default',
        name: 'crud-del',
        body: { preconditions: { uid: 'wrong' } },
      }),
    );
    expect(f.code).toBe(409);
    expect(f.status.message).toContain('Precondition failed: UID in precondition: wrong');
    const g = await apiFailure(
      core.deleteNamespacedPod({
        namespace: 'default',
        name: 'crud-del',
        body: { preconditions: { resourceVersion: '1' } },
      }),
    );
    expect(g.code).toBe(409);
    await core.deleteNamespacedPod({
      namespace: 'default',
      name: 'crud-del',
      body: { preconditions: { uid: p.metadata?.uid, resourceVersion: p.metadata?.resourceVersion } },
    });
    expect((await apiFailure(core.readNamespacedPod({ namespace: 'default', name: 'crud-del' }))).code).toBe(
      404,
    );
  });

  it('deleting a scheduled pod with a grace period sets deletionTimestamp; grace 0 deletes at once', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('crud-grace', { nodeName: 'node-1' }) });
    const d = await core.deleteNamespacedPod({
      namespace: 'default',
      name: 'crud-grace',
      gracePeriodSeconds: 30,
    });
    expect(d.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(d.metadata?.deletionGracePeriodSeconds).toBe(30);
    const still = await core.readNamespacedPod({ namespace: 'default', name: 'crud-grace' });
    expect(still.metadata?.deletionTimestamp).toBeDefined();
    await core.deleteNamespacedPod({ namespace: 'default', name: 'crud-grace', gracePeriodSeconds: 0 });
    expect(
      (await apiFailure(core.readNamespacedPod({ namespace: 'default', name: 'crud-grace' }))).code,
    ).toBe(404);
  });

  it('a graceful pod deletion completes after the grace period', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: pod('crud-grace1', { nodeName: 'node-1' }),
    });
    await core.deleteNamespacedPod({ namespace: 'default', name: 'crud-grace1', gracePeriodSeconds: 1 });
    await waitFor(
      () =>
        emu.store.get({ apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'crud-grace1' }) ===
        undefined,
      'pod removed after its grace period',
    );
  });

  it('garbage collection deletes dependents whose owner (by uid) is deleted, keeps those with a live owner', async () => {
    const owner = await custom.createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      namespace: 'default',
      plural: 'virtualmachineinstances',
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'gc-vmi' },
        spec: { domain: {} },
      },
    });
    const other = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'gc-other' }, spec: {} },
    });
    const ref = (o: { metadata: { uid?: string; name?: string } }, kind: string, apiVersion: string) => ({
      apiVersion,
      kind,
      name: o.metadata.name as string,
      uid: o.metadata.uid as string,
    });
    const vref = ref(owner, 'VirtualMachineInstance', 'kubevirt.io/v1');
    await custom.createNamespacedCustomObject({
      group: 'vmprobe.io',
      version: 'v1alpha1',
      namespace: 'default',
      plural: 'vmiprobestatuses',
      body: {
        apiVersion: 'vmprobe.io/v1alpha1',
        kind: 'VMIProbeStatus',
        metadata: { name: 'gc-vmi', ownerReferences: [vref] },
      },
    });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: { name: 'gc-two-owners', ownerReferences: [vref, ref(other as never, 'Service', 'v1')] },
      },
    });
    await custom.deleteNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      namespace: 'default',
      plural: 'virtualmachineinstances',
      name: 'gc-vmi',
    });
    await waitFor(
      () =>
        !emu.store.get({
          apiVersion: 'vmprobe.io/v1alpha1',
          kind: 'VMIProbeStatus',
          namespace: 'default',
          name: 'gc-vmi',
        }),
      'dependent collected',
    );
    const cm = await core.readNamespacedConfigMap({ namespace: 'default', name: 'gc-two-owners' });
    expect(cm.metadata?.ownerReferences?.map((r) => r.kind)).toEqual(['Service']);
  });

  it('discovery serves built-ins and CRDs (KubernetesObjectApi resolves kinds); /version and /healthz answer', async () => {
    const kc = emu.kubeConfig('admin');
    const objs = KubernetesObjectApi.makeApiClient(kc);
    const created = await objs.create({
      apiVersion: 'vmprobe.io/v1alpha1',
      kind: 'VMIProbeStatus',
      metadata: { name: 'disc', namespace: 'default' },
    });
    expect((created.metadata as { uid?: string } | undefined)?.uid).toBeDefined();
    const groups = await (
      await fetch(`${emu.url}/apis`, { headers: { authorization: `Bearer ${emu.tokenFor('admin')}` } })
    ).json();
    const names = (groups as { groups: { name: string; preferredVersion: { version: string } }[] }).groups;
    expect(names.find((g) => g.name === 'kubevirt.io')?.preferredVersion.version).toBe('v1');
    expect(names.map((g) => g.name)).toEqual(
      expect.arrayContaining(['discovery.k8s.io', 'events.k8s.io', 'vmprobe.io']),
    );
    const v = await kc.makeApiClient(VersionApi).getCode();
    expect(v.major).toBe('1');
    expect(await (await fetch(`${emu.url}/healthz`)).text()).toBe('ok');
  });

  it('the VMI has no status subresource (404), the VM and VMIRS and VMIProbeStatus have one', async () => {
    const f = await apiFailure(
      custom.getNamespacedCustomObjectStatus({
        group: 'kubevirt.io',
        version: 'v1',
        namespace: 'default',
        plural: 'virtualmachineinstances',
        name: 'x',
      }),
    );
    expect(f.code).toBe(404);
    const res = await fetch(`${emu.url}/apis/kubevirt.io/v1`, {
      headers: { authorization: `Bearer ${emu.tokenFor('admin')}` },
    });
    const list = (await res.json()) as { resources: { name: string }[] };
    const names = list.resources.map((r) => r.name);
    expect(names).toContain('virtualmachines/status');
    expect(names).toContain('virtualmachineinstancereplicasets/status');
    expect(names).not.toContain('virtualmachineinstances/status');
  });

  it('an unsupported verb on a resource is 405 MethodNotAllowed', async () => {
    const res = await fetch(`${emu.url}/api/v1/namespaces/default/pods/crud-a`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.tokenFor('admin')}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(405);
    expect(((await res.json()) as { reason: string }).reason).toBe('MethodNotAllowed');
  });

  it('events (core/v1 and events.k8s.io/v1) and EndpointSlices are served', async () => {
    const ev = await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'vmi.' },
        involvedObject: { kind: 'VirtualMachineInstance', name: 'v', namespace: 'default' },
        reason: 'Unhealthy',
        type: 'Warning',
        message: 'Readiness probe failed',
      },
    });
    const byField = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=VirtualMachineInstance,reason=Unhealthy',
    });
    expect(byField.items.map((e) => e.metadata?.name)).toEqual([ev.metadata?.name]);
    const objs = KubernetesObjectApi.makeApiClient(emu.kubeConfig('admin'));
    await objs.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'svc-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'svc' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
    } as never);
    await objs.create({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'e2', namespace: 'default' },
      eventTime: new Date().toISOString(),
      reason: 'Started',
      action: 'Probe',
      reportingController: 'vmprobe.io/agent',
      reportingInstance: 'n1',
      regarding: { kind: 'Pod', name: 'x', namespace: 'default' },
    } as never);
    expect(
      emu.store.list(
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
        { labelSelector: 'kubernetes.io/service-name=svc' },
      ),
    ).toHaveLength(1);
  });
});
