import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * Minimal real-socket clients for asserting on simulated VMs (used by the vmsim tests, handy for
 * e2e tests). Every call owns its socket and timer and releases both before settling.
 */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** performance.now() when the request was handed to the socket and when headers arrived. */
  sentAt: number;
  headersAt: number;
}

export type HttpOutcome =
  | { kind: 'response'; result: HttpResult }
  | { kind: 'timeout' }
  | { kind: 'error'; code: string };

/** One GET (no keep-alive); `timeoutMs` bounds the whole exchange. */
export function httpGet(
  host: string,
  port: number,
  opts: { path?: string; headers?: Record<string, string>; timeoutMs?: number; tls?: boolean } = {},
): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const mod = opts.tls ? https : http;
    let sentAt = 0;
    let done = false;
    const finish = (o: HttpOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const req = mod.request(
      {
        host,
        port,
        path: opts.path ?? '/',
        method: 'GET',
        headers: opts.headers,
        agent: false,
        rejectUnauthorized: false,
      },
      (res) => {
        const headersAt = performance.now();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          finish({
            kind: 'response',
            result: { status: res.statusCode ?? 0, headers: res.headers, body, sentAt, headersAt },
          }),
        );
        res.on('error', (err: NodeJS.ErrnoException) =>
          finish({ kind: 'error', code: err.code ?? err.message }),
        );
      },
    );
    const timer = setTimeout(() => finish({ kind: 'timeout' }), opts.timeoutMs ?? 5000);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', code: err.code ?? err.message }));
    req.on('finish', () => {
      sentAt = performance.now();
    });
    req.end();
  });
}

export type ConnectOutcome = 'connected' | 'refused' | 'timeout' | `error:${string}`;

/** Open a TCP connection and close it at once; reports how the connect ended within `timeoutMs`. */
export function tcpConnect(host: string, port: number, timeoutMs = 2000): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const finish = (o: ConnectOutcome) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.once('connect', () => finish('connected'));
    sock.once('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? 'refused' : `error:${err.code ?? err.message}`),
    );
  });
}

/** The status of one GET to host:port/ within `timeoutMs`; rejects on a timeout or a socket error. */
export async function httpStatus(host: string, port = 1500, timeoutMs = 1000): Promise<number> {
  const o = await httpGet(host, port, { timeoutMs });
  if (o.kind === 'response') return o.result.status;
  throw new Error(`GET http://${host}:${port}/: ${o.kind === 'timeout' ? 'timeout' : o.code}`);
}
