// The agent's one HTTP port: /metrics, /healthz, /readyz, /debug/probes. GET and HEAD only.
// Owns: the node:http server and the event-loop watch (both started by start(), stopped by stop()).
// The server never throws into the agent: a failing callback becomes a 500 or a failed check.
//
// The agent runs on the host network, so the port is reachable from the node's network: requests
// get short header/request timeouts, bodies are not read, and nothing here changes state.
// /metrics and /debug/probes are behind `guard` (TokenReview + SubjectAccessReview, endpoint-auth.ts)
// when one is given; /healthz, /livez and /readyz stay open for the kubelet.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, silentLogger } from '../log.js';
import type { ProbeSnapshot } from '../snapshot.js';
import type { EndpointGuard } from './endpoint-auth.js';
import { EventLoopWatch, type EventLoopWatchOptions } from './event-loop-watch.js';
import { formatHostPort, listenOn, parseListenAddress } from './listen-address.js';

export interface CheckResult {
  ok: boolean;
  /** Why not (or a short note when ok). */
  message?: string;
}

/** A named health or readiness check; it must be cheap and synchronous. */
export type Check = () => CheckResult;

export interface AgentHttpServerOptions {
  /** `ADDR:PORT`, e.g. `0.0.0.0:9470`; port 0 picks a free one (see address()). */
  listen: string;
  /** The exposition text: AgentMetrics.expose(). */
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** Every probe on the node, for /debug/probes. */
  probes: () => readonly ProbeSnapshot[];
  /** Checks behind /healthz besides the event loop, e.g. `{ watches: () => … }`. */
  liveChecks?: Record<string, Check>;
  /** Checks behind /readyz, e.g. `{ 'initial-sync': () => … }`. */
  readyChecks?: Record<string, Check>;
  eventLoop?: EventLoopWatchOptions;
  logger?: Logger;
  /** Authorizes /metrics and /debug/probes; undefined serves them to anyone (--insecure-endpoints). */
  guard?: EndpointGuard;
}

/** The paths behind the guard. */
export const PROTECTED_PATHS: readonly string[] = ['/metrics', '/debug/probes'];

const TEXT = 'text/plain; charset=utf-8';

export class AgentHttpServer {
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;
  private readonly loop: EventLoopWatch;
  private readonly log: Logger;
  private readonly liveChecks: Record<string, Check>;

  constructor(private readonly opts: AgentHttpServerOptions) {
    parseListenAddress(opts.listen); // fail fast on a bad flag, before anything starts
    this.loop = new EventLoopWatch(opts.eventLoop);
    this.log = opts.logger ?? silentLogger;
    this.liveChecks = { eventloop: () => this.loop.health(), ...opts.liveChecks };
  }

  /** Binds and listens; resolves with the bound address. Rejects (e.g. EADDRINUSE) without leaking. */
  async start(): Promise<{ host: string; port: number; url: string }> {
    if (this.server) throw new Error('AgentHttpServer already started');
    const { host, port } = parseListenAddress(this.opts.listen);
    const server = createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    try {
      await listenOn(server, { host, port });
    } catch (err) {
      this.server = undefined;
      throw err;
    }
    server.on('error', (err) => this.log.error({ err }, 'http server error'));
    this.loop.start();
    const addr = this.address()!;
    this.log.info({ listen: addr.url }, 'http server listening');
    return addr;
  }

  /** The bound address once started. */
  address(): { host: string; port: number; url: string } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.address === '::' ? '::1' : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return { host: a.address, port: a.port, url: `http://${formatHostPort(host, a.port)}` };
  }

  /** Stops listening, closes idle keep-alive sockets at once and the rest after in-flight requests
   *  (forced after 2 s). Idempotent; resolves when the server is closed. */
  stop(): Promise<void> {
    this.loop.stop();
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
    return this.stopping;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, TEXT, 'method not allowed\n', false);
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const guard = this.opts.guard;
    if (guard && PROTECTED_PATHS.includes(path)) {
      guard.check(req.headers.authorization, path, 'get').then(
        (d) => {
          if (d.ok) this.serve(path, head, res);
          else {
            if (d.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="vmprobe"');
            send(res, d.status, TEXT, `${d.message}\n`, head);
          }
        },
        (err: unknown) => {
          this.log.error({ err }, 'endpoint guard failed');
          send(res, 500, TEXT, 'authorization failed\n', head);
        },
      );
      return;
    }
    this.serve(path, head, res);
  }

  private serve(path: string, head: boolean, res: ServerResponse): void {
    switch (path) {
      case '/metrics':
        this.opts.metrics().then(
          (m) => send(res, 200, m.contentType, m.body, head),
          (err: unknown) => {
            this.log.error({ err }, 'collecting metrics failed');
            send(res, 500, TEXT, 'collecting metrics failed\n', head);
          },
        );
        return;
      case '/healthz':
      case '/livez':
        this.sendChecks(res, 'healthz', this.liveChecks, head);
        return;
      case '/readyz':
        this.sendChecks(res, 'readyz', this.opts.readyChecks ?? {}, head);
        return;
      case '/debug/probes': {
        let body: string;
        try {
          body = `${JSON.stringify(this.opts.probes())}\n`;
        } catch (err) {
          this.log.error({ err }, 'probe snapshot failed');
          send(res, 500, TEXT, 'probe snapshot failed\n', head);
          return;
        }
        send(res, 200, 'application/json; charset=utf-8', body, head);
        return;
      }
      default:
        send(res, 404, TEXT, 'not found: try /metrics, /healthz, /readyz, /debug/probes\n', head);
        return;
    }
  }

  /** kube-apiserver style: one `[+]name ok` / `[-]name failed: why` line per check, 200 or 503. */
  private sendChecks(res: ServerResponse, what: string, checks: Record<string, Check>, head: boolean): void {
    let ok = true;
    let body = '';
    for (const [name, check] of Object.entries(checks)) {
      let r: CheckResult;
      try {
        r = check();
      } catch (err) {
        r = { ok: false, message: err instanceof Error ? err.message : String(err) };
      }
      ok &&= r.ok;
      body += r.ok ? `[+]${name} ok\n` : `[-]${name} failed: ${r.message ?? 'no reason given'}\n`;
    }
    body += `${what} check ${ok ? 'passed' : 'failed'}\n`;
    send(res, ok ? 200 : 503, TEXT, body, head);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(head ? undefined : body);
}
