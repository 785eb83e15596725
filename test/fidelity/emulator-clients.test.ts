// Fidelity: what kubectl and other real clients need beyond CRUD — OpenAPI v2/v3 documents,
// server-side printing (Table, 406), server-side field validation, impersonation, the self
// reviews, pod QoS classes, apps/v1 and admissionregistration kinds, strategic merge on workloads.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, REPO_ROOT, startEmulator, VMPROBE_AGENT_USER } from '../src/emulator/index.js';

let emu: Emulator;
const AGENT = VMPROBE_AGENT_USER;

beforeAll(async () => {
  emu = await startEmulator({ rbacFiles: [join(REPO_ROOT, 'manifests/base/rbac.yaml')] });
  emu.store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      nodeName: 'node-a',
      readinessGates: [{ conditionType: 'vmprobe.io/ReadinessProbe' }],
      containers: [
        {
          name: 'c',
          image: 'i',
          resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
        },
      ],
    },
  });
});
afterAll(() => emu?.stop());

// biome-ignore lint/suspicious/noExplicitAny: response bodies are arbitrary JSON.
type Any = any;

async function req(
  path: string,
  o: {
    user?: string;
    method?: string;
    accept?: string;
    body?: unknown;
    contentType?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; body: Any; headers: Headers }> {
  const res = await fetch(`${emu.url}${path}`, {
    method: o.method ?? 'GET',
    headers: {
      Authorization: `Bearer ${emu.tokenFor(o.user ?? 'admin')}`,
      ...(o.accept ? { Accept: o.accept } : {}),
      ...(o.body !== undefined ? { 'Content-Type': o.contentType ?? 'application/json' } : {}),
      ...(o.headers ?? {}),
    },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = await res.text();
  let body: Any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

describe('OpenAPI', () => {
  it('/openapi/v3 lists every served group-version, CRD groups included, each with a hashed URL', async () => {
    const { status, body } = await req('/openapi/v3');
    expect(status).toBe(200);
    for (const gv of [
      'api/v1',
      'apis/apps/v1',
      'apis/kubevirt.io/v1',
      'apis/kubevirt.io/v1alpha3',
      'apis/vmprobe.io/v1alpha1',
      'apis/cert-manager.io/v1',
      'apis/admissionregistration.k8s.io/v1',
    ])
      expect(body.paths[gv]?.serverRelativeURL).toMatch(
        new RegExp(`^/openapi/v3/${gv.replaceAll('.', '\\.')}\\?hash=[0-9A-F]{128}$`),
      );
  });

  it('a built-in kind’s v3 schema carries its GVK and the patch merge keys kubectl’s three-way patch needs', async () => {
    const { body } = await req('/openapi/v3/apis/apps/v1');
    const ds = body.components.schemas.V1DaemonSet;
    expect(ds['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', kind: 'DaemonSet', version: 'v1' },
    ]);
    const containers = body.components.schemas.V1PodSpec.properties.containers;
    expect(containers).toMatchObject({
      type: 'array',
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
    });
    const patch = body.paths['/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}'].patch;
    expect(Object.keys(patch.requestBody.content)).toContain('application/strategic-merge-patch+json');
    expect(patch.parameters.map((p: Any) => p.name)).toContain('fieldValidation');
  });

  it('a CRD’s v3 schema is its structural schema; its PATCH offers no strategic merge', async () => {
    const { body } = await req('/openapi/v3/apis/vmprobe.io/v1alpha1');
    const s = body.components.schemas['io.vmprobe.v1alpha1.VMIProbeStatus'];
    expect(s['x-kubernetes-group-version-kind']).toEqual([
      { group: 'vmprobe.io', kind: 'VMIProbeStatus', version: 'v1alpha1' },
    ]);
    expect(s.properties.status.properties.nodeName).toEqual(expect.objectContaining({ type: 'string' }));
    const patch =
      body.paths['/apis/vmprobe.io/v1alpha1/namespaces/{namespace}/vmiprobestatuses/{name}'].patch;
    expect(Object.keys(patch.requestBody.content)).not.toContain('application/strategic-merge-patch+json');
  });

  it('/openapi/v2 is Swagger 2.0 JSON; a protobuf-only Accept gets 406', async () => {
    const { status, body } = await req('/openapi/v2', { accept: 'application/json' });
    expect(status).toBe(200);
    expect(body.swagger).toBe('2.0');
    expect(body.definitions.V1Pod['x-kubernetes-group-version-kind']).toEqual([
      { group: '', kind: 'Pod', version: 'v1' },
    ]);
    const pb = await req('/openapi/v2', {
      accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
    });
    expect(pb.status).toBe(406);
  });
});

describe('server-side printing', () => {
  it('pods: kube-apiserver’s columns, wide ones at priority 1, metadata objects by default', async () => {
    const { status, body } = await req('/api/v1/namespaces/default/pods', {
      accept: `${TABLE},application/json`,
    });
    expect(status).toBe(200);
    expect(body.kind).toBe('Table');
    expect(body.apiVersion).toBe('meta.k8s.io/v1');
    expect(body.columnDefinitions.map((c: Any) => [c.name, c.priority])).toEqual([
      ['Name', 0],
      ['Ready', 0],
      ['Status', 0],
      ['Restarts', 0],
      ['Age', 0],
      ['IP', 1],
      ['Node', 1],
      ['Nominated Node', 1],
      ['Readiness Gates', 1],
    ]);
    const row = body.rows.find((r: Any) => r.cells[0] === 'web');
    expect(row.cells.slice(1, 4)).toEqual(['0/1', 'Pending', '0']);
    expect(row.cells.slice(5)).toEqual(['<none>', 'node-a', '<none>', '0/1']);
    expect(row.object.kind).toBe('PartialObjectMetadata');
    const none = await req('/api/v1/namespaces/default/pods?includeObject=None', { accept: TABLE });
    expect(none.body.rows[0].object).toBeUndefined();
  });

  it('custom resources: the CRD’s additionalPrinterColumns, JSONPath filters evaluated', async () => {
    emu.store.create({
      apiVersion: 'vmprobe.io/v1alpha1',
      kind: 'VMIProbeStatus',
      metadata: { name: 'web', namespace: 'default' },
      spec: {},
    });
    emu.store.patch(
      { apiVersion: 'vmprobe.io/v1alpha1', kind: 'VMIProbeStatus', namespace: 'default', name: 'web' },
      {
        status: {
          nodeName: 'node-a',
          target: '10.0.0.1',
          conditions: [
            {
              type: 'ReadinessProbe',
              status: 'False',
              reason: 'ProbeFailed',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
            {
              type: 'LivenessProbe',
              status: 'True',
              reason: 'ProbeSucceeded',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      },
      { type: 'merge', subresource: 'status' },
    );
    const { body } = await req('/apis/vmprobe.io/v1alpha1/namespaces/default/vmiprobestatuses/web', {
      accept: TABLE,
    });
    expect(body.columnDefinitions.map((c: Any) => c.name)).toEqual([
      'Name',
      'Ready',
      'Live',
      'Node',
      'Age',
      'Target',
      'Gate',
    ]);
    expect(body.rows[0].cells.slice(0, 4)).toEqual(['web', 'False', 'True', 'node-a']);
    expect(body.rows[0].cells[4]).toMatch(/^\d+(s|m|h|d)/);
    expect(body.rows[0].cells[5]).toBe('10.0.0.1');
  });

  it('406 when nothing acceptable is offered (a Table of an unknown version, metadata-only watches)', async () => {
    const v2 = await req('/api/v1/namespaces/default/pods', {
      accept: 'application/json;as=Table;v=v2;g=meta.k8s.io',
    });
    expect(v2.status).toBe(406);
    expect(v2.body).toMatchObject({ kind: 'Status', reason: 'NotAcceptable', code: 406 });
    const pom = await req('/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1', {
      accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io',
    });
    expect(pom.status).toBe(406);
    const plain = await req('/api/v1/namespaces/default/pods', { accept: 'application/json' });
    expect(plain.body.kind).toBe('PodList');
  });

  it('a Table watch (kubectl get -w) sends one-row Tables, column definitions with the first event', async () => {
    emu.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-2', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    const r = await req('/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1', { accept: TABLE });
    expect(r.status).toBe(200);
    const events = (r.body as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThan(1);
    for (const e of events) {
      expect(e.type).toBe('ADDED');
      expect(e.object.kind).toBe('Table');
      expect(e.object.rows).toHaveLength(1);
    }
    expect(events[0].object.columnDefinitions.map((c: Any) => c.name)).toContain('Readiness Gates');
    expect(events[1].object.columnDefinitions).toEqual([]);
  });
});

describe('dry run', () => {
  it('dryRun=All runs defaulting and validation and returns the result, storing nothing', async () => {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' }, data: { a: '1' } };
    const created = await req('/api/v1/namespaces/default/configmaps?dryRun=All', { method: 'POST', body });
    expect(created.status).toBe(201);
    expect(created.body.metadata.uid).toBeDefined();
    expect(created.body.metadata.resourceVersion).toBeUndefined();
    expect((await req('/api/v1/namespaces/default/configmaps/dry')).status).toBe(404);
    const bad = await req('/api/v1/namespaces/default/pods?dryRun=All', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dry' }, spec: { containers: [] } },
    });
    expect(bad.status).toBe(422);
    const patched = await req('/api/v1/namespaces/default/pods/web?dryRun=All', {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { dry: 'run' } } },
    });
    expect(patched.body.metadata.labels).toEqual({ dry: 'run' });
    expect((await req('/api/v1/namespaces/default/pods/web')).body.metadata.labels).toBeUndefined();
    expect((await req('/api/v1/namespaces/default/pods/web?dryRun=All', { method: 'DELETE' })).status).toBe(
      200,
    );
    expect((await req('/api/v1/namespaces/default/pods/web')).status).toBe(200);
    expect(
      (await req('/api/v1/namespaces/default/pods?dryRun=Some', { method: 'POST', body: {} })).status,
    ).toBe(400);
  });
});

describe('field validation', () => {
  const pod = (name: string, extra: object) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'i', ...extra }] },
  });

  it('Strict rejects unknown fields with 400 and stores nothing; Warn answers a Warning header', async () => {
    const strict = await req('/api/v1/namespaces/default/pods?fieldValidation=Strict', {
      method: 'POST',
      body: pod('strict', { bogus: 1 }),
    });
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe(
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus"',
    );
    expect((await req('/api/v1/namespaces/default/pods/strict')).status).toBe(404);
    const warn = await req('/api/v1/namespaces/default/pods?fieldValidation=Warn', {
      method: 'POST',
      body: pod('warn', { bogus: 1 }),
    });
    expect(warn.status).toBe(201);
    expect(warn.headers.get('warning')).toBe('299 - "unknown field \\"spec.containers[0].bogus\\""');
  });

  it('custom resources are checked against their structural schema', async () => {
    const r = await req(
      '/apis/vmprobe.io/v1alpha1/namespaces/default/vmiprobestatuses?fieldValidation=Strict',
      {
        method: 'POST',
        body: {
          apiVersion: 'vmprobe.io/v1alpha1',
          kind: 'VMIProbeStatus',
          metadata: { name: 'x' },
          spec: {},
          extra: true,
        },
      },
    );
    expect(r.status).toBe(400);
    expect(r.body.message).toContain('unknown field "extra"');
  });
});

