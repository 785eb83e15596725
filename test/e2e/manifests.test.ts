// Every manifest under manifests/, rendered like `kubectl apply -k` would, checked against the
// Kubernetes schemas (kubernetes-models validators, plus unknown-field detection like
// `kubectl apply --validate=strict` from client-node's type maps), the DaemonSet's security rules,
// the alerts through `promtool check rules` and `promtool test rules`, and the dashboard's PromQL.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type K8sObject, MANIFESTS_DIR, type Rendered, renderKustomization } from './kustomize-render.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool)
  console.log('promtool not found (apt-get install prometheus): skipping the promtool checks');

type Validator = new (data: never) => { validate(): void };
/** apiVersion/kind → schema validator; a kind missing here fails the test (every object is checked). */
const VALIDATORS: Record<string, { model: Validator; clientType?: string }> = {
  'v1/Namespace': { model: Namespace as unknown as Validator, clientType: 'V1Namespace' },
  'v1/ServiceAccount': { model: ServiceAccount as unknown as Validator, clientType: 'V1ServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap as unknown as Validator, clientType: 'V1ConfigMap' },
  'v1/Service': { model: Service as unknown as Validator, clientType: 'V1Service' },
  'v1/Secret': { model: Secret as unknown as Validator, clientType: 'V1Secret' },
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': {
    model: ValidatingAdmissionPolicy as unknown as Validator,
    clientType: 'V1ValidatingAdmissionPolicy',
  },
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': {
    model: ValidatingAdmissionPolicyBinding as unknown as Validator,
    clientType: 'V1ValidatingAdmissionPolicyBinding',
  },
  'apps/v1/DaemonSet': { model: DaemonSet as unknown as Validator, clientType: 'V1DaemonSet' },
  'apps/v1/Deployment': { model: Deployment as unknown as Validator, clientType: 'V1Deployment' },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget as unknown as Validator,
    clientType: 'V1PodDisruptionBudget',
  },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': {
    model: MutatingWebhookConfiguration as unknown as Validator,
    clientType: 'V1MutatingWebhookConfiguration',
  },
  'cert-manager.io/v1/Issuer': { model: Issuer as unknown as Validator },
  'cert-manager.io/v1/Certificate': { model: Certificate as unknown as Validator },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    model: ClusterRole as unknown as Validator,
    clientType: 'V1ClusterRole',
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding as unknown as Validator,
    clientType: 'V1ClusterRoleBinding',
  },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': {
    model: CustomResourceDefinition as unknown as Validator,
    clientType: 'V1CustomResourceDefinition',
  },
  'monitoring.coreos.com/v1/PodMonitor': { model: PodMonitor as unknown as Validator },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule as unknown as Validator },
};

/** Field paths the typed client model does not know (what strict server-side validation rejects). */
function unknownFields(v: unknown, type: string, path: string, out: string[]): void {
  if (v === null || v === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        unknownFields(x, arr[1]!, `${path}[${i}]`, out);
      });
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      unknownFields(x, map[1]!, `${path}.${k}`, out);
    return;
  }
  const cls = (
    k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>
  )[type];
  if (!cls?.getAttributeTypeMap || typeof v !== 'object' || Array.isArray(v)) return;
  const attrs = cls.getAttributeTypeMap();
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const a = attrs.find((at) => at.baseName === k);
    if (!a) out.push(`${path}.${k}`);
    else unknownFields(x, a.type, `${path}.${k}`, out);
  }
}

