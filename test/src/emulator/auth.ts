/**
 * Bearer-token authentication. Tokens are minted on demand per user name (`tokenFor`); an unknown
 * or missing token is 401. Groups follow the real authenticators: `admin` is in system:masters,
 * service accounts get system:serviceaccounts(+:<ns>), everyone system:authenticated.
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

export class Authenticator {
  private readonly byToken = new Map<string, string>();
  private readonly byUser = new Map<string, string>();

  tokenFor(user: string): string {
    if (!user) throw new Error('tokenFor: user name required');
    let t = this.byUser.get(user);
    if (!t) {
      t = `emu.${randomBytes(24).toString('base64url')}`;
      this.byUser.set(user, t);
      this.byToken.set(t, user);
    }
    return t;
  }

  /** The identity for an Authorization header, or undefined (→ 401). */
  authenticate(authorization: string | undefined): Identity | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const user = this.byToken.get(m[1] as string);
    return user === undefined ? undefined : { user, groups: groupsFor(user) };
  }
}
