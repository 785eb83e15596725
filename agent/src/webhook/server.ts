// `vmprobe webhook`'s one HTTPS port: POST /mutate-v1-pod (AdmissionReview admission.k8s.io/v1),
// GET /healthz, /readyz, /metrics. TLS 1.2+ from the certificate/key files, re-read on change
// (tls-files.ts) without dropping connections or requests in flight.
// Owns: the https server and the TlsReloader (both started by start(), stopped by stop()).
// Writes nothing to the Kubernetes API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { formatHostPort, listenOn, parseListenAddress } from '../http/listen-address.js';
import { type Logger, silentLogger } from '../log.js';
import type { AdmissionHandler } from './handler.js';
import type { WebhookMetrics } from './metrics.js';
import { loadTlsPair, serverTlsOptions, type TlsPair, TlsReloader } from './tls-files.js';

export const MUTATE_POD_PATH = '/mutate-v1-pod';
export const DEFAULT_WEBHOOK_LISTEN = ':9443';
/** An AdmissionReview of a pod is far below this; kube-apiserver's own request limit is 3 MiB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface WebhookServerOptions {
  listen: string;
  certFile: string;
  keyFile: string;
  handler: AdmissionHandler;
  metrics: WebhookMetrics;
  logger?: Logger;
  /** Certificate poll interval (default 5 s). */
  certPollMs?: number;
}

const TEXT = 'text/plain; charset=utf-8';

export class WebhookServer {
  private server: Server | undefined;
  private reloader: TlsReloader | undefined;
  private stopping: Promise<void> | undefined;
  private pair: TlsPair | undefined;
  private readonly log: Logger;
  private readonly reloadListeners = new Set<(pair: TlsPair) => void>();

  constructor(private readonly opts: WebhookServerOptions) {
    parseListenAddress(opts.listen); // fail fast on a bad flag
    this.log = opts.logger ?? silentLogger;
  }

  /** Loads the pair (TlsFilesError when it does not load), binds and listens. */
  async start(): Promise<{ host: string; port: number; url: string }> {
    if (this.server) throw new Error('WebhookServer already started');
    const { host, port } = parseListenAddress(this.opts.listen);
    const pair = loadTlsPair(this.opts.certFile, this.opts.keyFile);
    this.pair = pair;
    this.opts.metrics.certReload(true, pair.notAfter);
    const server = createServer(serverTlsOptions(pair), (req, res) => this.handle(req, res));
    server.headersTimeout = 5_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 30_000; // kube-apiserver keeps connections to webhooks alive
    server.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'TLS handshake failed'));
    this.server = server;
    try {
      await listenOn(server, { host, port });
    } catch (err) {
      this.server = undefined;
      throw err;
    }
    server.on('error', (err) => this.log.error({ err }, 'webhook server error'));
    this.reloader = new TlsReloader({
      certFile: this.opts.certFile,
      keyFile: this.opts.keyFile,
      pollMs: this.opts.certPollMs,
      onReload: (p) => {
        server.setSecureContext(serverTlsOptions(p));
        this.pair = p;
        this.opts.metrics.certReload(true, p.notAfter);
        this.log.info(
          { fingerprint: p.fingerprint256, notAfter: new Date(p.notAfter * 1000).toISOString() },
          'serving certificate reloaded',
        );
        for (const l of this.reloadListeners) l(p);
      },
      onError: (err) => {
        this.opts.metrics.certReload(false);
        this.log.error(
          { err: err.message },
          'serving certificate changed but does not load; keeping the old one',
        );
      },
    });
    this.reloader.start();
    const addr = this.address()!;
    this.log.info({ listen: addr.url, fingerprint: pair.fingerprint256 }, 'webhook listening');
    return addr;
  }

  /** The certificate in use. */
  certificate(): TlsPair | undefined {
    return this.pair;
  }

  /** Calls `listener` after each reload; returns the function that removes it. */
  onReload(listener: (pair: TlsPair) => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /** Polls the certificate files now (tests; the timer does this every certPollMs). */
  checkCertificate(): void {
    this.reloader?.check();
  }

  address(): { host: string; port: number; url: string } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.address === '::' ? '::1' : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return { host: a.address, port: a.port, url: `https://${formatHostPort(host, a.port)}` };
  }

  /** Stops listening; requests in flight finish (connections forced closed after 5 s). Idempotent. */
  stop(): Promise<void> {
    this.reloader?.stop();
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
    return this.stopping;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === MUTATE_POD_PATH) {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        send(res, 405, TEXT, 'method not allowed: POST an AdmissionReview\n');
        return;
      }
      this.admit(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, TEXT, 'method not allowed\n');
      return;
    }
    switch (path) {
      case '/healthz':
      case '/livez':
        send(res, 200, TEXT, '[+]tls ok\nhealthz check passed\n');
        return;
      case '/readyz': {
        const p = this.pair;
        const ok = p !== undefined && p.notAfter * 1000 > Date.now();
        send(
          res,
          ok ? 200 : 503,
          TEXT,
          ok
            ? '[+]certificate ok\nreadyz check passed\n'
            : '[-]certificate failed: the serving certificate has expired\nreadyz check failed\n',
        );
        return;
      }
      case '/metrics':
        this.opts.metrics.expose().then(
          (m) => send(res, 200, m.contentType, m.body),
          (err: unknown) => {
            this.log.error({ err }, 'collecting metrics failed');
            send(res, 500, TEXT, 'collecting metrics failed\n');
          },
        );
        return;
      default:
        send(res, 404, TEXT, `not found: try ${MUTATE_POD_PATH}, /healthz, /readyz, /metrics\n`);
    }
  }

  private admit(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const ctl = new AbortController();
    const onClose = () => {
      if (!res.writableEnded) ctl.abort();
    };
    res.on('close', onClose);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', () => ctl.abort());
    req.on('end', () => {
      if (tooLarge) {
        send(res, 413, TEXT, `request body larger than ${MAX_BODY_BYTES} bytes\n`);
        return;
      }
      this.opts.handler.review(Buffer.concat(chunks).toString('utf8'), ctl.signal).then(
        (r) => {
          if (r.status === 400) send(res, 400, TEXT, `bad request: ${r.message}\n`);
          else send(res, 200, 'application/json', JSON.stringify(r.body));
        },
        (err: unknown) => {
          this.log.error({ err }, 'admission handler failed');
          send(res, 500, TEXT, 'internal error\n');
        },
      );
    });
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
