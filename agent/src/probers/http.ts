// httpGet, with the kubelet's rules (design §4): GET; 200–399 success, a final 3xx a warning
// ("Probe terminated redirects"); redirects followed only while the Location stays on the probed
// host (port and scheme may change, as in the kubelet), at most 10 requests in all; User-Agent
// vmprobe/<version> and Accept */* unless the user sets them; a user `Host` header overrides Host;
// the body is read up to 10 KiB, then the socket is destroyed; TLS without verification; a fresh
// connection per request (Connection: close) and no proxy; ONE timer covers connect, headers, body
// and every redirect. Resolves with an outcome, never throws. The wire work is a lean HTTP/1.1 GET
// over net/tls (http-exchange.ts, http-response.ts), not node:http: see ARCHITECTURE.md.
import { isIP } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { clearLongTimeout, type LongTimeout, setLongTimeout } from '../clock.js';
import { VERSION } from '../version.js';
import { unwatchAbort, watchAbort } from './abort-watch.js';
import {
  Cancel,
  type ExchangeDone,
  type ExchangeError,
  type ExchangeRequest,
  type ExchangeTransport,
  exchangeThen,
} from './http-exchange.js';
import type { ResponseParser } from './http-response.js';
import { AttemptTimer, agentFaultText, dialErrorText, hostPort, isDialErrorCode } from './outcome.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type HttpTarget = Extract<ProbeTarget, { type: 'http' }>;

export const MAX_HTTP_REQUESTS = 10;
export const MAX_BODY_BYTES = 10 * 1024;
export const USER_AGENT = `vmprobe/${VERSION}`;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Only a final 3xx's body is shown (in the warning); other bodies are read and dropped. */
const keep3xxBody = (status: number): boolean => status >= 300 && status < 400;

function targetUrl(t: HttpTarget): URL {
  return new URL(`${t.scheme}://${hostPort(t.host, t.port)}${t.path || '/'}`);
}

// RFC 9110 token for names; values without CR, LF or NUL (node:http's own checks).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const BAD_HEADER_VALUE = /[\r\n\u0000]/;

/**
 * The request head for `url`: GET, then Host (the user's Host header replaces it), the user's
 * headers in order (repeated names kept as repeated lines), User-Agent and Accept unless the user
 * set them, Connection: close. Throws for a header node:http would refuse.
 */
