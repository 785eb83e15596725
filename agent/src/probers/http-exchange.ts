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
// the socket of the exchange in flight and rejects it.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type HttpParseError, ResponseParser } from './http-response.js';
import { type TcpHandle, type TcpHandles, tcpHandles, uvError } from './tcp-handle.js';

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
  onCancel: (() => void) | undefined;

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.();
  }
}

/** Which connection carries plain http; 'socket' is forced only by tests and benchmarks. */
export type ExchangeTransport = 'handle' | 'socket';

export function exchange(
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
  transport: ExchangeTransport = 'handle',
): Promise<ExchangeResult> {
  if (!req.tls && transport === 'handle' && tcpHandles?.streams)
    return exchangeOnHandle(tcpHandles, req, bodyCap, keepBody, cancel);
  return exchangeOnSocket(req, bodyCap, keepBody, cancel);
}

function exchangeOnHandle(
  handles: TcpHandles,
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
): Promise<ExchangeResult> {
  const streams = handles.streams as NonNullable<TcpHandles['streams']>;
  return new Promise<ExchangeResult>((resolve, reject) => {
    const parser = new ResponseParser(bodyCap, keepBody);
    const handle: TcpHandle = handles.open();
    const connectReq = handles.request();
    let settled = false;
    const phase = () => (parser.headersReceived ? 'response' : 'dial');
    const settle = (err: ExchangeError | undefined): void => {
      if (settled) return;
      settled = true;
      cancel.onCancel = undefined;
      handle.close();
      if (err) reject(err);
      else resolve({ status: parser.status, location: parser.location, body: parser.body });
    };
    const fail = (status: number, syscall: string, where?: string): void => {
      const e = uvError(status, syscall, where);
      settle(new ExchangeError(e.message, phase(), e.code));
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      try {
        if (parser.feed(chunk)) settle(undefined);
      } catch (err) {
        settle(new ExchangeError((err as HttpParseError).message, phase()));
      }
    };
    const onEnd = (status: number): void => {
      if (settled) return;
      if (status !== 0) fail(status, 'read');
      else if (parser.end()) settle(undefined);
      else settle(new ExchangeError(parser.headersReceived ? 'unexpected EOF' : 'socket hang up', phase()));
    };
    const where = `${req.host}:${req.port}`;
    // After a cancel the handle is closed and the connect completes with UV_ECANCELED: ignored.
    connectReq.oncomplete = (status: number): void => {
      if (settled) return;
      if (status !== 0) {
        fail(status, 'connect', where);
        return;
      }
      const werr = streams.write(handle, req.head);
      if (werr !== 0) {
        fail(werr, 'write');
        return;
      }
      const rerr = streams.readStart(handle, onData, onEnd);
      if (rerr !== 0) fail(rerr, 'read');
    };
    cancel.onCancel = () => settle(new ExchangeError('aborted', phase()));
    connectReq.address = req.host;
    connectReq.port = req.port;
    const err = req.ipv6
      ? handle.connect6(connectReq, req.host, req.port)
      : handle.connect(connectReq, req.host, req.port);
    if (err !== 0) fail(err, 'connect', where);
    else if (cancel.cancelled) cancel.onCancel();
  });
}

function exchangeOnSocket(
  req: ExchangeRequest,
  bodyCap: number,
  keepBody: (status: number) => boolean,
  cancel: Cancel,
): Promise<ExchangeResult> {
  return new Promise<ExchangeResult>((resolve, reject) => {
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
    const settle = (err: ExchangeError | undefined): void => {
      if (settled) return;
      settled = true;
      cancel.onCancel = undefined;
      socket.destroy();
      if (err) reject(err);
      else resolve({ status: parser.status, location: parser.location, body: parser.body });
    };
    cancel.onCancel = () => settle(new ExchangeError('aborted', phase()));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        if (parser.feed(chunk)) settle(undefined);
      } catch (err) {
        settle(new ExchangeError((err as HttpParseError).message, phase()));
      }
    });
    // The checks of `settled` below come before building an error: 'close' follows every settled
    // exchange (our own destroy), and an Error captures a stack trace — a cost on every probe.
    socket.on('end', () => {
      if (settled) return;
      if (parser.end()) settle(undefined);
      else settle(new ExchangeError(parser.headersReceived ? 'unexpected EOF' : 'socket hang up', phase()));
    });
    // After a settled exchange, errors (an RST echo) land here and are dropped.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) settle(new ExchangeError(err.message, phase(), err.code));
    });
    socket.on('close', () => {
      if (!settled)
        settle(new ExchangeError(parser.headersReceived ? 'unexpected EOF' : 'socket hang up', phase()));
    });
    socket.write(req.head);
    if (cancel.cancelled) cancel.onCancel();
  });
}