function validate(r: Rendered): void {
  const o = r.object;
  const where = `${o.kind} ${o.metadata.name} (${r.source})`;
  const v = VALIDATORS[`${o.apiVersion}/${o.kind}`];
  if (!v) throw new Error(`${where}: no schema validator for ${o.apiVersion}/${o.kind}; add one to the test`);
  try {
    new v.model(structuredClone(o) as never).validate();
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  if (v.clientType) {
    const unknown: string[] = [];
    unknownFields(o, v.clientType, '', unknown);
    expect(unknown, `${where}: unknown fields`).toEqual([]);
  }
}

const KUSTOMIZATIONS = ['.', 'base', 'overlays/monitoring', 'overlays/delete-vmi', 'overlays/guest-probes'];

function find(objects: Rendered[], kind: string, name?: string): K8sObject {
  const hit = objects.find(
    (r) => r.object.kind === kind && (name === undefined || r.object.metadata.name === name),
  );
  if (!hit) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return hit.object;
}

describe('manifests', () => {
  for (const dir of KUSTOMIZATIONS) {
    it(`renders manifests/${dir} and every object passes its Kubernetes schema`, () => {
      const objects = renderKustomization(join(MANIFESTS_DIR, dir));
      expect(objects.length).toBeGreaterThan(0);
      for (const r of objects) validate(r);
    });
  }

  it('installs everything from manifests/: Namespace, CRD, RBAC, DaemonSet and the readiness-gate webhook', () => {
    const kinds = renderKustomization(MANIFESTS_DIR).map((r) => `${r.object.kind}/${r.object.metadata.name}`);
    expect(kinds.sort()).toEqual(
      [
        'ClusterRole/vmprobe',
        'ClusterRole/vmprobe-debug-reader',
        'ClusterRole/vmprobe-metrics-reader',
        'ClusterRoleBinding/vmprobe',
        'CustomResourceDefinition/vmiprobestatuses.vmprobe.io',
        'DaemonSet/vmprobe',
        'Namespace/vmprobe-system',
        'ServiceAccount/vmprobe',
        'ServiceAccount/vmprobe-webhook',
        'ClusterRole/vmprobe-webhook',
        'ClusterRoleBinding/vmprobe-webhook',
        'Deployment/vmprobe-webhook',
        'Service/vmprobe-webhook',
        'PodDisruptionBudget/vmprobe-webhook',
        'Issuer/vmprobe-selfsigned',
        'Certificate/vmprobe-webhook-ca',
        'Issuer/vmprobe-webhook-ca',
        'Certificate/vmprobe-webhook',
        'MutatingWebhookConfiguration/vmprobe-readiness-gate',
        'ValidatingAdmissionPolicy/vmprobe-node-bound-writes',
        'ValidatingAdmissionPolicyBinding/vmprobe-node-bound-writes',
      ].sort(),
    );
  });

  it('registers the readiness-gate webhook as design §7 requires (pods CREATE, launcher selector, v1, no side effects)', () => {
    const objects = renderKustomization(MANIFESTS_DIR);
    const mwc = find(
      objects,
      'MutatingWebhookConfiguration',
      'vmprobe-readiness-gate',
    ) as unknown as k8s.V1MutatingWebhookConfiguration;
    expect(mwc.metadata?.annotations?.['cert-manager.io/inject-ca-from']).toBe(
      'vmprobe-system/vmprobe-webhook',
    );
    expect(mwc.webhooks).toHaveLength(1);
    const w = mwc.webhooks![0]!;
    expect(w.sideEffects).toBe('None');
    expect(w.admissionReviewVersions).toEqual(['v1']);
    expect(w.rules).toEqual([
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    expect(w.objectSelector).toEqual({ matchLabels: { 'kubevirt.io': 'virt-launcher' } });
    expect(w.reinvocationPolicy).toBe('IfNeeded');
    expect(['Fail', 'Ignore']).toContain(w.failurePolicy);
    expect(w.timeoutSeconds).toBeGreaterThan(0);
    expect(w.timeoutSeconds).toBeLessThanOrEqual(10);
    expect(w.clientConfig.service?.path).toBe('/mutate-v1-pod');
    // The Service it calls selects the Deployment's pods on the port the webhook listens on.
    const svc = find(objects, 'Service', w.clientConfig.service!.name) as unknown as k8s.V1Service;
    expect(svc.metadata?.namespace).toBe(w.clientConfig.service?.namespace);
    expect(svc.spec?.ports?.[0]?.port).toBe(w.clientConfig.service?.port ?? 443);
    const cert = find(objects, 'Certificate', 'vmprobe-webhook') as unknown as {
      spec: { dnsNames: string[]; secretName: string; issuerRef: { name: string } };
    };
    expect(cert.spec.dnsNames).toContain(`${svc.metadata?.name}.${svc.metadata?.namespace}.svc`);
    expect(find(objects, 'Issuer', cert.spec.issuerRef.name)).toBeDefined();
    const dep = find(objects, 'Deployment', 'vmprobe-webhook') as unknown as k8s.V1Deployment;
    const podLabels = dep.spec!.template.metadata!.labels!;
    for (const [k, v] of Object.entries(svc.spec!.selector!)) expect(podLabels[k]).toBe(v);
    // The webhook's own pods never match its objectSelector (no bootstrap deadlock).
    expect(podLabels['kubevirt.io']).toBeUndefined();
    const pod = dep.spec!.template.spec!;
    expect(pod.volumes?.find((v) => v.secret)?.secret?.secretName).toBe(cert.spec.secretName);
  });

  it('runs the webhook Deployment as the issue requires: 2 replicas spread over nodes, PDB, non-root, read-only root', () => {
    const objects = renderKustomization(MANIFESTS_DIR);
    const dep = find(objects, 'Deployment', 'vmprobe-webhook') as unknown as k8s.V1Deployment;
    expect(dep.metadata?.namespace).toBe('vmprobe-system');
    expect(dep.spec!.replicas).toBeGreaterThanOrEqual(2);
    const pod = dep.spec!.template.spec!;
    expect(pod.hostNetwork).not.toBe(true);
    expect(pod.topologySpreadConstraints?.[0]?.topologyKey).toBe('kubernetes.io/hostname');
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).not.toBe(0);
    const c = pod.containers[0]!;
    expect(c.args?.[0]).toBe('webhook');
    expect(c.args).toContain('--listen=:9443');
    expect(c.args?.some((a) => a.startsWith('--tls-cert-file='))).toBe(true);
    expect(c.args?.some((a) => a.startsWith('--tls-private-key-file='))).toBe(true);
    expect(c.image).toMatch(/^ghcr\.io\/vmprobe\/vmprobe:\d+\.\d+\.\d+/);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
    expect(c.resources?.requests?.cpu).toBeDefined();
    expect(c.resources?.requests?.memory).toBeDefined();
    expect(c.resources?.limits?.memory).toBeDefined();
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    const pdb = find(
      objects,
      'PodDisruptionBudget',
      'vmprobe-webhook',
    ) as unknown as k8s.V1PodDisruptionBudget;
    expect(pdb.spec?.selector?.matchLabels).toEqual(dep.spec!.selector.matchLabels);
    expect(pdb.spec?.minAvailable).toBe(1);
    // Least privilege: get on VMIs, nothing else.
    const role = find(objects, 'ClusterRole', 'vmprobe-webhook') as unknown as k8s.V1ClusterRole;
    expect(role.rules).toEqual([
      { apiGroups: ['kubevirt.io'], resources: ['virtualmachineinstances'], verbs: ['get'] },
    ]);
    const crb = find(objects, 'ClusterRoleBinding', 'vmprobe-webhook') as unknown as k8s.V1ClusterRoleBinding;
    expect(crb.subjects).toEqual([
      { kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: 'vmprobe-system' },
    ]);
  });

  it('labels the namespace for the privileged Pod Security level', () => {
    const ns = find(renderKustomization(MANIFESTS_DIR), 'Namespace', 'vmprobe-system');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  it('runs the DaemonSet as the design requires', () => {
    const objects = renderKustomization(MANIFESTS_DIR);
    const ds = find(objects, 'DaemonSet', 'vmprobe') as unknown as k8s.V1DaemonSet;
    const pod = ds.spec!.template.spec!;
    expect(ds.metadata!.namespace).toBe('vmprobe-system');
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.image).toMatch(/^ghcr\.io\/vmprobe\/vmprobe:\d+\.\d+\.\d+/);
    expect(c.image).toBe(
      `ghcr.io/vmprobe/vmprobe:${JSON.parse(readFileSync(join(MANIFESTS_DIR, '../agent/package.json'), 'utf8')).version}`,
    );
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toEqual({
      NODE_NAME: 'spec.nodeName',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
    });
    const sc = c.securityContext!;
    expect(sc.capabilities).toEqual({ drop: ['ALL'], add: ['NET_RAW'] });
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.privileged).not.toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.seccompProfile?.type).toBe('RuntimeDefault');
    const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    expect(c.resources?.requests?.cpu).toBeDefined();
    expect(c.resources?.requests?.memory).toBeDefined();
    expect(c.resources?.limits?.memory).toBeDefined();
    expect(c.resources?.limits?.cpu).toBeUndefined();
    const port = c.ports?.find((p) => p.name === 'metrics');
    expect(port?.containerPort).toBe(9470);
    expect(c.args).toContain('--listen=0.0.0.0:9470');
    for (const [probe, path] of [
      [c.startupProbe, '/healthz'],
      [c.livenessProbe, '/healthz'],
      [c.readinessProbe, '/readyz'],
    ] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      expect(probe?.httpGet?.port).toBe('metrics');
    }
    expect(ds.spec!.updateStrategy?.type).toBe('RollingUpdate');
    expect(ds.spec!.updateStrategy?.rollingUpdate?.maxUnavailable).toBeDefined();
    // The service account it runs as is the one the RBAC binds.
    const crb = find(objects, 'ClusterRoleBinding', 'vmprobe') as unknown as k8s.V1ClusterRoleBinding;
    expect(crb.subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: pod.serviceAccountName,
      namespace: 'vmprobe-system',
    });
    expect(
      objects.some(
        (r) => r.object.kind === 'ServiceAccount' && r.object.metadata.name === pod.serviceAccountName,
      ),
    ).toBe(true);
  });

  it('scrapes the agent with honorLabels (per-VMI series carry their own namespace label)', () => {
    const pm = find(
      renderKustomization(join(MANIFESTS_DIR, 'overlays/monitoring')),
      'PodMonitor',
    ) as unknown as {
      spec: { podMetricsEndpoints: { port: string; honorLabels: boolean }[]; jobLabel: string };
    };
    expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
    expect(pm.spec.jobLabel).toBe('app.kubernetes.io/name');
  });

  it('gives every alert a severity and a runbook in docs/runbooks', () => {
    const rule = find(
      renderKustomization(join(MANIFESTS_DIR, 'overlays/monitoring')),
      'PrometheusRule',
    ) as unknown as {
      spec: {
        groups: {
          rules: { alert?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
        }[];
      };
    };
    const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      const url = a.annotations?.runbook_url ?? '';
      expect(url, a.alert).toMatch(new RegExp(`/docs/runbooks/${a.alert}\\.md$`));
      expect(existsSync(join(MANIFESTS_DIR, `../docs/runbooks/${a.alert}.md`)), `${a.alert} runbook`).toBe(
        true,
      );
      expect(a.annotations?.summary, a.alert).toBeTruthy();
    }
  });

  it('ships the Grafana dashboard as a ConfigMap for the sidecar', () => {
    const cm = find(
      renderKustomization(join(MANIFESTS_DIR, 'overlays/monitoring')),
      'ConfigMap',
      'vmprobe-dashboard',
    ) as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data['vmprobe.json']!) as { uid: string; panels: unknown[] };
    expect(dash.uid).toBe('vmprobe-overview');
    expect(dash.panels.length).toBeGreaterThan(5);
  });

  it.skipIf(!hasPromtool)('passes promtool check rules and the alert unit tests', () => {
    const rule = find(
      renderKustomization(join(MANIFESTS_DIR, 'overlays/monitoring')),
      'PrometheusRule',
    ) as unknown as {
      spec: { groups: unknown[] };
    };
    const dir = mkdtempSync(join(tmpdir(), 'vmprobe-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toMatch(/SUCCESS/);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    writeFileSync(
      join(dir, 'tests.yaml'),
      readFileSync(new URL('./alerts.promtool-test.yaml', import.meta.url), 'utf8').replaceAll(
        'RULES_FILE',
        'rules.yaml',
      ),
    );
    const test = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yaml')], {
      encoding: 'utf8',
      cwd: dir,
    });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  });

  it.skipIf(!hasPromtool)('parses every dashboard query with promtool', () => {
    const dash = JSON.parse(readFileSync(join(MANIFESTS_DIR, 'monitoring/dashboard.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const rules = dash.panels.flatMap((p, i) =>
      (p.targets ?? []).map((t, j) => ({
        record: `dashboard:panel${i}:target${j}`,
        expr: t.expr
          .replaceAll('$__rate_interval', '5m')
          .replaceAll('$node', '.*')
          .replaceAll('$namespace', '.*'),
      })),
    );
    expect(rules.length).toBeGreaterThan(10);
    const dir = mkdtempSync(join(tmpdir(), 'vmprobe-dash-'));
    writeFileSync(join(dir, 'dash.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'dash.yaml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
