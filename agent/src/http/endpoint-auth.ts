// The guard in front of /metrics and /debug/probes (design §7 "Endpoints"), as kube-rbac-proxy and
// controller-runtime's secure metrics filter do it: the request's bearer token must pass a
// TokenReview, and its user a SubjectAccessReview for the non-resource URL (verb `get` for GET and
// HEAD, the path as requested, query string excluded). 401 without a token or for one the API does not
// authenticate; 403 when the review denies; 503 when the API cannot answer (nothing is allowed on an
// error, and errors are not cached).
//
// Decisions are cached (controller-runtime's delegating defaults): authenticated tokens 1 min,
// allowed 5 min, denied and unauthenticated 30 s; tokens are keyed by their SHA-256, never kept.
// Each cache holds at most `maxEntries` (oldest dropped first), concurrent identical reviews share
// one API call, and at most `maxInFlight` reviews run at once (503 beyond): a flood of random tokens
// from the node network costs bounded memory and API calls. No timers: expiry is checked on lookup.
import { createHash } from 'node:crypto';
import type { AccessReviews, ReviewedUser } from '../kube/reviews.js';

export type GuardDecision =
  | { ok: true; user: string }
  | { ok: false; status: 401 | 403 | 503; message: string };

/** What the HTTP server asks before serving a protected path. */
export interface EndpointGuard {
  check(authorization: string | undefined, path: string, verb: string): Promise<GuardDecision>;
}

export interface ReviewingGuardOptions {
  reviews: AccessReviews;
  now?: () => number;
  tokenTtlMs?: number;
  allowTtlMs?: number;
  denyTtlMs?: number;
  maxEntries?: number;
  maxInFlight?: number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/** A Map with expiry and a size bound (insertion order: the oldest entry goes first). */
class TtlCache<T> {
  private readonly map = new Map<string, Entry<T>>();
  constructor(private readonly max: number) {}

  get(key: string, now: number): T | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: T, expiresAt: number): void {
    this.map.delete(key);
    this.map.set(key, { value, expiresAt });
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  get size(): number {
    return this.map.size;
  }
}

type TokenVerdict = { user: ReviewedUser } | { error: string };

export class ReviewingGuard implements EndpointGuard {
  private readonly now: () => number;
  private readonly tokenTtlMs: number;
  private readonly allowTtlMs: number;
  private readonly denyTtlMs: number;
  private readonly maxInFlight: number;
  private readonly tokens: TtlCache<TokenVerdict>;
  private readonly access: TtlCache<boolean>;
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: ReviewingGuardOptions) {
    this.now = opts.now ?? Date.now;
    this.tokenTtlMs = opts.tokenTtlMs ?? 60_000;
    this.allowTtlMs = opts.allowTtlMs ?? 300_000;
    this.denyTtlMs = opts.denyTtlMs ?? 30_000;
    this.maxInFlight = opts.maxInFlight ?? 16;
    this.tokens = new TtlCache(opts.maxEntries ?? 1024);
    this.access = new TtlCache(opts.maxEntries ?? 1024);
  }

  /** Entries held (tokens + access decisions), for tests. */
  get cacheSize(): number {
    return this.tokens.size + this.access.size;
  }

  async check(authorization: string | undefined, path: string, verb: string): Promise<GuardDecision> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return { ok: false, status: 401, message: 'Unauthorized: a bearer token is required' };
    const tokenKey = createHash('sha256')
      .update(m[1] as string)
      .digest('base64url');
    let verdict: TokenVerdict;
    try {
      verdict = await this.cached(this.tokens, `t:${tokenKey}`, async () => {
        const r = await this.opts.reviews.reviewToken(m[1] as string);
        const v: TokenVerdict = r.authenticated
          ? { user: r.user }
          : { error: r.error ?? 'token not authenticated' };
        return { value: v, ttl: r.authenticated ? this.tokenTtlMs : this.denyTtlMs };
      });
    } catch (err) {
      return unavailable('TokenReview', err);
    }
    if ('error' in verdict) return { ok: false, status: 401, message: 'Unauthorized: invalid bearer token' };
    const user = verdict.user;
    const accessKey = JSON.stringify([user.username, user.uid, user.groups, user.extra ?? {}, path, verb]);
    let allowed: boolean;
    try {
      allowed = await this.cached(this.access, accessKey, async () => {
        const r = await this.opts.reviews.reviewNonResourceAccess(user, path, verb);
        return { value: r.allowed, ttl: r.allowed ? this.allowTtlMs : this.denyTtlMs };
      });
    } catch (err) {
      return unavailable('SubjectAccessReview', err);
    }
    if (!allowed) {
      return {
        ok: false,
        status: 403,
        message: `Forbidden: user "${user.username}" cannot ${verb} path "${path}"`,
      };
    }
    return { ok: true, user: user.username };
  }

  private async cached<T>(
    cache: TtlCache<T>,
    key: string,
    review: () => Promise<{ value: T; ttl: number }>,
  ): Promise<T> {
    const hit = cache.get(key, this.now());
    if (hit !== undefined) return hit;
    const shared = this.pending.get(key) as Promise<T> | undefined;
    if (shared) return shared;
    if (this.pending.size >= this.maxInFlight)
      throw new Error(`${this.pending.size} reviews already pending`);
    const p = review().then(({ value, ttl }) => {
      cache.set(key, value, this.now() + ttl);
      return value;
    });
    this.pending.set(key, p);
    try {
      return await p;
    } finally {
      this.pending.delete(key);
    }
  }
}

function unavailable(what: string, err: unknown): GuardDecision {
  return {
    ok: false,
    status: 503,
    message: `${what} failed, cannot authorize: ${err instanceof Error ? err.message : String(err)}`,
  };
}
