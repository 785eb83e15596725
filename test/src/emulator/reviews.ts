/**
 * The review APIs a delegating authenticator/authorizer calls (kube-rbac-proxy, controller-runtime's
 * secure metrics, vmprobe's endpoint guard): create-only, nothing stored.
 *  - TokenReview (authentication.k8s.io/v1): authenticates a token the emulator issued (`tokenFor`)
 *    → status.authenticated + user {username, uid, groups, extra} (extra carries the node claim of a
 *    node-bound token); anything else → authenticated false with `error`.
 *  - SubjectAccessReview (authorization.k8s.io/v1): `authorize` evaluates the attributes with the
 *    emulator's RBAC (resource attributes, and nonResourceAttributes with nonResourceURLs) → status
 *    {allowed, reason}. Exported for other emulator parts (SelfSubjectAccessReview, impersonation).
 * The caller's own right to create reviews is checked by the front's RBAC like any request.
 * Deviations: no audiences checking (status.audiences echoes the spec's), no Webhook/Node authorizer,
 * a denied review has allowed false, `denied` unset (RBAC has no deny rules) and no reason.
 */
import type { Authenticator } from './auth.js';
import { ApiError, errors } from './errors.js';
import type { RbacAuthorizer } from './rbac.js';
import type { Identity } from './rest.js';
import type { RequestInfo } from './router.js';

export const TOKEN_REVIEW = { group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews' };
export const SUBJECT_ACCESS_REVIEW = {
  group: 'authorization.k8s.io',
  version: 'v1',
  resource: 'subjectaccessreviews',
};

export interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export interface NonResourceAttributes {
  path?: string;
  verb?: string;
}

/** Who asks and what, as in a SubjectAccessReview spec. */
export interface AccessAttributes {
  user?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  uid?: string;
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: NonResourceAttributes;
}

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

/** The emulator's authorizer (RBAC) on review-style attributes: the decision a SubjectAccessReview returns. */
export function authorize(rbac: RbacAuthorizer, attrs: AccessAttributes): AccessDecision {
  const id: Identity = {
    user: attrs.user ?? '',
    groups: attrs.groups ?? [],
    ...(attrs.extra ? { extra: attrs.extra } : {}),
  };
  let info: RequestInfo;
  if (attrs.nonResourceAttributes) {
    const n = attrs.nonResourceAttributes;
    info = { isResourceRequest: false, path: n.path ?? '', verb: n.verb ?? '', group: '', version: '' };
  } else {
    const r = attrs.resourceAttributes ?? {};
    info = {
      isResourceRequest: true,
      path: '',
      verb: r.verb ?? '',
      group: r.group ?? '',
      version: r.version ?? '',
      ...(r.namespace ? { namespace: r.namespace } : {}),
      resource: r.resource ?? '',
      ...(r.name ? { name: r.name } : {}),
      ...(r.subresource ? { subresource: r.subresource } : {}),
    };
  }
  if (!rbac.allowed(id, info)) return { allowed: false };
  return { allowed: true, reason: `RBAC: allowed for User "${id.user}"` };
}

function isReview(info: RequestInfo, r: { group: string; version: string; resource: string }): boolean {
  return (
    info.isResourceRequest &&
    info.group === r.group &&
    info.version === r.version &&
    info.resource === r.resource
  );
}

function parseBody(body: string, kind: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(body);
  } catch (e) {
    throw errors.badRequest(`the body of the request was in an unknown format: ${(e as Error).message}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw errors.badRequest(`${kind}: body must be an object`);
  return obj as Record<string, unknown>;
}

function invalid(kind: string, field: string, message: string): ApiError {
  return new ApiError(422, 'Invalid', `${kind}.authorization.k8s.io "" is invalid: ${field}: ${message}`, {
    group: 'authorization.k8s.io',
    kind,
    causes: [{ reason: 'FieldValueRequired', message, field }],
  });
}

function tokenReview(auth: Authenticator, body: string): [number, unknown] {
  const req = parseBody(body, 'TokenReview');
  const spec = (req.spec ?? {}) as { token?: unknown; audiences?: unknown };
  const token = typeof spec.token === 'string' ? spec.token : '';
  const id = token ? auth.identityOf(token) : undefined;
  const audiences = Array.isArray(spec.audiences) ? spec.audiences : undefined;
  const status = id
    ? {
        authenticated: true,
        user: {
          username: id.user,
          uid: `emu-uid-${id.user}`,
          groups: id.groups,
          ...(id.extra ? { extra: id.extra } : {}),
        },
        ...(audiences ? { audiences } : {}),
      }
    : { user: {}, error: token ? '[invalid bearer token]' : '[token is empty]' };
  return [
    201,
    {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: req.spec ?? {},
      status,
    },
  ];
}

function subjectAccessReview(rbac: RbacAuthorizer, body: string): [number, unknown] {
  const req = parseBody(body, 'SubjectAccessReview');
  const spec = (req.spec ?? {}) as AccessAttributes;
  const hasRes = spec.resourceAttributes !== undefined && spec.resourceAttributes !== null;
  const hasNonRes = spec.nonResourceAttributes !== undefined && spec.nonResourceAttributes !== null;
  if (hasRes === hasNonRes)
    throw invalid(
      'SubjectAccessReview',
      'spec.resourceAttributes',
      'exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
  if (!spec.user && !(spec.groups && spec.groups.length > 0))
    throw invalid('SubjectAccessReview', 'spec.user', 'at least one of user or group must be specified');
  const decision = authorize(rbac, spec);
  return [
    201,
    {
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: req.spec,
      status: decision.allowed ? { allowed: true, reason: decision.reason } : { allowed: false },
    },
  ];
}

/**
 * The front's hook: answers a TokenReview or SubjectAccessReview request ([status, body]), or
 * returns undefined for every other request. The caller has authenticated and authorized it.
 */
export function serveReview(
  info: RequestInfo,
  body: string,
  deps: { auth: Authenticator; rbac: RbacAuthorizer },
): [number, unknown] | undefined {
  const review = isReview(info, TOKEN_REVIEW)
    ? 'token'
    : isReview(info, SUBJECT_ACCESS_REVIEW)
      ? 'sar'
      : undefined;
  if (review === undefined) return undefined;
  if (info.namespace !== undefined || info.name !== undefined) throw errors.notFoundPath();
  if (info.verb !== 'create') throw errors.methodNotAllowed(info.verb);
  return review === 'token' ? tokenReview(deps.auth, body) : subjectAccessReview(deps.rbac, body);
}