describe('identity', () => {
  it('impersonation runs the request as the impersonated identity, with its RBAC', async () => {
    const asAgent = { 'Impersonate-User': `system:serviceaccount:vmprobe-system:vmprobe` };
    const nodes = await req('/api/v1/nodes', { headers: asAgent });
    expect(nodes.status).toBe(403);
    expect(nodes.body.message).toBe(
      'nodes is forbidden: User "system:serviceaccount:vmprobe-system:vmprobe" cannot list resource "nodes" in API group "" at the cluster scope',
    );
    expect((await req('/api/v1/pods', { headers: asAgent })).status).toBe(200);
  });

  it('impersonating without the impersonate verb is 403, never ignored', async () => {
    const r = await req('/api/v1/pods', { user: AGENT, headers: { 'Impersonate-User': 'admin' } });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe(
      `users "admin" is forbidden: User "${AGENT}" cannot impersonate resource "users" in API group "" at the cluster scope`,
    );
    const g = await req('/api/v1/pods', { user: AGENT, headers: { 'Impersonate-Group': 'system:masters' } });
    expect(g.status).toBe(400);
  });

  it('SelfSubjectRulesReview lists the caller’s rules in a namespace (kubectl auth can-i --list)', async () => {
    const r = await req('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
      user: AGENT,
      method: 'POST',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectRulesReview',
        spec: { namespace: 'default' },
      },
    });
    expect(r.status).toBe(201);
    expect(r.body.status.incomplete).toBe(false);
    expect(r.body.status.resourceRules).toContainEqual({
      verbs: ['patch'],
      apiGroups: [''],
      resources: ['pods/status'],
    });
    expect(r.body.status.resourceRules.flatMap((x: Any) => x.resources)).not.toContain('nodes');
    expect(r.body.status.nonResourceRules).toContainEqual(
      expect.objectContaining({ nonResourceURLs: expect.arrayContaining(['/openapi/*']) }),
    );
  });

  it('SelfSubjectAccessReview answers with the emulator’s RBAC for the caller; SelfSubjectReview says who that is', async () => {
    const review = (verb: string, resource: string, group = '') => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb, resource, group, namespace: 'default' } },
    });
    const yes = await req('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      user: AGENT,
      method: 'POST',
      body: review('delete', 'pods'),
    });
    expect([yes.status, yes.body.status.allowed]).toEqual([201, true]);
    const no = await req('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      user: AGENT,
      method: 'POST',
      body: review('delete', 'virtualmachineinstances', 'kubevirt.io'),
    });
    expect(no.body.status.allowed).toBe(false);
    const who = await req('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      headers: { 'Impersonate-User': 'jane', 'Impersonate-Group': 'devs' },
    });
    expect(who.body.status.userInfo).toEqual({ username: 'jane', groups: ['devs', 'system:authenticated'] });
  });
});

