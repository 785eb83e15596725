// Fidelity: the emulator calls mutating admission webhooks as kube-apiserver does — matching on
// rules, objectSelector and namespaceSelector; HTTPS verified against caBundle with the Service's
// DNS name; JSONPatch applied; warnings as Warning headers; timeoutSeconds; failurePolicy Fail
// (the real "failed calling webhook" 500) and Ignore; denials; reinvocationPolicy IfNeeded.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_USER, type Emulator, type KubeObject, startEmulator } from '../src/emulator/index.js';
import { issueServing, makeCa } from '../src/webhook-certs.js';

type Review = { request: Record<string, unknown> & { uid: string; object: KubeObject } };
type Answer = (review: Review) => Record<string, unknown> | 'hang' | { status: number; body: string };

const ca = makeCa('fidelity-ca');
const otherCa = makeCa('someone-else');
const pair = issueServing(ca, ['hook.hooks.svc']);
let emu: Emulator;
let server: Server;
let answer: Answer = () => ({});
const seen: Review[] = [];

beforeAll(async () => {
  emu = await startEmulator({ namespaces: ['default', 'labelled'] });
  emu.store.patch(
    { apiVersion: 'v1', kind: 'Namespace', name: 'labelled' },
    { metadata: { labels: { team: 'vm' } } },
  );
  server = createServer({ cert: pair.certPem, key: pair.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString()) as Review;
      seen.push(review);
      const a = answer(review);
      if (a === 'hang') return; // never answers
      if ('status' in a && typeof a.status === 'number' && 'body' in a) {
        res.writeHead(a.status).end(a.body);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: { uid: review.request.uid, allowed: true, ...a },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  emu.webhooks.mapService(
    { namespace: 'hooks', name: 'hook', port: 443 },
    { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
  );
});

afterEach(() => {
  for (const c of emu.store.list({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
  }))
    emu.store.delete({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      name: c.metadata.name,
    });
  seen.length = 0;
  answer = () => ({});
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await emu?.stop();
});

function webhook(over: Record<string, unknown> = {}) {
  return {
    name: 'hook.example.io',
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    clientConfig: {
      service: { namespace: 'hooks', name: 'hook', path: '/mutate', port: 443 },
      caBundle: Buffer.from(ca.pem).toString('base64'),
    },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    ...over,
  };
}

function configure(name: string, ...webhooks: Record<string, unknown>[]) {
  emu.store.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks,
  });
}

/** POSTs a pod as admin over real HTTP; returns status, body and the Warning header. */
async function createPod(namespace = 'default', labels: Record<string, string> = { app: 'x' }, name = 'p') {
  const res = await fetch(`${emu.url}/api/v1/namespaces/${namespace}/pods`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${emu.tokenFor(ADMIN_USER)}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    }),
  });
  const body = (await res.json()) as KubeObject;
  if (res.status === 201)
    emu.store.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name }, { gracePeriodSeconds: 0 });
  return { status: res.status, body, warning: res.headers.get('warning') };
}

const addGate = (path = '/spec/readinessGates') => ({
  patchType: 'JSONPatch',
  patch: Buffer.from(JSON.stringify([{ op: 'add', path, value: [{ conditionType: 'x.io/Gate' }] }])).toString(
    'base64',
  ),
});

