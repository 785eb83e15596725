// The readiness-gate decision and the admission handler, without a server: the pure patch rules,
// the VMI lookup outcomes (through a fake VmiReader), the documented fallback when the VMI cannot be
// read in time, and bad bodies.
import fjp from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import {
  AdmissionHandler,
  type AdmissionResponseBody,
  gatePatch,
  type JsonPatchOp,
  type VmiLookup,
  type VmiReader,
  WebhookMetrics,
} from '../src/webhook/index.js';

const GATE = { conditionType: 'vmprobe.io/ReadinessProbe' };
const KUBEVIRT_GATE = { conditionType: 'kubevirt.io/virtual-machine-unpaused' };

function launcherPod(over: { labels?: Record<string, string>; gates?: unknown[]; owner?: boolean } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'virt-launcher-vmi-a-',
      namespace: 'ns1',
      labels: over.labels ?? { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'uid-1' },
      ownerReferences:
        over.owner === false
          ? []
          : [
              {
                apiVersion: 'kubevirt.io/v1',
                kind: 'VirtualMachineInstance',
                name: 'vmi-a',
                uid: 'uid-1',
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
    },
    spec: {
      containers: [{ name: 'compute', image: 'virt-launcher' }],
      ...(over.gates !== undefined ? { readinessGates: over.gates } : {}),
    },
  };
}

function review(object: unknown, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'req-uid-42',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'ns1',
      operation: 'CREATE',
      object,
      ...over,
    },
  });
}

const vmiWithReadiness = {
  metadata: { name: 'vmi-a', namespace: 'ns1' },
  spec: { readinessProbe: { tcpSocket: { port: 80 } } },
};

class FakeReader implements VmiReader {
  calls: string[] = [];
  constructor(private readonly answer: (signal: AbortSignal) => Promise<VmiLookup>) {}
  get(namespace: string, name: string, signal: AbortSignal): Promise<VmiLookup> {
    this.calls.push(`${namespace}/${name}`);
    return this.answer(signal);
  }
}

const found = (vmi: unknown) => new FakeReader(async () => ({ found: true, vmi }));

