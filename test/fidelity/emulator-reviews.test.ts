// Fidelity: TokenReview and SubjectAccessReview through @kubernetes/client-node (the calls the
// agent's endpoint guard and kube-rbac-proxy make), and ValidatingAdmissionPolicy evaluation with CEL.
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiFailure,
  authorize,
  type Emulator,
  NODE_NAME_EXTRA,
  startEmulator,
  VMPROBE_AGENT_USER,
} from '../src/emulator/index.js';

const REVIEWER = 'system:serviceaccount:vmprobe-system:reviewer';
const rbac = [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'reviewer' },
    rules: [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'reviewer' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reviewer' },
    subjects: [{ kind: 'ServiceAccount', name: 'reviewer', namespace: 'vmprobe-system' }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'metrics' },
    rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'metrics' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'metrics' },
    subjects: [{ kind: 'User', name: 'scraper' }],
  },
];

describe('emulator: TokenReview and SubjectAccessReview', () => {
  let emu: Emulator;
  let kc: KubeConfig;
  beforeAll(async () => {
    emu = await startEmulator({});
    emu.loadRbac(rbac);
    kc = emu.kubeConfig(REVIEWER);
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it('TokenReview authenticates the tokens it issued, with the node claim of a node-bound one', async () => {
    const api = kc.makeApiClient(AuthenticationV1Api);
    const token = emu.tokenFor(VMPROBE_AGENT_USER, { nodeName: 'node-a' });
    const r = await api.createTokenReview({ body: { spec: { token } } });
    expect(r.status?.authenticated).toBe(true);
    expect(r.status?.user?.username).toBe(VMPROBE_AGENT_USER);
    expect(r.status?.user?.groups).toEqual(
      expect.arrayContaining(['system:serviceaccounts', 'system:authenticated']),
    );
    expect(r.status?.user?.extra).toEqual({ [NODE_NAME_EXTRA]: ['node-a'] });
    const plain = await api.createTokenReview({
      body: { spec: { token: emu.tokenFor(VMPROBE_AGENT_USER) } },
    });
    expect(plain.status?.user?.extra).toBeUndefined();
    const bad = await api.createTokenReview({ body: { spec: { token: 'nope' } } });
    expect(bad.status?.authenticated).toBeFalsy();
    expect(bad.status?.error).toContain('invalid bearer token');
  });

  it('SubjectAccessReview evaluates nonResourceURLs and resource attributes with RBAC', async () => {
    const api = kc.makeApiClient(AuthorizationV1Api);
    const nonRes = (user: string, path: string) =>
      api.createSubjectAccessReview({
        body: {
          spec: { user, groups: ['system:authenticated'], nonResourceAttributes: { path, verb: 'get' } },
        },
      });
    expect((await nonRes('scraper', '/metrics')).status?.allowed).toBe(true);
    expect((await nonRes('scraper', '/debug/probes')).status?.allowed).toBe(false);
    expect((await nonRes('someone', '/metrics')).status?.allowed).toBe(false);
    const res = await api.createSubjectAccessReview({
      body: {
        spec: {
          user: REVIEWER,
          groups: ['system:serviceaccounts'],
          resourceAttributes: { group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' },
        },
      },
    });
    expect(res.status?.allowed).toBe(true);
    expect(
      authorize((emu as unknown as { rbac: never }).rbac, {
        user: 'scraper',
        nonResourceAttributes: { path: '/metrics', verb: 'get' },
      }),
    ).toMatchObject({ allowed: true });
    const invalid = await apiFailure(api.createSubjectAccessReview({ body: { spec: { user: 'x' } } }));
    expect(invalid.code).toBe(422);
  });

  it('creating reviews needs RBAC like any request', async () => {
    const other = emu.kubeConfig('system:serviceaccount:default:nobody').makeApiClient(AuthenticationV1Api);
    const e = await apiFailure(other.createTokenReview({ body: { spec: { token: 'x' } } }));
    expect(e.code).toBe(403);
  });
});

describe('emulator: ValidatingAdmissionPolicy with CEL', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({});
    emu.store.create({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'labels-match-node' },
      spec: {
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
              operations: ['CREATE', 'UPDATE'],
            },
          ],
        },
        matchConditions: [{ name: 'not-admin', expression: "request.userInfo.username != 'admin'" }],
        variables: [
          {
            name: 'node',
            expression: `'${NODE_NAME_EXTRA}' in request.userInfo.extra ? request.userInfo.extra['${NODE_NAME_EXTRA}'][0] : ''`,
          },
        ],
        validations: [
          {
            expression: "has(object.data) && 'node' in object.data && object.data['node'] == variables.node",
            messageExpression: "'data.node must be ' + variables.node",
            reason: 'Forbidden',
          },
          {
            expression: 'oldObject == null || oldObject.data.node == object.data.node',
            message: 'data.node is immutable',
          },
        ],
      },
    });
    emu.store.create({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'labels-match-node' },
      spec: { policyName: 'labels-match-node', validationActions: ['Deny'] },
    });
  });
  afterAll(async () => {
    await emu?.stop();
  });

  const cm = (name: string, node: string) => ({ metadata: { name }, data: { node } });

  it('allows what the expressions allow, denies with the policy reason and message', async () => {
    const core = emu.kubeConfig('u', { nodeName: 'node-a' }).makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('ok', 'node-a') });
    const denied = await apiFailure(
      core.createNamespacedConfigMap({ namespace: 'default', body: cm('no', 'node-b') }),
    );
    expect(denied.code).toBe(403);
    expect(denied.status.message).toContain(
      "ValidatingAdmissionPolicy 'labels-match-node' with binding 'labels-match-node' denied request: data.node must be node-a",
    );
    // oldObject on UPDATE; no reason → 422 Invalid
    const changed = await apiFailure(
      emu
        .kubeConfig('u', { nodeName: 'node-b' })
        .makeApiClient(CoreV1Api)
        .replaceNamespacedConfigMap({
          name: 'ok',
          namespace: 'default',
          body: cm('ok', 'node-b'),
        }),
    );
    expect(changed.code).toBe(422);
    expect(changed.status.message).toContain('data.node is immutable');
  });

  it('matchConditions exclude requests; a missing claim fails the expressions', async () => {
    const admin = emu.kubeConfig('admin').makeApiClient(CoreV1Api);
    await admin.createNamespacedConfigMap({ namespace: 'default', body: cm('by-admin', 'anything') });
    const unbound = emu.kubeConfig('u').makeApiClient(CoreV1Api);
    expect(
      (await apiFailure(unbound.createNamespacedConfigMap({ namespace: 'default', body: cm('x', 'node-a') })))
        .code,
    ).toBe(403);
  });
});
