// Fidelity: patch content types, status subresources, CRD pruning/validation, via client-node.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFailure, type Emulator, startEmulator } from '../src/emulator/index.js';

let emu: Emulator;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const VMI = { group: 'kubevirt.io', version: 'v1', namespace: 'default', plural: 'virtualmachineinstances' };
const PS = { group: 'vmprobe.io', version: 'v1alpha1', namespace: 'default', plural: 'vmiprobestatuses' };

beforeAll(async () => {
  emu = await startEmulator();
  core = emu.kubeConfig('admin').makeApiClient(CoreV1Api);
  custom = emu.kubeConfig('admin').makeApiClient(CustomObjectsApi);
  await core.createNamespacedPod({
    namespace: 'default',
    body: {
      metadata: { name: 'launcher', labels: { a: '1' } },
      spec: {
        nodeName: 'node-1',
        containers: [{ name: 'compute', image: 'virt-launcher' }],
        readinessGates: [{ conditionType: 'vmprobe.io/ReadinessProbe' }],
      },
    },
  });
  await core.patchNamespacedPodStatus(
    {
      namespace: 'default',
      name: 'launcher',
      body: {
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Ready', status: 'False' },
            { type: 'ContainersReady', status: 'True' },
          ],
        },
      },
    },
    merge,
  );
});
afterAll(async () => {
  await emu.stop();
});

