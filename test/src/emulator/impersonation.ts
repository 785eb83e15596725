/**
 * Impersonation (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`, `Impersonate-Extra-<key>`)
 * as kube-apiserver's filter does it: every requested attribute needs the `impersonate` verb on
 * users / serviceaccounts (namespace + name) / groups / uids / userextras/<key> in the requesting
 * identity's RBAC, else 403 with the real message; groups or extras without a user → 400. The
 * impersonated identity replaces the caller's for authorization and everything after it. A user
 * impersonated without groups gets system:authenticated (service accounts their SA groups).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { groupsFor } from './auth.js';
import { ApiError, errors } from './errors.js';
import type { RbacAuthorizer } from './rbac.js';
import type { Identity } from './rest.js';
import type { RequestInfo } from './router.js';

export interface ImpersonatedIdentity extends Identity {
  uid?: string;
  extra?: Record<string, string[]>;
  /** Who asked for the impersonation (for the request log / audit). */
  impersonatedBy?: string;
}

function values(h: string | string[] | undefined): string[] {
  if (h === undefined) return [];
  return (Array.isArray(h) ? h : [h]).flatMap((v) => v.split(',').map((s) => s.trim())).filter(Boolean);
}

/** The identity a request runs as: the authenticated one, or the one it impersonates (checked). */
export function impersonate(
  id: Identity,
  headers: IncomingHttpHeaders,
  rbac: RbacAuthorizer,
): ImpersonatedIdentity {
  const user = values(headers['impersonate-user'])[0];
  const groups = values(headers['impersonate-group']);
  const uid = values(headers['impersonate-uid'])[0];
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!k.startsWith('impersonate-extra-')) continue;
    extra[decodeURIComponent(k.slice('impersonate-extra-'.length))] = values(v);
  }
  if (user === undefined) {
    if (groups.length > 0 || uid !== undefined || Object.keys(extra).length > 0)
      throw errors.badRequest(
        `requested ${JSON.stringify({ groups, uid, extra })} without impersonating a user`,
      );
    return id;
  }
  const check = (info: Omit<RequestInfo, 'isResourceRequest' | 'path' | 'verb' | 'version'>) => {
    const full: RequestInfo = {
      ...info,
      isResourceRequest: true,
      path: '',
      verb: 'impersonate',
      version: 'v1',
    };
    if (rbac.allowed(id, full)) return;
    const res = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const qr = info.group ? `${info.resource}.${info.group}` : info.resource;
    const scope = info.namespace ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
    throw new ApiError(
      403,
      'Forbidden',
      `${qr} "${info.name}" is forbidden: User "${id.user}" cannot impersonate resource "${res}" in API group "${info.group}" ${scope}`,
      { name: info.name, group: info.group, kind: info.resource },
    );
  };
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  if (sa) check({ group: '', resource: 'serviceaccounts', namespace: sa[1], name: sa[2] });
  else check({ group: '', resource: 'users', name: user });
  for (const g of groups) check({ group: '', resource: 'groups', name: g });
  if (uid !== undefined) check({ group: 'authentication.k8s.io', resource: 'uids', name: uid });
  for (const [k, vs] of Object.entries(extra))
    for (const v of vs)
      check({ group: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v });
  const outGroups =
    groups.length > 0
      ? [...groups, ...(groups.includes('system:authenticated') ? [] : ['system:authenticated'])]
      : sa
        ? groupsFor(user)
        : ['system:authenticated'];
  return {
    user,
    groups: outGroups,
    ...(uid !== undefined ? { uid } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
    impersonatedBy: id.user,
  };
}
