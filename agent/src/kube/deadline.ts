// A deadline for every API request the agent makes (issue 8 item 8): client-node has no client-side
// timeout, so a request the server (or a black-holed network) accepts and never answers would wait
// forever and block what it carries. `withDeadline(ms, options?)` adds a middleware that gives the
// request's fetch an AbortSignal that fires after `ms` (the response body included); the aborted
// request rejects, `isDeadlineError` recognises it, and api.ts turns it into a retryable
// ApiWriteError ('Network', status 0) that the reporter and liveness handler retry with the same
// backoff as a 5xx. Watches are not covered here: their silence is the informers' watchdog's job.
import {
  type ConfigurationOptions,
  Observable,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';

/** Default deadline of one API request (list, get, write). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export function withDeadline(ms: number, options?: ConfigurationOptions): ConfigurationOptions {
  const deadline = {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
  };
  return {
    ...options,
    middleware: [...(options?.middleware ?? []), deadline],
    middlewareMergeStrategy: 'append',
  };
}

/** The rejection of a request whose deadline fired: client-node's node-fetch 2 rejects with an
 *  AbortError (a newer fetch with the signal's TimeoutError). The deadline is the only signal these
 *  requests carry, so an abort is the deadline. */
export function isDeadlineError(err: unknown): boolean {
  for (let e = err as { name?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
    e = e.cause as typeof e;
  }
  return false;
}
