/**
 * The "self" reviews kubectl uses: SelfSubjectAccessReview (`kubectl auth can-i`), evaluated by the
 * emulator's RBAC authorizer for the requesting (possibly impersonated) identity,
 * SelfSubjectRulesReview (`kubectl auth can-i --list`) and SelfSubjectReview (`kubectl auth whoami`). Create-only, nothing stored; the answer echoes the
 * request's spec with a status, as kube-apiserver's registry does.
 */
import { errors } from './errors.js';
import type { ImpersonatedIdentity } from './impersonation.js';
import type { RbacAuthorizer } from './rbac.js';
import type { RequestInfo } from './router.js';
import { isPlainObject, rfc3339 } from './util.js';

// biome-ignore lint/suspicious/noExplicitAny: review bodies are arbitrary JSON.
type Any = any;

export const SELF_REVIEWS = {
  ssar: 'selfsubjectaccessreviews.authorization.k8s.io',
  ssrr: 'selfsubjectrulesreviews.authorization.k8s.io',
  ssr: 'selfsubjectreviews.authentication.k8s.io',
} as const;

/** SelfSubjectRulesReview: the caller's rules in `spec.namespace`, split as the API reports them. */
export function selfSubjectRulesReview(
  body: unknown,
  id: ImpersonatedIdentity,
  rbac: RbacAuthorizer,
  apiVersion: string,
): Any {
  const b = (isPlainObject(body) ? body : {}) as Any;
  const rules = rbac.rulesFor(id, b.spec?.namespace || undefined);
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion,
    metadata: { creationTimestamp: null },
    spec: b.spec ?? {},
    status: {
      resourceRules: rules
        .filter((r) => r.resources !== undefined)
        .map((r) => ({
          verbs: r.verbs ?? [],
          apiGroups: r.apiGroups ?? [],
          resources: r.resources ?? [],
          ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
        })),
      nonResourceRules: rules
        .filter((r) => r.nonResourceURLs !== undefined)
        .map((r) => ({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs ?? [] })),
      incomplete: false,
    },
  };
}

export function selfSubjectAccessReview(
  body: unknown,
  id: ImpersonatedIdentity,
  rbac: RbacAuthorizer,
  apiVersion: string,
): Any {
  if (!isPlainObject(body)) throw errors.badRequest('the body of the request must be a JSON object');
  const b = body as Any;
  const ra = b.spec?.resourceAttributes;
  const nra = b.spec?.nonResourceAttributes;
  if ((ra ? 1 : 0) + (nra ? 1 : 0) !== 1)
    throw errors.invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
      {
        reason: 'FieldValueRequired',
        message:
          'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
        field: 'spec.resourceAttributes',
      },
    ]);
  const info: RequestInfo = ra
    ? {
        isResourceRequest: true,
        path: '',
        verb: String(ra.verb ?? ''),
        group: String(ra.group ?? ''),
        version: String(ra.version ?? ''),
        namespace: ra.namespace || undefined,
        resource: String(ra.resource ?? ''),
        subresource: ra.subresource || undefined,
        name: ra.name || undefined,
      }
    : {
        isResourceRequest: false,
        path: String(nra.path ?? ''),
        verb: String(nra.verb ?? ''),
        group: '',
        version: '',
      };
  const allowed = rbac.allowed(id, info);
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion,
    metadata: { creationTimestamp: null },
    spec: b.spec,
    status: { allowed },
  };
}

export function selfSubjectReview(id: ImpersonatedIdentity, apiVersion: string): Any {
  return {
    kind: 'SelfSubjectReview',
    apiVersion,
    metadata: { creationTimestamp: rfc3339() },
    status: {
      userInfo: {
        username: id.user,
        ...(id.uid ? { uid: id.uid } : {}),
        groups: id.groups,
        ...(id.extra ? { extra: id.extra } : {}),
      },
    },
  };
}
