/**
 * Bearer-token authentication. Tokens are minted on demand per user name (`tokenFor`); an unknown
 * or missing token is 401. Groups follow the real authenticators: `admin` is in system:masters,
 * service accounts get system:serviceaccounts(+:<ns>), everyone system:authenticated.
 * A token minted with `{ nodeName }` is what the kubelet mounts into a pod on that node: a bound
 * service-account token whose identity carries `extra["authentication.kubernetes.io/node-name"]`
 * (Kubernetes 1.30+), the claim node-bound admission policies read.
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from './rest.js';

export const ADMIN_USER = 'admin';

export function groupsFor(user: string): string[] {
  if (user === ADMIN_USER) return ['system:masters', 'system:authenticated'];
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  if (m) return ['system:serviceaccounts', `system:serviceaccounts:${m[1]}`, 'system:authenticated'];
  return ['system:authenticated'];
}

/** The node claim of bound service-account tokens, in userInfo.extra. */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

export interface TokenOptions {
  /** The token is bound to a pod on this node: its identity carries the node-name claim. */
  nodeName?: string;
}

export class Authenticator {
  private readonly byToken = new Map<string, { user: string; nodeName?: string }>();
  private readonly byKey = new Map<string, string>();

  tokenFor(user: string, opts: TokenOptions = {}): string {
    if (!user) throw new Error('tokenFor: user name required');
    const key = `${user}\u0000${opts.nodeName ?? ''}`;
    let t = this.byKey.get(key);
    if (!t) {
      t = `emu.${randomBytes(24).toString('base64url')}`;
      this.byKey.set(key, t);
      this.byToken.set(t, { user, ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) });
    }
    return t;
  }

  /** The identity a bearer token stands for, or undefined. */
  identityOf(token: string): Identity | undefined {
    const rec = this.byToken.get(token);
    if (rec === undefined) return undefined;
    return {
      user: rec.user,
      groups: groupsFor(rec.user),
      ...(rec.nodeName ? { extra: { [NODE_NAME_EXTRA]: [rec.nodeName] } } : {}),
    };
  }

  /** The identity for an Authorization header, or undefined (→ 401). */
  authenticate(authorization: string | undefined): Identity | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    return this.identityOf(m[1] as string);
  }
}