export function requestHead(url: URL, user: readonly { name: string; value: string }[]): Buffer {
  let hostHeader: string | undefined;
  let lines = '';
  let hasAgent = false;
  let hasAccept = false;
  for (const { name, value } of user) {
    if (!HEADER_NAME.test(name)) throw new Error(`Invalid header name ${JSON.stringify(name)}`);
    if (BAD_HEADER_VALUE.test(value))
      throw new Error(`Invalid character in header content [${JSON.stringify(name)}]`);
    const lower = name.toLowerCase();
    if (lower === 'host') {
      hostHeader ??= value;
      continue;
    }
    if (lower === 'user-agent') hasAgent = true;
    else if (lower === 'accept') hasAccept = true;
    else if (lower === 'connection') continue;
    lines += `${name}: ${value}\r\n`;
  }
  if (!hasAgent) lines += `User-Agent: ${USER_AGENT}\r\n`;
  if (!hasAccept) lines += 'Accept: */*\r\n';
  const host = hostHeader ?? url.host;
  return Buffer.from(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${host}\r\n${lines}Connection: close\r\n\r\n`,
    'latin1',
  );
}

function exchangeRequest(url: URL, head: Buffer, hostOverride: string | undefined): ExchangeRequest {
  const tls = url.protocol === 'https:';
  const sni = hostOverride?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    tls,
    host,
    ipv6: isIP(host) === 6,
    port: Number(url.port || (tls ? 443 : 80)),
    servername: sni && isIP(sni) === 0 ? sni : undefined,
    head,
  };
}

function userHost(headers: readonly { name: string; value: string }[]): string | undefined {
  return headers.find((h) => h.name.toLowerCase() === 'host')?.value;
}

/** The first request of a target: the same every period, so it is built once per target object. */
const firstRequests = new WeakMap<HttpTarget, { url: URL; req: ExchangeRequest }>();
function firstRequest(target: HttpTarget): { url: URL; req: ExchangeRequest } {
  let first = firstRequests.get(target);
  if (!first) {
    const url = targetUrl(target);
    first = { url, req: exchangeRequest(url, requestHead(url, target.headers), userHost(target.headers)) };
    firstRequests.set(target, first);
  }
  return first;
}

function isAbsoluteLocation(location: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(location) || location.startsWith('//');
}

/** The success message per 2xx status, built once (the same text every period). */
const successMessages = new Map<number, string>();
function successMessage(status: number): string {
  let m = successMessages.get(status);
  if (m === undefined) {
    m = `HTTP probe succeeded with statuscode: ${status}`;
    successMessages.set(status, m);
  }
  return m;
}

function bodyText(body: Buffer): string {
  return body.toString('utf8');
}

/** One httpGet probe: see the file comment for the rules. `transport` is forced only by tests and benchmarks. */
export function probeHttp(
  target: HttpTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
  transport: ExchangeTransport = 'handle',
): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => probeHttpThen(target, options, signal, resolve, transport));
}

/** probeHttp in callback form (the worker's hot path: no promise, no async function): `done` gets
 *  the outcome exactly once, possibly synchronously (an aborted signal, a request that cannot be built). */
export function probeHttpThen(
  target: HttpTarget,
  options: ProbeOptions,
  signal: AbortSignal | undefined,
  done: (outcome: ProbeOutcome) => void,
  transport: ExchangeTransport = 'handle',
): void {
  const attempt = new AttemptTimer();
  if (signal?.aborted) {
    done(attempt.aborted());
    return;
  }
  let first: { url: URL; req: ExchangeRequest };
  try {
    first = firstRequest(target);
  } catch (err) {
    // Invalid header values and the like: a bad request is a failure of this attempt.
    done(
      attempt.finish(
        'failure',
        REASON.ProbeFailed,
        `Get "${targetUrl(target).href}": ${(err as Error).message}`,
      ),
    );
    return;
  }
  new HttpAttempt(target, signal, done, transport, attempt, first.url).run(first.req, options.timeoutMs);
}

/**
 * One attempt: its state in fields, its steps as methods (one object per attempt instead of an
 * async function's closures and promises). It is also the attempt's Cancel: the timeout and the
 * caller's abort cancel the exchange in flight through it. Ends exactly once, in `finish`.
 */
class HttpAttempt extends Cancel {
  /** The URL of the request in flight (changes with each followed redirect). */
  private url: URL;
  private readonly probedHost: string;
  private hostOverride: string | undefined;
  private requests = 1;
  private headersReceived = false;
  private timedOut = false;
  private timer: LongTimeout | undefined;
  private ended = false;

  constructor(
    private readonly target: HttpTarget,
    private readonly signal: AbortSignal | undefined,
    private readonly done: (outcome: ProbeOutcome) => void,
    private readonly transport: ExchangeTransport,
    private readonly attempt: AttemptTimer,
    url: URL,
  ) {
    super();
    this.url = url;
    this.probedHost = url.hostname;
    this.hostOverride = userHost(target.headers);
  }

  /** ONE timer covers connect, headers, body and every redirect. */
  run(req: ExchangeRequest, timeoutMs: number): void {
    this.timer = setLongTimeout(this.onTimeout, timeoutMs);
    if (this.signal) watchAbort(this.signal, this.onAbort);
    this.send(req);
  }

  private readonly onTimeout = (): void => {
    this.timedOut = true;
    this.cancel();
  };

  private readonly onAbort = (): void => this.cancel();

  private send(req: ExchangeRequest): void {
    this.headersReceived = false;
    try {
      exchangeThen(req, MAX_BODY_BYTES, keep3xxBody, this, this.transport, this.onExchange);
    } catch (err) {
      // Not expected (connect errors come back as values), but an attempt must end with an outcome.
      this.failed(err as ExchangeError);
    }
  }

  private readonly onExchange: ExchangeDone = (err, res) => {
    if (err) this.failed(err);
    else {
      this.headersReceived = true;
      this.answered(res);
    }
  };

  private answered(res: ResponseParser): void {
    const { attempt, target } = this;
    const url = this.url;
    if (REDIRECT_STATUSES.has(res.status) && res.location !== undefined) {
      let next: URL;
      try {
        next = new URL(res.location, url);
      } catch {
        this.finish(
          attempt.finish(
            'failure',
            REASON.ProbeFailed,
            `Get "${url.href}": failed to parse Location header ${JSON.stringify(res.location)}`,
          ),
        );
        return;
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        this.finish(
          attempt.finish(
            'failure',
            REASON.ProbeFailed,
            `Get "${next.href}": unsupported protocol scheme "${next.protocol.slice(0, -1)}"`,
          ),
        );
        return;
      }
      if (next.hostname === this.probedHost) {
        if (this.requests >= MAX_HTTP_REQUESTS) {
          this.finish(
            attempt.finish(
              'failure',
              REASON.ProbeFailed,
              `Get "${next.href}": stopped after ${MAX_HTTP_REQUESTS} redirects`,
            ),
          );
          return;
        }
        // As Go's client: a user Host override survives only a relative redirect.
        const headers = isAbsoluteLocation(res.location)
          ? target.headers.filter((h) => h.name.toLowerCase() !== 'host')
          : target.headers;
        if (headers !== target.headers) this.hostOverride = undefined;
        this.url = next;
        this.requests++;
        let req: ExchangeRequest;
        try {
          req = exchangeRequest(next, requestHead(next, headers), this.hostOverride);
        } catch (err) {
          this.failed(err as ExchangeError);
          return;
        }
        this.send(req);
        return;
      }
      // Off-host: never followed (the agent runs on the host network); the 3xx is the answer.
    }
    if (res.status >= 200 && res.status < 300) {
      this.finish(attempt.finishBounded('success', REASON.ProbeSucceeded, successMessage(res.status)));
    } else if (res.status >= 300 && res.status < 400) {
      this.finish(
        attempt.finish(
          'warning',
          REASON.ProbeWarning,
          `Probe terminated redirects, Response body: ${bodyText(res.body)}`,
        ),
      );
    } else {
      this.finish(
        attempt.finish('failure', REASON.ProbeFailed, `HTTP probe failed with statuscode: ${res.status}`),
      );
    }
  }

  private failed(e: ExchangeError): void {
    const { attempt } = this;
    const at = this.url;
    if (this.timedOut) {
      const where =
        e.phase === 'response' || this.headersReceived
          ? 'Client.Timeout or context cancellation while reading body'
          : 'Client.Timeout exceeded while awaiting headers';
      this.finish(
        attempt.finish(
          'failure',
          REASON.ProbeTimeout,
          `Get "${at.href}": context deadline exceeded (${where})`,
        ),
      );
      return;
    }
    if (this.signal?.aborted) {
      this.finish(attempt.aborted());
      return;
    }
    const fault = agentFaultText(e, `Get "${at.href}"`);
    if (fault) {
      this.finish(attempt.finish('unknown', REASON.ProbeError, fault));
      return;
    }
    const port = Number(at.port || (at.protocol === 'https:' ? 443 : 80));
    const text =
      e.phase === 'dial' && isDialErrorCode(e.code)
        ? dialErrorText(e, at.hostname.replace(/^\[|\]$/g, ''), port)
        : e.message;
    this.finish(attempt.finish('failure', REASON.ProbeFailed, `Get "${at.href}": ${text}`));
  }

  private finish(outcome: ProbeOutcome): void {
    if (this.ended) return;
    this.ended = true;
    clearLongTimeout(this.timer);
    if (this.signal) unwatchAbort(this.signal, this.onAbort);
    this.done(outcome);
  }
}
