// One HTTP/1.1 GET over a fresh socket: `net.connect`, or `tls.connect` without certificate
// verification. The request head is written at once (the socket buffers it until connected), the
// response is parsed by ResponseParser, and the socket is destroyed as soon as the response is
// complete, the body cap is reached or anything fails — no keep-alive, nothing pooled, no proxy.
// Why not node:http: a ClientRequest + IncomingMessage + agent + parser per probe cost ~3.5× a TCP
// probe; this costs a socket and one buffer (see ARCHITECTURE.md, "agent: probers").
//
// Plain http runs straight on a bare libuv handle where this Node has one (tcp-handle.ts: connect,
// one write, reads into the parser, close — no stream, no emitter); https and the fallback use a
// net/tls socket. Both report the same errors in the same words (net.Socket's: "connect
// ECONNREFUSED 127.0.0.1:80", "read ECONNRESET", "socket hang up", "unexpected EOF").
//
// Cancellation is a `Cancel` the caller owns (one per attempt, no AbortSignal): `cancel()` destroys
// the socket of the exchange in flight and ends it with an 'aborted' error.
// Two forms: `exchangeThen` reports to a callback (the prober's hot path: on the bare handle an
// exchange is one object with methods — no promise and no closure per step), `exchange` wraps it
// in a promise.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type HttpParseError, ResponseParser } from './http-response.js';
import {
  type TcpConnectRequest,
  type TcpHandle,
  type TcpHandles,
  type TcpStreams,
  tcpHandles,
  uvError,
} from './tcp-handle.js';

export interface ExchangeRequest {
  tls: boolean;
  host: string;
  port: number;
  /** host is an IPv6 literal (decided once when the request is built, not per exchange). */
  ipv6: boolean;
  /** SNI name (a Host override that is a name); none for IP literals. */
  servername: string | undefined;
  /** The whole request head, CRLFs included. */
  head: Buffer;
}

export interface ExchangeResult {
  status: number;
  location: string | undefined;
  body: Buffer;
}

export class ExchangeError extends Error {
  constructor(
    message: string,
    readonly phase: 'dial' | 'response',
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Cancels the exchange in flight, if any; idempotent. Owned by one attempt. */
export class Cancel {
  cancelled = false;
  /** The exchange in flight (set by it, cleared when it settles). */
  onCancel: { cancelled(): void } | undefined;

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.cancelled();
  }
}

/** Which connection carries plain http; 'socket' is forced only by tests and benchmarks. */
export type ExchangeTransport = 'handle' | 'socket';

/** The end of an exchange: an error, or the parser holding the complete response (its status,
 *  location and body). Called exactly once. */
export type ExchangeDone = (err: ExchangeError | undefined, res: ResponseParser) => void;

/** One exchange as a promise of its result (tests and callers that want one). */
export function exchange(
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
  transport: ExchangeTransport = 'handle',
): Promise<ExchangeResult> {
  return new Promise<ExchangeResult>((resolve, reject) => {
    exchangeThen(req, bodyCap, keepBody, cancel, transport, (err, res) => {
      if (err) reject(err);
      else resolve({ status: res.status, location: res.location, body: res.body });
    });
  });
}

/** One exchange, its end reported to `done` (the prober's hot path: no promise). */
export function exchangeThen(
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
  transport: ExchangeTransport,
  done: ExchangeDone,
): void {
  if (!req.tls && transport === 'handle' && tcpHandles?.streams)
    new HandleExchange(tcpHandles, req, new ResponseParser(bodyCap, keepBody), cancel, done).start();
  else exchangeOnSocket(req, bodyCap, keepBody, cancel, done);
}

/** The connect request's completion, shared by every exchange (no closure per attempt): the native
 *  side calls it with `this` the request, which carries its exchange. */
function onConnected(this: ExchangeConnectRequest, status: number): void {
  this.exchange?.connected(status);
}

interface ExchangeConnectRequest extends TcpConnectRequest {
  exchange?: HandleExchange;
}

/** One exchange on a bare handle: its state in fields and its steps as methods. Per attempt it
 *  allocates itself, the parser, the handle and its two requests, and the two read callbacks. */
class HandleExchange {
  private readonly handle: TcpHandle;
  private settled = false;

  constructor(
    private readonly handles: TcpHandles,
    private readonly req: ExchangeRequest,
    private readonly parser: ResponseParser,
    private readonly cancel: Cancel,
    private readonly done: ExchangeDone,
  ) {
    this.handle = handles.open();
  }

