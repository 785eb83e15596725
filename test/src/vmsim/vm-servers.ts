import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { checkBehaviour, type PortSet } from './behaviour.js';
import { VmSimError } from './errors.js';
import { REQUEST_LOG_SIZE, type RecordedRequest, type VmBehaviour } from './types.js';

export interface VmServersOptions extends PortSet {
  /** Addresses every port is bound on (loopback: the VM's 127.x; netns: '::' or '0.0.0.0'). */
  hosts: string[];
  /** PEM key and certificate for the HTTPS ports; required when httpsPorts is not empty. */
  tls?: { key: string; cert: string };
  /** Called for each request, before it is answered (netns mode forwards it to the parent). */
  onRequest?: (rec: RecordedRequest) => void | Promise<void>;
}

interface Listener {
  kind: 'http' | 'https' | 'tcp';
  port: number;
  host: string;
  server: net.Server | null;
  sockets: Set<net.Socket>;
}

/** An HTTP request that is being held (slow or hang) and must be released on behaviour change. */
interface HeldRequest {
  res: http.ServerResponse;
  timer: NodeJS.Timeout | null;
}

const BODY = 'Hello World!';

/**
 * The servers of one simulated VM: HTTP, HTTPS and plain TCP listeners on its addresses, answering
 * according to the current behaviour, and a bounded log of the requests seen.
 * Owns every timer it starts (slow responses, the flap timer) and clears them on behaviour change
 * and on stop(). Held (slow/hung) requests are destroyed when the behaviour changes. stop() is
 * idempotent and leaves no handle behind. Used in-process (loopback mode) and inside the VM's child
 * process (netns mode). Blackhole is enforced outside (firewall, link); here it serves as healthy.
 */