describe('mutating admission webhooks', () => {
  it('POSTs an AdmissionReview v1 for a matching CREATE and stores the JSONPatched object; warnings become Warning headers', async () => {
    configure('one', webhook());
    answer = () => ({ ...addGate(), warnings: ['first "warning"'] });
    const r = await createPod();
    expect(r.status).toBe(201);
    expect(r.body.spec.readinessGates).toEqual([{ conditionType: 'x.io/Gate' }]);
    expect(r.warning).toBe('299 - "first \\"warning\\""');
    expect(seen).toHaveLength(1);
    const req = seen[0]!.request;
    expect(req.operation).toBe('CREATE');
    expect(req.namespace).toBe('default');
    expect(req.kind).toEqual({ group: '', version: 'v1', kind: 'Pod' });
    expect(req.resource).toEqual({ group: '', version: 'v1', resource: 'pods' });
    expect(req.userInfo).toMatchObject({ username: ADMIN_USER });
    expect(req.object.metadata.name).toBe('p');
    expect(emu.webhooks.calls.at(-1)).toMatchObject({
      webhook: 'hook.example.io',
      outcome: 'allowed',
      patched: true,
    });
  });

  it('calls only webhooks whose rules, objectSelector and namespaceSelector match', async () => {
    configure('sel', webhook({ objectSelector: { matchLabels: { 'kubevirt.io': 'virt-launcher' } } }));
    configure(
      'ns',
      webhook({
        name: 'ns.example.io',
        namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['vm'] }] },
      }),
    );
    configure(
      'rules',
      webhook({
        name: 'svc.example.io',
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['services'] }],
      }),
    );
    answer = () => addGate();
    const plain = await createPod('default', { app: 'x' });
    expect(plain.status).toBe(201);
    expect(plain.body.spec.readinessGates).toBeUndefined();
    expect(seen).toHaveLength(0);
    await createPod('default', { 'kubevirt.io': 'virt-launcher' });
    expect(seen).toHaveLength(1);
    seen.length = 0;
    const inLabelled = await createPod('labelled', { app: 'x' });
    expect(inLabelled.body.spec.readinessGates).toEqual([{ conditionType: 'x.io/Gate' }]);
    expect(emu.webhooks.calls.at(-1)?.webhook).toBe('ns.example.io');
    expect(seen).toHaveLength(1);
  });

  it('verifies the server against caBundle: another CA fails the call (Fail → 500 "failed calling webhook"), Ignore creates unpatched', async () => {
    configure(
      'wrong-ca',
      webhook({
        clientConfig: { ...webhook().clientConfig, caBundle: Buffer.from(otherCa.pem).toString('base64') },
      }),
    );
    answer = () => addGate();
    const r = await createPod();
    expect(r.status).toBe(500);
    expect(r.body.reason).toBe('InternalError');
    expect(r.body.message).toMatch(
      /^Internal error occurred: failed calling webhook "hook\.example\.io": failed to call webhook: Post "https:\/\/hook\.hooks\.svc:443\/mutate\?timeout=10s": .*certificate/,
    );
    expect(seen).toHaveLength(0);
    emu.store.patch(
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        name: 'wrong-ca',
      },
      [{ op: 'add', path: '/webhooks/0/failurePolicy', value: 'Ignore' }],
      { type: 'json' },
    );
    const ignored = await createPod();
    expect(ignored.status).toBe(201);
    expect(ignored.body.spec.readinessGates).toBeUndefined();
    expect(emu.webhooks.calls.at(-1)?.outcome).toBe('ignored-failure');
  });

  it('gives up after timeoutSeconds: Fail → 500 naming the deadline', async () => {
    configure('slow', webhook({ timeoutSeconds: 1 }));
    answer = () => 'hang';
    const t0 = Date.now();
    const r = await createPod();
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(
      /failed calling webhook "hook\.example\.io".*\?timeout=1s": context deadline exceeded/,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('a service with no address, a non-200 answer or a wrong response uid is a failed call', async () => {
    configure(
      'gone',
      webhook({
        clientConfig: { ...webhook().clientConfig, service: { namespace: 'hooks', name: 'nobody' } },
      }),
    );
    let r = await createPod();
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(/service "nobody" not found/);
    afterEachReset();
    configure('bad-status', webhook());
    answer = () => ({ status: 400, body: 'bad request: nope' });
    r = await createPod();
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(/expected webhook response of 200, got 400/);
    answer = () => ({ uid: 'not-the-request' });
    r = await createPod();
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(/expected response\.uid=/);
  });

  it('a denial is answered as "admission webhook … denied the request"', async () => {
    configure('deny', webhook());
    answer = () => ({ allowed: false, status: { code: 403, message: 'no pods today' } });
    const r = await createPod();
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('admission webhook "hook.example.io" denied the request: no pods today');
  });

  it('reinvocationPolicy IfNeeded: a webhook whose output a later webhook changed is called once more', async () => {
    const calls: string[] = [];
    configure(
      'a-first',
      webhook({
        name: 'a.example.io',
        reinvocationPolicy: 'IfNeeded',
        clientConfig: {
          ...webhook().clientConfig,
          service: { namespace: 'hooks', name: 'hook', path: '/a' },
        },
      }),
    );
    configure(
      'b-second',
      webhook({
        name: 'b.example.io',
        clientConfig: {
          ...webhook().clientConfig,
          service: { namespace: 'hooks', name: 'hook', path: '/b' },
        },
      }),
    );
    answer = (review) => {
      const labels = review.request.object.metadata.labels ?? {};
      // a adds label a once; b adds label b once.
      const which = labels.a === undefined ? 'a' : labels.b === undefined ? 'b' : 'a';
      calls.push(which);
      if (labels[which] !== undefined) return {};
      return {
        patchType: 'JSONPatch',
        patch: Buffer.from(
          JSON.stringify([{ op: 'add', path: `/metadata/labels/${which}`, value: 'y' }]),
        ).toString('base64'),
      };
    };
    const r = await createPod();
    expect(r.body.metadata.labels).toMatchObject({ a: 'y', b: 'y' });
    const order = emu.webhooks.calls.slice(-3).map((c) => `${c.webhook}${c.reinvocation ? ' (again)' : ''}`);
    expect(order).toEqual(['a.example.io', 'b.example.io', 'a.example.io (again)']);
    expect(calls).toHaveLength(3);
  });
});

function afterEachReset(): void {
  for (const c of emu.store.list({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
  }))
    emu.store.delete({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      name: c.metadata.name,
    });
}