  start(): void {
    const { req, cancel } = this;
    const connectReq: ExchangeConnectRequest = this.handles.request();
    // After a cancel the handle is closed and the connect completes with UV_ECANCELED: ignored.
    connectReq.oncomplete = onConnected;
    connectReq.exchange = this;
    connectReq.address = req.host;
    connectReq.port = req.port;
    cancel.onCancel = this;
    const err = req.ipv6
      ? this.handle.connect6(connectReq, req.host, req.port)
      : this.handle.connect(connectReq, req.host, req.port);
    if (err !== 0) this.fail(err, 'connect', true);
    else if (cancel.cancelled) this.cancelled();
  }

  connected(status: number): void {
    if (this.settled) return;
    if (status !== 0) {
      this.fail(status, 'connect', true);
      return;
    }
    const streams = this.handles.streams as TcpStreams;
    const werr = streams.write(this.handle, this.req.head);
    if (werr !== 0) {
      this.fail(werr, 'write', false);
      return;
    }
    const rerr = streams.readStart(this.handle, this.onData, this.onEnd);
    if (rerr !== 0) this.fail(rerr, 'read', false);
  }

  /** Cancel's hook (Cancel.onCancel). */
  cancelled(): void {
    this.settle(new ExchangeError('aborted', this.phase()));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.settled) return;
    let complete: boolean;
    try {
      complete = this.parser.feed(chunk);
    } catch (err) {
      this.settle(new ExchangeError((err as HttpParseError).message, this.phase()));
      return;
    }
    // Outside the try: `done` (the caller's next step) must not be mistaken for a parse error.
    if (complete) this.settle(undefined);
  };

  private readonly onEnd = (status: number): void => {
    if (this.settled) return;
    const parser = this.parser;
    if (status !== 0) this.fail(status, 'read', false);
    else if (parser.end()) this.settle(undefined);
    else settleEof(this, parser);
  };

  private phase(): 'dial' | 'response' {
    return this.parser.headersReceived ? 'response' : 'dial';
  }

  private fail(status: number, syscall: string, withAddress: boolean): void {
    const e = uvError(status, syscall, withAddress ? `${this.req.host}:${this.req.port}` : undefined);
    this.settle(new ExchangeError(e.message, this.phase(), e.code));
  }

  settle(err: ExchangeError | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.cancel.onCancel = undefined;
    this.handle.close();
    this.done(err, this.parser);
  }
}

function settleEof(x: { settle(err: ExchangeError | undefined): void }, parser: ResponseParser): void {
  x.settle(
    new ExchangeError(
      parser.headersReceived ? 'unexpected EOF' : 'socket hang up',
      parser.headersReceived ? 'response' : 'dial',
    ),
  );
}

function exchangeOnSocket(
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
  done: ExchangeDone,
): void {
  const parser = new ResponseParser(bodyCap, keepBody);
  const socket: Socket = req.tls
    ? tlsConnect({
        host: req.host,
        port: req.port,
        rejectUnauthorized: false,
        ...(req.servername ? { servername: req.servername } : {}),
      })
    : netConnect({ host: req.host, port: req.port });
  let settled = false;
  const phase = () => (parser.headersReceived ? 'response' : 'dial');
  const x = {
    settle(err: ExchangeError | undefined): void {
      if (settled) return;
      settled = true;
      cancel.onCancel = undefined;
      socket.destroy();
      done(err, parser);
    },
    cancelled(): void {
      x.settle(new ExchangeError('aborted', phase()));
    },
  };
  cancel.onCancel = x;
  socket.on('data', (chunk: Buffer) => {
    if (settled) return;
    let complete: boolean;
    try {
      complete = parser.feed(chunk);
    } catch (err) {
      x.settle(new ExchangeError((err as HttpParseError).message, phase()));
      return;
    }
    if (complete) x.settle(undefined);
  });
  // The checks of `settled` below come before building an error: 'close' follows every settled
  // exchange (our own destroy), and an Error captures a stack trace — a cost on every probe.
  socket.on('end', () => {
    if (settled) return;
    if (parser.end()) x.settle(undefined);
    else settleEof(x, parser);
  });
  // After a settled exchange, errors (an RST echo) land here and are dropped.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!settled) x.settle(new ExchangeError(err.message, phase(), err.code));
  });
  socket.on('close', () => {
    if (!settled) settleEof(x, parser);
  });
  socket.write(req.head);
  if (cancel.cancelled) x.cancelled();
}
