/**
 * RBAC authorizer over the Role/ClusterRole/RoleBinding/ClusterRoleBinding objects in the store
 * (loaded from files, `loadRbac`, or written through the API by admin). Semantics of the real
 * RBAC authorizer: union of rules; resourceNames restrict only named requests; `*` wildcards;
 * `resource/subresource` and `*\/subresource`; nonResourceURLs with trailing `*`. system:masters
 * bypasses; discovery paths are open to authenticated users (the default system:discovery role).
 */
import { ApiError, qualifiedResource } from './errors.js';
import type { Identity } from './rest.js';
import type { RequestInfo } from './router.js';
import type { Storage } from './storage.js';
import type { KubeObject } from './util.js';

const DISCOVERY_PATHS = [
  /^\/api(\/.*)?$/,
  /^\/apis(\/.*)?$/,
  /^\/version\/?$/,
  /^\/healthz/,
  /^\/livez/,
  /^\/readyz/,
  /^\/openapi/,
];

/** What the default system:basic-user ClusterRole grants every authenticated user: the self reviews. */
const BASIC_USER_CREATE = new Set([
  'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews',
  'authentication.k8s.io/selfsubjectreviews',
]);

export interface Rule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function subjectMatches(s: KubeObject, id: Identity, bindingNs: string | undefined): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === id.user;
    case 'Group':
      return id.groups.includes(s.name);
    case 'ServiceAccount':
      return id.user === `system:serviceaccount:${s.namespace ?? bindingNs}:${s.name}`;
    default:
      return false;
  }
}

function ruleAllows(r: Rule, info: RequestInfo): boolean {
  const verbs = r.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(info.verb)) return false;
  if (!info.isResourceRequest) {
    return (r.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === info.path || (u.endsWith('*') && info.path.startsWith(u.slice(0, -1))),
    );
  }
  const groups = r.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(info.group)) return false;
  const res = info.subresource ? `${info.resource}/${info.subresource}` : (info.resource as string);
  const resources = r.resources ?? [];
  const resOk = resources.some(
    (x) => x === '*' || x === res || (info.subresource !== undefined && x === `*/${info.subresource}`),
  );
  if (!resOk) return false;
  const names = r.resourceNames ?? [];
  if (names.length === 0) return true;
  return info.name !== undefined && names.includes(info.name);
}

export class RbacAuthorizer {
  /** False until RBAC objects are loaded: then every non-system:masters identity is checked. */
  enforced = false;

  constructor(private readonly storage: Storage) {}

  private rolesRules(kind: string, name: string, ns: string | undefined): Rule[] {
    const obj =
      kind === 'ClusterRole'
        ? this.storage.get('clusterroles.rbac.authorization.k8s.io', name)
        : this.storage.get('roles.rbac.authorization.k8s.io', `${ns}/${name}`);
    return (obj?.rules as Rule[] | undefined) ?? [];
  }

  /**
   * The rules that apply to `id` in `namespace` (SelfSubjectRulesReview, `kubectl auth can-i
   * --list`): its ClusterRoleBindings' and the namespace's RoleBindings' rules, plus the default
   * roles every authenticated user has (system:basic-user, system:discovery). Everything for
   * system:masters or while RBAC is off.
   */
  rulesFor(id: Identity, namespace: string | undefined): Rule[] {
    if (!this.enforced || id.groups.includes('system:masters'))
      return [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['*'], nonResourceURLs: ['*'] },
      ];
    const rules: Rule[] = [];
    if (id.groups.includes('system:authenticated')) {
      rules.push(
        {
          verbs: ['create'],
          apiGroups: ['authorization.k8s.io'],
          resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        },
        { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
        {
          verbs: ['get'],
          nonResourceURLs: [
            '/api',
            '/api/*',
            '/apis',
            '/apis/*',
            '/healthz',
            '/livez',
            '/openapi',
            '/openapi/*',
            '/readyz',
            '/version',
            '/version/',
          ],
        },
      );
    }
    for (const b of this.storage.list('clusterrolebindings.rbac.authorization.k8s.io'))
      if ((b.subjects ?? []).some((s: KubeObject) => subjectMatches(s, id, undefined)))
        rules.push(...this.rolesRules(b.roleRef?.kind, b.roleRef?.name, undefined));
    if (namespace)
      for (const b of this.storage.list('rolebindings.rbac.authorization.k8s.io', namespace))
        if ((b.subjects ?? []).some((s: KubeObject) => subjectMatches(s, id, namespace)))
          rules.push(...this.rolesRules(b.roleRef?.kind, b.roleRef?.name, namespace));
    return rules;
  }

  allowed(id: Identity, info: RequestInfo): boolean {
    if (!this.enforced || id.groups.includes('system:masters')) return true;
    if (!info.isResourceRequest && DISCOVERY_PATHS.some((re) => re.test(info.path))) return true;
    if (
      info.isResourceRequest &&
      info.verb === 'create' &&
      id.groups.includes('system:authenticated') &&
      BASIC_USER_CREATE.has(`${info.group}/${info.resource}`)
    )
      return true;
    for (const b of this.storage.list('clusterrolebindings.rbac.authorization.k8s.io')) {
      if (!(b.subjects ?? []).some((s: KubeObject) => subjectMatches(s, id, undefined))) continue;
      if (this.rolesRules(b.roleRef?.kind, b.roleRef?.name, undefined).some((r) => ruleAllows(r, info)))
        return true;
    }
    if (info.isResourceRequest && info.namespace) {
      for (const b of this.storage.list('rolebindings.rbac.authorization.k8s.io', info.namespace)) {
        if (!(b.subjects ?? []).some((s: KubeObject) => subjectMatches(s, id, info.namespace))) continue;
        if (
          this.rolesRules(b.roleRef?.kind, b.roleRef?.name, info.namespace).some((r) => ruleAllows(r, info))
        )
          return true;
      }
    }
    return false;
  }

  /** Throws the real 403 Forbidden when `id` may not do `info`. */
  authorize(id: Identity, info: RequestInfo): void {
    if (this.allowed(id, info)) return;
    if (!info.isResourceRequest) {
      throw new ApiError(
        403,
        'Forbidden',
        `forbidden: User "${id.user}" cannot ${info.verb} path "${info.path}"`,
        {},
      );
    }
    const resource = info.resource as string;
    const qr = qualifiedResource(resource, info.group);
    const subject = info.name ? `${qr} "${info.name}"` : qr;
    const res = info.subresource ? `${resource}/${info.subresource}` : resource;
    const scope = info.namespace ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
    throw new ApiError(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${id.user}" cannot ${info.verb} resource "${res}" in API group "${info.group}" ${scope}`,
      { name: info.name, group: info.group, kind: resource },
    );
  }
}