function decode(body: AdmissionResponseBody): JsonPatchOp[] | undefined {
  return body.response.patch === undefined
    ? undefined
    : (JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8')) as JsonPatchOp[]);
}

function applied(pod: unknown, patch: JsonPatchOp[] | undefined): { spec: { readinessGates?: unknown[] } } {
  return fjp.applyPatch(structuredClone(pod), (patch ?? []) as fjp.Operation[], true, false).newDocument as {
    spec: { readinessGates?: unknown[] };
  };
}

async function run(reader: VmiReader, body: string, timeoutMs?: number) {
  const metrics = new WebhookMetrics({ version: 'test', processMetrics: false });
  const h = new AdmissionHandler({ reader, metrics, ...(timeoutMs ? { vmiReadTimeoutMs: timeoutMs } : {}) });
  const r = await h.review(body);
  return { r, metrics: (await metrics.expose()).body };
}

describe('gate patch', () => {
  it('creates spec.readinessGates when the pod has no gates', () => {
    const pod = launcherPod();
    const patch = gatePatch(pod);
    expect(patch).toEqual([{ op: 'add', path: '/spec/readinessGates', value: [GATE] }]);
    expect(applied(pod, patch).spec.readinessGates).toEqual([GATE]);
  });

  it("appends to KubeVirt's own gate and keeps it", () => {
    const pod = launcherPod({ gates: [KUBEVIRT_GATE] });
    const patch = gatePatch(pod);
    expect(patch).toEqual([{ op: 'add', path: '/spec/readinessGates/-', value: GATE }]);
    expect(applied(pod, patch).spec.readinessGates).toEqual([KUBEVIRT_GATE, GATE]);
  });

  it('gives no patch when the gate is already there (reinvocation, retried create)', () => {
    expect(gatePatch(launcherPod({ gates: [KUBEVIRT_GATE, GATE] }))).toBeUndefined();
  });
});

describe('admission handler', () => {
  it('patches a launcher pod whose VMI has spec.readinessProbe; uid echoed', async () => {
    const reader = found(vmiWithReadiness);
    const { r, metrics } = await run(reader, review(launcherPod({ gates: [KUBEVIRT_GATE] })));
    expect(r.status).toBe(200);
    if (r.status !== 200) return;
    expect(r.body.apiVersion).toBe('admission.k8s.io/v1');
    expect(r.body.kind).toBe('AdmissionReview');
    expect(r.body.response.uid).toBe('req-uid-42');
    expect(r.body.response.allowed).toBe(true);
    expect(r.body.response.patchType).toBe('JSONPatch');
    expect(applied(launcherPod({ gates: [KUBEVIRT_GATE] }), decode(r.body)).spec.readinessGates).toEqual([
      KUBEVIRT_GATE,
      GATE,
    ]);
    expect(reader.calls).toEqual(['ns1/vmi-a']);
    expect(metrics).toContain('vmprobe_webhook_admissions_total{decision="patched"} 1');
  });

  it('patches for the vmprobe.io/readiness-probe annotation, even an invalid one', async () => {
    const vmi = {
      metadata: { name: 'vmi-a', annotations: { 'vmprobe.io/readiness-probe': '{not json' } },
      spec: {},
    };
    const { r } = await run(found(vmi), review(launcherPod()));
    expect(r.status === 200 && decode(r.body)).toEqual([
      { op: 'add', path: '/spec/readinessGates', value: [GATE] },
    ]);
  });

  it('allows a pod whose VMI has no readiness probe, without a patch', async () => {
    const vmi = { metadata: { name: 'vmi-a' }, spec: { livenessProbe: { tcpSocket: { port: 22 } } } };
    const { r, metrics } = await run(found(vmi), review(launcherPod()));
    expect(r.status).toBe(200);
    if (r.status !== 200) return;
    expect(r.body.response).toEqual({ uid: 'req-uid-42', allowed: true });
    expect(metrics).toContain('vmprobe_webhook_admissions_total{decision="no_readiness_probe"} 1');
  });

  it('allows a pod that is not a launcher pod without reading any VMI', async () => {
    const reader = found(vmiWithReadiness);
    const { r } = await run(reader, review(launcherPod({ labels: { app: 'web' } })));
    expect(r.status === 200 && r.body.response).toEqual({ uid: 'req-uid-42', allowed: true });
    expect(reader.calls).toEqual([]);
  });

  it('allows a launcher pod that already has the gate without reading the VMI', async () => {
    const reader = found(vmiWithReadiness);
    const { r } = await run(reader, review(launcherPod({ gates: [GATE] })));
    expect(r.status === 200 && r.body.response).toEqual({ uid: 'req-uid-42', allowed: true });
    expect(reader.calls).toEqual([]);
  });

  it('allows a launcher pod with no VMI owner, and anything that is not a pod CREATE', async () => {
    const reader = found(vmiWithReadiness);
    for (const body of [
      review(launcherPod({ owner: false })),
      review(launcherPod(), { operation: 'UPDATE' }),
      review(launcherPod(), { resource: { group: '', version: 'v1', resource: 'services' } }),
      review(launcherPod(), { subResource: 'status' }),
    ]) {
      const { r } = await run(reader, body);
      expect(r.status === 200 && r.body.response).toEqual({ uid: 'req-uid-42', allowed: true });
    }
    expect(reader.calls).toEqual([]);
  });

  it('allows the pod without a patch when the VMI is not found', async () => {
    const { r, metrics } = await run(new FakeReader(async () => ({ found: false })), review(launcherPod()));
    expect(r.status === 200 && r.body.response).toEqual({ uid: 'req-uid-42', allowed: true });
    expect(metrics).toContain('vmprobe_webhook_admissions_total{decision="vmi_not_found"} 1');
  });

  it('VMI unreadable (API error): allowed without the gate, with a warning and a metric', async () => {
    const reader = new FakeReader(async () => {
      throw new Error('GET VirtualMachineInstance ns1/vmi-a: HTTP 503');
    });
    const { r, metrics } = await run(reader, review(launcherPod()));
    expect(r.status).toBe(200);
    if (r.status !== 200) return;
    expect(r.body.response.allowed).toBe(true);
    expect(r.body.response.patch).toBeUndefined();
    expect(r.body.response.warnings?.[0]).toMatch(
      /could not read VirtualMachineInstance ns1\/vmi-a.*HTTP 503/,
    );
    expect(metrics).toContain('vmprobe_webhook_admissions_total{decision="vmi_unreadable"} 1');
  });

  it('VMI read past the deadline: aborted, answered within the deadline without the gate', async () => {
    let aborted = false;
    const reader = new FakeReader(
      (signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
    );
    const { r } = await run(reader, review(launcherPod()), 50);
    expect(aborted).toBe(true);
    expect(r.status === 200 && r.body.response.warnings?.[0]).toMatch(/no answer within 50 ms/);
    expect(r.status === 200 && r.body.response.patch).toBeUndefined();
  });

  it('answers 400 with a message for a body that is not an AdmissionReview', async () => {
    const reader = found(vmiWithReadiness);
    for (const [body, why] of [
      ['not json', /not JSON/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), /expected kind AdmissionReview/],
      [
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1beta1',
          kind: 'AdmissionReview',
          request: { uid: 'x' },
        }),
        /admission\.k8s\.io\/v1/,
      ],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /no request/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }), /no uid/],
    ] as const) {
      const { r, metrics } = await run(reader, body);
      expect(r.status, body).toBe(400);
      expect(r.status === 400 && r.message).toMatch(why);
      expect(metrics).toContain('vmprobe_webhook_bad_requests_total 1');
    }
    expect(reader.calls).toEqual([]);
  });
});
