/**
 * Built-in kinds the emulator stores without behaviour of its own, so that `kubectl apply -k
 * manifests/` succeeds as on a cluster: apps/v1 DaemonSets and Deployments (status set to the
 * zero counts a controller would start from; no controller creates their pods), policy/v1
 * PodDisruptionBudgets (no disruption controller), core/v1 Secrets, and the
 * admissionregistration.k8s.io/v1 configuration objects (stored generically; webhook calling and
 * policy evaluation, where emulated, live in their own modules). Also the create-only review kinds
 * served by `reviews-self.ts` (SelfSubjectAccessReview, SelfSubjectReview).
 */
import { builtin, type ResourceType } from './resources.js';

// biome-ignore lint/suspicious/noExplicitAny: field accessors walk arbitrary JSON.
type Any = any;

export function workloadAndAdmissionResources(): ResourceType[] {
  return [
    builtin({
      group: 'apps',
      plural: 'daemonsets',
      singular: 'daemonset',
      kind: 'DaemonSet',
      namespaced: true,
      shortNames: ['ds'],
      categories: ['all'],
      statusSubresource: true,
    }),
    builtin({
      group: 'apps',
      plural: 'deployments',
      singular: 'deployment',
      kind: 'Deployment',
      namespaced: true,
      shortNames: ['deploy'],
      categories: ['all'],
      statusSubresource: true,
    }),
    builtin({
      group: 'policy',
      plural: 'poddisruptionbudgets',
      singular: 'poddisruptionbudget',
      kind: 'PodDisruptionBudget',
      namespaced: true,
      shortNames: ['pdb'],
      statusSubresource: true,
    }),
    builtin({
      group: '',
      plural: 'secrets',
      singular: 'secret',
      kind: 'Secret',
      namespaced: true,
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      plural: 'mutatingwebhookconfigurations',
      singular: 'mutatingwebhookconfiguration',
      kind: 'MutatingWebhookConfiguration',
      namespaced: false,
      categories: ['api-extensions'],
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      plural: 'validatingwebhookconfigurations',
      singular: 'validatingwebhookconfiguration',
      kind: 'ValidatingWebhookConfiguration',
      namespaced: false,
      categories: ['api-extensions'],
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      plural: 'validatingadmissionpolicies',
      singular: 'validatingadmissionpolicy',
      kind: 'ValidatingAdmissionPolicy',
      namespaced: false,
      categories: ['api-extensions'],
      statusSubresource: true,
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      plural: 'validatingadmissionpolicybindings',
      singular: 'validatingadmissionpolicybinding',
      kind: 'ValidatingAdmissionPolicyBinding',
      namespaced: false,
      categories: ['api-extensions'],
    }),
    builtin({
      group: 'authorization.k8s.io',
      plural: 'selfsubjectaccessreviews',
      singular: 'selfsubjectaccessreview',
      kind: 'SelfSubjectAccessReview',
      namespaced: false,
      verbs: ['create'],
    }),
    builtin({
      group: 'authorization.k8s.io',
      plural: 'selfsubjectrulesreviews',
      singular: 'selfsubjectrulesreview',
      kind: 'SelfSubjectRulesReview',
      namespaced: false,
      verbs: ['create'],
    }),
    builtin({
      group: 'authentication.k8s.io',
      plural: 'selfsubjectreviews',
      singular: 'selfsubjectreview',
      kind: 'SelfSubjectReview',
      namespaced: false,
      verbs: ['create'],
    }),
  ];
}

/** The status a workload starts with before any controller has looked at it. */
export function initialWorkloadStatus(kind: string, obj: Any): Any | undefined {
  if (kind === 'DaemonSet')
    return {
      currentNumberScheduled: 0,
      numberMisscheduled: 0,
      desiredNumberScheduled: 0,
      numberReady: 0,
    };
  if (kind === 'Deployment') return {};
  if (kind === 'PodDisruptionBudget')
    return {
      disruptionsAllowed: 0,
      currentHealthy: 0,
      desiredHealthy: 0,
      expectedPods: 0,
      observedGeneration: obj.metadata?.generation,
    };
  return undefined;
}

/** Defaults kube-apiserver applies to workloads that clients read back (selector, strategy, template). */
export function defaultWorkload(kind: string, obj: Any): void {
  if (kind === 'Secret') {
    // stringData is write-only: merged into data (base64), as the Secret strategy does.
    obj.type ??= 'Opaque';
    if (obj.stringData && typeof obj.stringData === 'object') {
      obj.data = { ...(obj.data ?? {}) };
      for (const [k, v] of Object.entries(obj.stringData))
        obj.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      delete obj.stringData;
    }
    return;
  }
  if (kind !== 'DaemonSet' && kind !== 'Deployment') return;
  obj.spec ??= {};
  const spec = obj.spec;
  spec.revisionHistoryLimit ??= 10;
  if (kind === 'DaemonSet') {
    spec.updateStrategy ??= { type: 'RollingUpdate' };
    if (spec.updateStrategy.type === 'RollingUpdate')
      spec.updateStrategy.rollingUpdate ??= { maxUnavailable: 1, maxSurge: 0 };
  } else {
    spec.replicas ??= 1;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: 'RollingUpdate' };
    if (spec.strategy.type === 'RollingUpdate')
      spec.strategy.rollingUpdate ??= { maxUnavailable: '25%', maxSurge: '25%' };
  }
  const podSpec = spec.template?.spec;
  if (podSpec) {
    podSpec.restartPolicy ??= 'Always';
    podSpec.terminationGracePeriodSeconds ??= 30;
    podSpec.dnsPolicy ??= 'ClusterFirst';
    podSpec.schedulerName ??= 'default-scheduler';
    podSpec.securityContext ??= {};
  }
}
