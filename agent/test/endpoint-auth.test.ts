import { describe, expect, it } from 'vitest';
import { ReviewingGuard } from '../src/http/endpoint-auth.js';
import type { AccessReviews, ReviewedUser } from '../src/kube/reviews.js';
import { ReviewError } from '../src/kube/reviews.js';

/** Fake review API: tokens "good-<user>" authenticate as <user>; users in `allowed` may get any path. */
function fakeReviews(allowed: string[]) {
  const calls = { token: 0, access: 0 };
  let fail = false;
  const reviews: AccessReviews = {
    async reviewToken(token) {
      calls.token++;
      if (fail) throw new ReviewError('down', 'Network', 0);
      if (!token.startsWith('good-')) return { authenticated: false, error: 'invalid bearer token' };
      return { authenticated: true, user: { username: token.slice(5), groups: ['system:authenticated'] } };
    },
    async reviewNonResourceAccess(user: ReviewedUser) {
      calls.access++;
      if (fail) throw new ReviewError('down', 'Network', 0);
      return { allowed: allowed.includes(user.username) };
    },
  };
  return { reviews, calls, setFail: (f: boolean) => (fail = f) };
}

describe('ReviewingGuard', () => {
  it('401 without or with an invalid token, 403 when denied, ok when allowed', async () => {
    const { reviews } = fakeReviews(['prom']);
    const g = new ReviewingGuard({ reviews });
    expect(await g.check(undefined, '/metrics', 'get')).toMatchObject({ ok: false, status: 401 });
    expect(await g.check('Basic abc', '/metrics', 'get')).toMatchObject({ ok: false, status: 401 });
    expect(await g.check('Bearer bad', '/metrics', 'get')).toMatchObject({ ok: false, status: 401 });
    expect(await g.check('Bearer good-eve', '/metrics', 'get')).toMatchObject({ ok: false, status: 403 });
    expect(await g.check('bearer good-prom', '/metrics', 'get')).toEqual({ ok: true, user: 'prom' });
  });

  it('caches token and access decisions until their TTL; concurrent identical checks share one review', async () => {
    const { reviews, calls } = fakeReviews(['prom']);
    let now = 0;
    const g = new ReviewingGuard({
      reviews,
      now: () => now,
      tokenTtlMs: 1000,
      allowTtlMs: 5000,
      denyTtlMs: 300,
    });
    await Promise.all([1, 2, 3].map(() => g.check('Bearer good-prom', '/metrics', 'get')));
    expect(calls).toEqual({ token: 1, access: 1 });
    now = 999;
    await g.check('Bearer good-prom', '/metrics', 'get');
    expect(calls).toEqual({ token: 1, access: 1 });
    now = 1000; // token entry expired, access still cached
    await g.check('Bearer good-prom', '/metrics', 'get');
    expect(calls).toEqual({ token: 2, access: 1 });
    await g.check('Bearer bad', '/metrics', 'get');
    await g.check('Bearer bad', '/metrics', 'get');
    expect(calls.token).toBe(3); // a rejected token is cached too (deny TTL)
    now = 1300;
    await g.check('Bearer bad', '/metrics', 'get');
    expect(calls.token).toBe(4);
  });

  it('holds at most maxEntries per cache, and API errors are 503 and not cached', async () => {
    const { reviews, calls, setFail } = fakeReviews([]);
    const g = new ReviewingGuard({ reviews, maxEntries: 10 });
    for (let i = 0; i < 100; i++) await g.check(`Bearer random-${i}`, '/metrics', 'get');
    expect(g.cacheSize).toBeLessThanOrEqual(20);
    setFail(true);
    expect(await g.check('Bearer good-x', '/metrics', 'get')).toMatchObject({ ok: false, status: 503 });
    setFail(false);
    const before = calls.token;
    expect(await g.check('Bearer good-x', '/metrics', 'get')).toMatchObject({ ok: false, status: 403 });
    expect(calls.token).toBe(before + 1);
  });
});