describe('kinds and defaults', () => {
  it('pod QoS: Guaranteed, Burstable and BestEffort as kube-apiserver computes them', async () => {
    const mk = (name: string, resources: object) =>
      emu.store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { containers: [{ name: 'c', image: 'i', resources }] },
      });
    expect(
      (emu.store.get({ apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web' }) as Any).status
        .qosClass,
    ).toBe('Guaranteed');
    expect((mk('q-burst', { requests: { memory: '1024M' } }) as Any).status.qosClass).toBe('Burstable');
    expect((mk('q-none', {}) as Any).status.qosClass).toBe('BestEffort');
    expect((mk('q-limits', { limits: { cpu: '500m', memory: '1Gi' } }) as Any).status.qosClass).toBe(
      'Guaranteed',
    );
  });

  it('apps/v1 DaemonSets are stored with zero status counts; strategic merge merges their containers by name', async () => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'a' } },
        template: {
          metadata: { labels: { app: 'a' } },
          spec: {
            containers: [
              { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }] },
              { name: 'b', image: 'b:1' },
            ],
          },
        },
      },
    };
    const created = await req('/apis/apps/v1/namespaces/default/daemonsets', { method: 'POST', body: ds });
    expect(created.status).toBe(201);
    expect(created.body.status).toMatchObject({ desiredNumberScheduled: 0, numberReady: 0 });
    const patched = await req('/apis/apps/v1/namespaces/default/daemonsets/agent', {
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: {
        spec: { template: { spec: { containers: [{ name: 'a', env: [{ name: 'Y', value: '2' }] }] } } },
      },
    });
    expect(patched.status).toBe(200);
    const cs = patched.body.spec.template.spec.containers;
    expect(cs.map((c: Any) => [c.name, c.image])).toEqual([
      ['a', 'a:1'],
      ['b', 'b:1'],
    ]);
    expect(cs[0].env.map((e: Any) => e.name)).toEqual(['X', 'Y']);
    expect(patched.body.metadata.generation).toBe(2);
  });

  it('admissionregistration.k8s.io/v1 objects are stored and listed', async () => {
    for (const [plural, kind, body] of [
      ['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', { webhooks: [] }],
      ['validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', { webhooks: [] }],
      [
        'validatingadmissionpolicies',
        'ValidatingAdmissionPolicy',
        { spec: { validations: [{ expression: 'true' }] } },
      ],
      [
        'validatingadmissionpolicybindings',
        'ValidatingAdmissionPolicyBinding',
        { spec: { policyName: 'p', validationActions: ['Deny'] } },
      ],
    ] as const) {
      const r = await req(`/apis/admissionregistration.k8s.io/v1/${plural}`, {
        method: 'POST',
        body: { apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name: 'vmprobe' }, ...body },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const list = await req(`/apis/admissionregistration.k8s.io/v1/${plural}`);
      expect(list.body.items.map((o: Any) => o.metadata.name)).toEqual(['vmprobe']);
    }
  });

  it('policy/v1 PodDisruptionBudgets and core/v1 Secrets are stored (stringData folded into data)', async () => {
    const pdb = await req('/apis/policy/v1/namespaces/default/poddisruptionbudgets', {
      method: 'POST',
      body: {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'webhook' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'w' } } },
      },
    });
    expect(pdb.status).toBe(201);
    expect(pdb.body.status.disruptionsAllowed).toBe(0);
    const secret = await req('/api/v1/namespaces/default/secrets', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls' }, stringData: { 'ca.crt': 'pem' } },
    });
    expect(secret.status).toBe(201);
    expect(secret.body).toMatchObject({
      type: 'Opaque',
      data: { 'ca.crt': Buffer.from('pem').toString('base64') },
    });
    expect(secret.body.stringData).toBeUndefined();
  });

  it('a deleted namespace stays Terminating a while (objects in it still deletable, no new ones), then goes', async () => {
    emu.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'term' } });
    emu.store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'term' } });
    expect((await req('/api/v1/namespaces/term', { method: 'DELETE' })).body.status.phase).toBe(
      'Terminating',
    );
    const create = await req('/api/v1/namespaces/term/configmaps', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new' } },
    });
    expect(create.status).toBe(403);
    expect(create.body.message).toBe(
      'configmaps "new" is forbidden: unable to create new content in namespace term because it is being terminated',
    );
    expect((await req('/api/v1/namespaces/term/configmaps/cm', { method: 'DELETE' })).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while ((await req('/api/v1/namespaces/term')).status !== 404) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
