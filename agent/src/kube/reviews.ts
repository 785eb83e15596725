// The two review calls a delegating authenticator/authorizer makes (as kube-rbac-proxy and
// controller-runtime's secure metrics do): TokenReview (authentication.k8s.io/v1) for a bearer token
// and SubjectAccessReview (authorization.k8s.io/v1) for a user on a non-resource URL. The rest of the
// agent sees only `AccessReviews` and the plain types below. Each call reports itself to the
// observer (apiRequest) and fails with ReviewError (stable `code`, HTTP status, 0 = network/timeout);
// no retries and no caching here — the endpoint guard (http/endpoint-auth.ts) caches decisions.
import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  type KubeConfig,
  type V1SubjectAccessReview,
  type V1TokenReview,
} from '@kubernetes/client-node';
import { type AgentObserver, noopObserver } from '../observer.js';

/** The authenticated user of a token, as TokenReview returns it. */
export interface ReviewedUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export type TokenReviewResult =
  | { authenticated: true; user: ReviewedUser }
  | { authenticated: false; error?: string };

export interface AccessReviewResult {
  allowed: boolean;
  reason?: string;
}

export interface AccessReviews {
  /** Authenticates `token` (TokenReview, default audiences). */
  reviewToken(token: string): Promise<TokenReviewResult>;
  /** May `user` `verb` the non-resource URL `path` (SubjectAccessReview)? */
  reviewNonResourceAccess(user: ReviewedUser, path: string, verb: string): Promise<AccessReviewResult>;
}

export class ReviewError extends Error {
  override readonly name = 'ReviewError';
  constructor(
    message: string,
    readonly code: 'Network' | 'Timeout' | 'Forbidden' | 'ServerError' | 'Invalid',
    readonly status: number,
  ) {
    super(message);
  }
}

export interface AccessReviewsOptions {
  kubeConfig: KubeConfig;
  observer?: AgentObserver;
  /** Per call (default 10 s): a review that takes longer fails with code Timeout. */
  timeoutMs?: number;
}

function toReviewError(err: unknown, what: string): ReviewError {
  if (err instanceof ReviewError) return err;
  if (err instanceof ApiException) {
    const status = err.code;
    const code = status === 403 ? 'Forbidden' : status >= 500 || status === 429 ? 'ServerError' : 'Invalid';
    return new ReviewError(`${what}: HTTP ${status}`, code, status);
  }
  return new ReviewError(`${what}: ${err instanceof Error ? err.message : String(err)}`, 'Network', 0);
}

export function createAccessReviews(opts: AccessReviewsOptions): AccessReviews {
  const authn = opts.kubeConfig.makeApiClient(AuthenticationV1Api);
  const authz = opts.kubeConfig.makeApiClient(AuthorizationV1Api);
  const observer = opts.observer ?? noopObserver;
  const timeoutMs = opts.timeoutMs ?? 10_000;

  async function call<T>(resource: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ReviewError(`create ${resource}: no answer within ${timeoutMs} ms`, 'Timeout', 0)),
        timeoutMs,
      );
    });
    try {
      const r = await Promise.race([fn(), timeout]);
      observer.apiRequest('create', resource, 201, (performance.now() - started) / 1000);
      return r;
    } catch (err) {
      const e = toReviewError(err, `create ${resource}`);
      observer.apiRequest('create', resource, e.status, (performance.now() - started) / 1000);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async reviewToken(token) {
      const r: V1TokenReview = await call('tokenreviews', () =>
        authn.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        }),
      );
      const s = r.status;
      if (!s?.authenticated || !s.user?.username) {
        return { authenticated: false, ...(s?.error ? { error: s.error } : {}) };
      }
      return {
        authenticated: true,
        user: {
          username: s.user.username,
          ...(s.user.uid ? { uid: s.user.uid } : {}),
          groups: s.user.groups ?? [],
          ...(s.user.extra ? { extra: s.user.extra } : {}),
        },
      };
    },
    async reviewNonResourceAccess(user, path, verb) {
      const r: V1SubjectAccessReview = await call('subjectaccessreviews', () =>
        authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.username,
              groups: user.groups,
              ...(user.uid ? { uid: user.uid } : {}),
              ...(user.extra ? { extra: user.extra } : {}),
              nonResourceAttributes: { path, verb },
            },
          },
        }),
      );
      return {
        allowed: r.status?.allowed === true,
        ...(r.status?.reason ? { reason: r.status.reason } : {}),
      };
    },
  };
}