export class VmServers {
  private behaviourNow: VmBehaviour = { kind: 'healthy' };
  private readonly listeners: Listener[];
  private listening = false;
  private stopped = false;
  private flapHealthy = true;
  private flapTimer: NodeJS.Timeout | null = null;
  private readonly held = new Set<HeldRequest>();
  private readonly log: RecordedRequest[] = [];
  private count = 0;
  /** Serialises behaviour changes so listeners are never opened and closed concurrently. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: VmServersOptions) {
    if (opts.httpsPorts.length > 0 && !opts.tls) {
      throw new VmSimError('ERR_BAD_OPTIONS', 'httpsPorts need a TLS key and certificate');
    }
    const mk = (kind: Listener['kind'], port: number, host: string): Listener => ({
      kind,
      port,
      host,
      server: null,
      sockets: new Set(),
    });
    this.listeners = opts.hosts.flatMap((host) => [
      ...opts.httpPorts.map((p) => mk('http', p, host)),
      ...opts.httpsPorts.map((p) => mk('https', p, host)),
      ...opts.tcpPorts.map((p) => mk('tcp', p, host)),
    ]);
  }

  get behaviour(): VmBehaviour {
    return this.behaviourNow;
  }

  get requests(): ReadonlyArray<RecordedRequest> {
    return this.log;
  }

  requestCount(): number {
    return this.count;
  }

  /** Switch behaviour; resolves once listeners are open (or closed, for refuse). */
  setBehaviour(b: VmBehaviour): Promise<void> {
    const next = checkBehaviour(b);
    const run = this.chain.then(() => this.apply(next));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Close every listener and connection, clear every timer. Idempotent. */
  stop(): Promise<void> {
    if (this.stopped) return this.chain;
    this.stopped = true;
    const run = this.chain.then(async () => {
      this.releaseHeld();
      this.stopFlap();
      await this.closeListeners();
    });
    this.chain = run.catch(() => {});
    return run;
  }

  private async apply(b: VmBehaviour): Promise<void> {
    if (this.stopped) throw new VmSimError('ERR_VM_DESTROYED', 'the VM is stopped');
    this.releaseHeld();
    this.stopFlap();
    this.behaviourNow = b;
    if (b.kind === 'refuse') {
      await this.closeListeners();
    } else {
      await this.openListeners();
    }
    if (b.kind === 'flap') {
      this.flapHealthy = true;
      this.flapTimer = setInterval(() => {
        this.flapHealthy = !this.flapHealthy;
      }, b.periodMs);
    }
  }

  private stopFlap(): void {
    if (this.flapTimer) clearInterval(this.flapTimer);
    this.flapTimer = null;
  }

  private releaseHeld(): void {
    for (const h of this.held) {
      if (h.timer) clearTimeout(h.timer);
      h.res.socket?.destroy();
    }
    this.held.clear();
  }

  private async openListeners(): Promise<void> {
    if (this.listening) return;
    try {
      await Promise.all(this.listeners.map((l) => this.openOne(l)));
      this.listening = true;
    } catch (err) {
      await this.closeListeners();
      throw err;
    }
  }

  private openOne(l: Listener): Promise<void> {
    const server = this.createServer(l);
    l.server = server;
    server.on('connection', (sock: net.Socket) => {
      l.sockets.add(sock);
      sock.on('close', () => l.sockets.delete(sock));
      sock.on('error', () => {}); // peers reset probes all the time; nothing to report
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        reject(
          new VmSimError('ERR_LISTEN', `cannot listen on ${l.host}:${l.port}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      server.once('error', onError);
      server.listen({ host: l.host, port: l.port, backlog: 511 }, () => {
        server.off('error', onError);
        server.on('error', () => {});
        resolve();
      });
    });
  }

  private createServer(l: Listener): net.Server {
    if (l.kind === 'tcp') {
      // Accept and hold the connection until the peer closes it or the listener closes.
      return net.createServer((sock) => {
        sock.resume();
        sock.on('end', () => sock.end());
      });
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(l.port, req, res);
    const server =
      l.kind === 'https' ? https.createServer({ ...this.opts.tls }, handler) : http.createServer(handler);
    server.requestTimeout = 0; // a hung request stays hung until the behaviour changes
    server.on('clientError', (_err, sock) => sock.destroy());
    return server;
  }

  private async closeListeners(): Promise<void> {
    this.listening = false;
    await Promise.all(
      this.listeners.map(async (l) => {
        const server = l.server;
        l.server = null;
        if (!server) return;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of l.sockets) s.destroy();
        l.sockets.clear();
        await closed;
      }),
    );
  }

  private onRequest(port: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    const rec: RecordedRequest = {
      time: Date.now(),
      method: req.method ?? '',
      path: req.url ?? '',
      headers: { ...req.headers },
      port,
    };
    this.count++;
    this.log.push(rec);
    if (this.log.length > REQUEST_LOG_SIZE) this.log.shift();
    req.resume();
    const b = this.behaviourNow;
    const answer = () => {
      switch (b.kind) {
        case 'status':
          return sendStatus(res, b.code, req.url ?? '/');
        case 'flap':
          return this.flapHealthy ? sendStatus(res, 200, '/') : sendStatus(res, 500, '/');
        case 'hang': {
          const h: HeldRequest = { res, timer: null };
          this.held.add(h);
          res.on('close', () => this.held.delete(h));
          return;
        }
        case 'slow': {
          const h: HeldRequest = { res, timer: null };
          h.timer = setTimeout(() => {
            this.held.delete(h);
            sendStatus(res, 200, '/');
          }, b.delayMs);
          this.held.add(h);
          res.on('close', () => {
            if (h.timer) clearTimeout(h.timer);
            this.held.delete(h);
          });
          return;
        }
        case 'refuse':
          res.socket?.destroy();
          return;
        default:
          return sendStatus(res, 200, '/');
      }
    };
    const hook = this.opts.onRequest?.(rec);
    if (hook) {
      hook.then(answer, answer);
    } else {
      answer();
    }
  }
}

function sendStatus(res: http.ServerResponse, code: number, path: string): void {
  if (res.destroyed || res.headersSent) return;
  const noBody = code === 204 || code === 304 || (code >= 100 && code < 200);
  const body = code === 200 ? BODY : noBody ? '' : `status ${code}\n`;
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/plain; charset=utf-8' };
  if (!noBody) headers['Content-Length'] = Buffer.byteLength(body);
  if (code >= 300 && code < 400) headers.Location = path;
  if (code >= 100 && code < 200) {
    // An informational status cannot end a response; answer it as a bare status line and close.
    res.socket?.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Status'}\r\n\r\n`);
    return;
  }
  res.writeHead(code, headers);
  res.end(body);
}
