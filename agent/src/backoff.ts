// Exponential backoff with jitter for API write retries. Pure: the caller owns the timer.

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Ceiling; also the delay used for errors that will not heal by themselves (403, 422, …). */
  maxMs: number;
}

export const DEFAULT_WRITE_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 300_000 };

/**
 * Delay before retry number `attempt` (1-based): initial × 2^(attempt−1), capped at max, with
 * "equal jitter" (uniform in [d/2, d]) so agents on many nodes do not retry in lockstep.
 * A Retry-After from the server is a floor.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number,
  retryAfterSeconds?: number,
): number {
  const exp = Math.min(30, Math.max(0, attempt - 1));
  const d = Math.min(policy.maxMs, policy.initialMs * 2 ** exp);
  const jittered = d / 2 + random() * (d / 2);
  const floor = retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : 0;
  return Math.round(Math.max(jittered, floor));
}