describe('emulator patches', () => {
  it('strategic merge on pods/status merges conditions by type and keeps the others', async () => {
    const p = await core.patchNamespacedPodStatus(
      {
        namespace: 'default',
        name: 'launcher',
        body: {
          status: {
            conditions: [{ type: 'vmprobe.io/ReadinessProbe', status: 'True', reason: 'ProbeSucceeded' }],
          },
        },
      },
      strategic,
    );
    expect(p.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=False',
      'ContainersReady=True',
      'vmprobe.io/ReadinessProbe=True',
    ]);
    const q = await core.patchNamespacedPodStatus(
      {
        namespace: 'default',
        name: 'launcher',
        body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      },
      strategic,
    );
    expect(q.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(q.status?.conditions).toHaveLength(3);
  });

  it('strategic merge honours $patch: delete and merges containers by name', async () => {
    const p = await core.patchNamespacedPodStatus(
      {
        namespace: 'default',
        name: 'launcher',
        body: { status: { conditions: [{ type: 'ContainersReady', $patch: 'delete' }] } },
      },
      strategic,
    );
    expect(p.status?.conditions?.map((c) => c.type)).not.toContain('ContainersReady');
    const q = await core.patchNamespacedPod(
      {
        namespace: 'default',
        name: 'launcher',
        body: { spec: { containers: [{ name: 'compute', image: 'virt-launcher:v2' }] } },
      },
      strategic,
    );
    expect(q.spec?.containers).toHaveLength(1);
    expect(q.spec?.containers[0]?.image).toBe('virt-launcher:v2');
  });

  it('merge patch replaces lists wholesale (unlike strategic)', async () => {
    const p = await core.patchNamespacedPodStatus(
      {
        namespace: 'default',
        name: 'launcher',
        body: { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
      },
      merge,
    );
    expect(p.status?.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });

  it('pods/status ignores spec changes; the main resource ignores status changes', async () => {
    const a = await core.patchNamespacedPodStatus(
      {
        namespace: 'default',
        name: 'launcher',
        body: { spec: { activeDeadlineSeconds: 5 }, status: { message: 'm' } },
      },
      merge,
    );
    expect(a.spec?.activeDeadlineSeconds).toBeUndefined();
    expect(a.status?.message).toBe('m');
    const b = await core.patchNamespacedPod(
      {
        namespace: 'default',
        name: 'launcher',
        body: { metadata: { labels: { b: '2' } }, status: { message: 'other' } },
      },
      merge,
    );
    expect(b.status?.message).toBe('m');
    expect(b.metadata?.labels?.b).toBe('2');
  });

  it('strategic merge on a custom resource is 415 UnsupportedMediaType', async () => {
    await custom.createNamespacedCustomObject({
      ...VMI,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'smp' },
        spec: { domain: {} },
      },
    });
    const f = await apiFailure(
      custom.patchNamespacedCustomObject(
        { ...VMI, name: 'smp', body: { metadata: { labels: { x: 'y' } } } },
        strategic,
      ),
    );
    expect(f.code).toBe(415);
    expect(f.status.reason).toBe('UnsupportedMediaType');
    expect(f.status.message).toContain('application/merge-patch+json');
    const ok = await custom.patchNamespacedCustomObject(
      { ...VMI, name: 'smp', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    );
    expect((ok as { metadata: { labels: Record<string, string> } }).metadata.labels.x).toBe('y');
  });

  it('metadata.resourceVersion inside a patch is a precondition (409 when stale)', async () => {
    const cur = await core.readNamespacedPod({ namespace: 'default', name: 'launcher' });
    const f = await apiFailure(
      core.patchNamespacedPod(
        {
          namespace: 'default',
          name: 'launcher',
          body: { metadata: { resourceVersion: '1', labels: { c: '3' } } },
        },
        merge,
      ),
    );
    expect(f.code).toBe(409);
    expect(f.status.reason).toBe('Conflict');
    const ok = await core.patchNamespacedPod(
      {
        namespace: 'default',
        name: 'launcher',
        body: { metadata: { resourceVersion: cur.metadata?.resourceVersion, labels: { c: '3' } } },
      },
      merge,
    );
    expect(ok.metadata?.labels?.c).toBe('3');
  });

  it('json patch applies ops; a failing test op is 422 and writes nothing', async () => {
    const before = await core.readNamespacedPod({ namespace: 'default', name: 'launcher' });
    const f = await apiFailure(
      core.patchNamespacedPod({
        namespace: 'default',
        name: 'launcher',
        body: [
          { op: 'test', path: '/metadata/labels/a', value: 'not-1' },
          { op: 'add', path: '/metadata/labels/d', value: '4' },
        ],
      }),
    );
    expect(f.code).toBe(422);
    const after = await core.readNamespacedPod({ namespace: 'default', name: 'launcher' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    const ok = await core.patchNamespacedPod({
      namespace: 'default',
      name: 'launcher',
      body: [
        { op: 'test', path: '/metadata/labels/a', value: '1' },
        { op: 'add', path: '/metadata/labels/d', value: '4' },
      ],
    });
    expect(ok.metadata?.labels?.d).toBe('4');
  });

  it('server-side apply answers 415', async () => {
    const f = await apiFailure(
      core.patchNamespacedPod(
        { namespace: 'default', name: 'launcher', body: { metadata: {} } },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
    expect(f.code).toBe(415);
  });

  it('CRD status subresource: main-resource writes drop status, /status writes change only status', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...PS,
      body: {
        apiVersion: 'vmprobe.io/v1alpha1',
        kind: 'VMIProbeStatus',
        metadata: { name: 'ps1' },
        spec: {},
        status: { nodeName: 'dropped-on-create' },
      },
    })) as { status?: unknown; metadata: { generation: number } };
    expect(created.status).toBeUndefined();
    const s = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...PS,
        name: 'ps1',
        body: {
          metadata: { labels: { ignored: 'yes' } },
          status: {
            nodeName: 'node-1',
            conditions: [
              {
                type: 'ReadinessProbe',
                status: 'True',
                reason: 'ProbeSucceeded',
                lastTransitionTime: '2024-01-01T00:00:00Z',
              },
            ],
          },
        },
      },
      merge,
    )) as { metadata: { labels?: Record<string, string>; generation: number }; status: { nodeName: string } };
    expect(s.status.nodeName).toBe('node-1');
    expect(s.metadata.labels).toBeUndefined();
    expect(s.metadata.generation).toBe(1);
    const m = (await custom.patchNamespacedCustomObject(
      { ...PS, name: 'ps1', body: { status: { nodeName: 'x' } } },
      merge,
    )) as {
      status: { nodeName: string };
    };
    expect(m.status.nodeName).toBe('node-1');
  });

  it('CRD schema validation answers 422 Invalid with causes (enum, type, date-time, list-map keys)', async () => {
    const f = await apiFailure(
      custom.patchNamespacedCustomObjectStatus(
        {
          ...PS,
          name: 'ps1',
          body: {
            status: {
              nodeName: 5,
              conditions: [
                { type: 'ReadinessProbe', status: 'Maybe', lastTransitionTime: 'yesterday' },
                { type: 'ReadinessProbe', status: 'True' },
              ],
            },
          },
        },
        merge,
      ),
    );
    expect(f.code).toBe(422);
    expect(f.status.reason).toBe('Invalid');
    const fields = f.status.details?.causes?.map((c) => `${c.reason}:${c.field}`);
    expect(fields).toEqual(
      expect.arrayContaining([
        'FieldValueInvalid:status.nodeName',
        'FieldValueNotSupported:status.conditions[0].status',
        'FieldValueInvalid:status.conditions[0].lastTransitionTime',
        'FieldValueDuplicate:status.conditions[1]',
      ]),
    );
    expect(f.status.message).toMatch(/^VMIProbeStatus\.vmprobe\.io "ps1" is invalid: /);
  });

  it('unknown fields are pruned: icmp inside a VMI probe disappears, preserve-unknown parts stay', async () => {
    const v = (await custom.createNamespacedCustomObject({
      ...VMI,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'prune' },
        spec: {
          domain: { devices: { disks: [] }, anything: 1 },
          livenessProbe: { icmp: {}, periodSeconds: 3, tcpSocket: { port: 22, bogus: true } },
          readinessProbe: { httpGet: { port: 'http', path: '/' } },
          extra: 'kept',
        },
        bogusTop: 1,
      },
    })) as Record<string, unknown> & { spec: Record<string, unknown> };
    expect(v.spec.livenessProbe).toEqual({ periodSeconds: 3, tcpSocket: { port: 22 } });
    expect(v.spec.readinessProbe).toEqual({ httpGet: { port: 'http', path: '/' } });
    expect(v.spec.domain).toEqual({ devices: { disks: [] }, anything: 1 });
    expect(v.spec.extra).toBe('kept');
    expect(v.bogusTop).toBeUndefined();
    const f = await apiFailure(
      custom.createNamespacedCustomObject({
        ...VMI,
        body: {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          metadata: { name: 'bad' },
          spec: { livenessProbe: { periodSeconds: 'x' } },
        },
      }),
    );
    expect(f.code).toBe(422);
    expect(f.status.details?.causes?.map((c) => c.field)).toEqual(
      expect.arrayContaining(['spec.domain', 'spec.livenessProbe.periodSeconds']),
    );
  });

  it('custom resources are served in every served version (v1alpha3 and v1 read the same object)', async () => {
    const old = (await custom.getNamespacedCustomObject({ ...VMI, version: 'v1alpha3', name: 'prune' })) as {
      apiVersion: string;
    };
    expect(old.apiVersion).toBe('kubevirt.io/v1alpha3');
    const f = await apiFailure(
      custom.createNamespacedCustomObject({
        ...VMI,
        body: {
          apiVersion: 'kubevirt.io/v1alpha3',
          kind: 'VirtualMachineInstance',
          metadata: { name: 'mismatch' },
          spec: { domain: {} },
        },
      }),
    );
    expect(f.code).toBe(400);
  });
});
