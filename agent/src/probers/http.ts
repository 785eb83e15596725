// httpGet, with the kubelet's rules (design §4): GET; 200–399 success, a final 3xx a warning
// ("Probe terminated redirects"); redirects followed only while the Location stays on the probed
// host (port and scheme may change, as in the kubelet), at most 10 requests in all; User-Agent
// vmprobe/<version> and Accept */* unless the user sets them; a user `Host` header overrides Host;
// the body is read up to 10 KiB, then the socket is destroyed; TLS without verification; a fresh
// connection per request (agent: false → Connection: close) and no proxy; ONE timer covers connect,
// headers, body and every redirect. Resolves with an outcome, never throws.
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { REASON } from '@vmprobe/shared';
import { VERSION } from '../version.js';
import { AttemptTimer, dialErrorText, hostPort, isDialErrorCode } from './outcome.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type HttpTarget = Extract<ProbeTarget, { type: 'http' }>;

export const MAX_HTTP_REQUESTS = 10;
export const MAX_BODY_BYTES = 10 * 1024;
export const USER_AGENT = `vmprobe/${VERSION}`;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

interface Exchange {
  status: number;
  location: string | undefined;
  body: Buffer;
}

/** Where a failed exchange got to: decides the timeout message. */
interface Progress {
  headersReceived: boolean;
}

class ExchangeError extends Error {
  constructor(
    message: string,
    readonly phase: 'dial' | 'response',
    readonly code?: string,
  ) {
    super(message);
  }
}

function targetUrl(t: HttpTarget): URL {
  return new URL(`${t.scheme}://${hostPort(t.host, t.port)}${t.path || '/'}`);
}

/** User headers (in order, repeated names kept), then User-Agent and Accept defaults. */
export function requestHeaders(user: readonly { name: string; value: string }[]): OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  const keyOf = new Map<string, string>();
  for (const { name, value } of user) {
    const lower = name.toLowerCase();
    const key = keyOf.get(lower);
    if (key === undefined) {
      keyOf.set(lower, name);
      headers[name] = value;
    } else {
      const prev = headers[key];
      headers[key] = Array.isArray(prev) ? [...prev, value] : [prev as string, value];
    }
  }
  if (!keyOf.has('user-agent')) headers['User-Agent'] = USER_AGENT;
  if (!keyOf.has('accept')) headers.Accept = '*/*';
  return headers;
}

function exchange(
  url: URL,
  headers: OutgoingHttpHeaders,
  signal: AbortSignal,
  progress: Progress,
): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let req: ClientRequest;
    let res: IncomingMessage | undefined;
    let settled = false;
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      settle(() => reject(new ExchangeError('aborted', res ? 'response' : 'dial')));
      res?.destroy();
      req.destroy();
    };
    try {
      req = request({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers,
        agent: false,
        rejectUnauthorized: false,
      });
    } catch (err) {
      // Invalid header values and the like: a bad request is a failure of this attempt.
      reject(new ExchangeError(err instanceof Error ? err.message : String(err), 'dial'));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      settle(() => reject(new ExchangeError(err.message, res ? 'response' : 'dial', err.code)));
    });
    req.on('response', (r) => {
      res = r;
      progress.headersReceived = true;
      const status = r.statusCode ?? 0;
      const location = r.headers.location;
      const done = (): void => settle(() => resolve({ status, location, body: Buffer.concat(chunks, size) }));
      r.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = MAX_BODY_BYTES - size;
        chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        size += Math.min(chunk.length, room);
        if (size >= MAX_BODY_BYTES) {
          // Cap reached: stop reading and close the socket so a huge body is never downloaded.
          done();
          r.destroy();
          req.destroy();
        }
      });
      r.on('end', done);
      r.on('error', (err) => settle(() => reject(new ExchangeError(err.message, 'response'))));
      r.on('close', () => settle(() => reject(new ExchangeError('unexpected EOF', 'response'))));
    });
    req.end();
  });
}

function isAbsoluteLocation(location: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(location) || location.startsWith('//');
}

function bodyText(body: Buffer): string {
  return body.toString('utf8');
}

/** One httpGet probe: see the file comment for the rules. */
export async function probeHttp(
  target: HttpTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return attempt.aborted();
  const deadline = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    deadline.abort();
  }, options.timeoutMs);
  const onCallerAbort = (): void => deadline.abort();
  signal?.addEventListener('abort', onCallerAbort, { once: true });

  let url = targetUrl(target);
  const probedHost = url.hostname;
  const progress: Progress = { headersReceived: false };
  let headers = requestHeaders(target.headers);
  try {
    for (let requests = 1; ; requests++) {
      progress.headersReceived = false;
      const res = await exchange(url, headers, deadline.signal, progress);
      if (REDIRECT_STATUSES.has(res.status) && res.location !== undefined) {
        let next: URL;
        try {
          next = new URL(res.location, url);
        } catch {
          return attempt.finish(
            'failure',
            REASON.ProbeFailed,
            `Get "${url.href}": failed to parse Location header ${JSON.stringify(res.location)}`,
          );
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          return attempt.finish(
            'failure',
            REASON.ProbeFailed,
            `Get "${next.href}": unsupported protocol scheme "${next.protocol.slice(0, -1)}"`,
          );
        }
        if (next.hostname === probedHost) {
          if (requests >= MAX_HTTP_REQUESTS) {
            return attempt.finish(
              'failure',
              REASON.ProbeFailed,
              `Get "${next.href}": stopped after ${MAX_HTTP_REQUESTS} redirects`,
            );
          }
          // As Go's client: a user Host override survives only a relative redirect.
          if (isAbsoluteLocation(res.location)) {
            headers = requestHeaders(target.headers.filter((h) => h.name.toLowerCase() !== 'host'));
          }
          url = next;
          continue;
        }
        // Off-host: never followed (the agent runs on the host network); the 3xx is the answer.
      }
      if (res.status >= 200 && res.status < 300) {
        return attempt.finish(
          'success',
          REASON.ProbeSucceeded,
          `HTTP probe succeeded with statuscode: ${res.status}`,
        );
      }
      if (res.status >= 300 && res.status < 400) {
        return attempt.finish(
          'warning',
          REASON.ProbeWarning,
          `Probe terminated redirects, Response body: ${bodyText(res.body)}`,
        );
      }
      return attempt.finish(
        'failure',
        REASON.ProbeFailed,
        `HTTP probe failed with statuscode: ${res.status}`,
      );
    }
  } catch (err) {
    if (timedOut) {
      const where = progress.headersReceived
        ? 'Client.Timeout or context cancellation while reading body'
        : 'Client.Timeout exceeded while awaiting headers';
      return attempt.finish(
        'failure',
        REASON.ProbeTimeout,
        `Get "${url.href}": context deadline exceeded (${where})`,
      );
    }
    if (signal?.aborted) return attempt.aborted();
    const e = err as ExchangeError;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const text =
      e.phase === 'dial' && isDialErrorCode(e.code)
        ? dialErrorText(e, url.hostname.replace(/^\[|\]$/g, ''), port)
        : e.message;
    return attempt.finish('failure', REASON.ProbeFailed, `Get "${url.href}": ${text}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
  }
}
