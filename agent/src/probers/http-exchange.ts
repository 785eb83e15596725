// One HTTP/1.1 GET over a fresh socket: `net.connect`, or `tls.connect` without certificate
// verification. The request head is written at once (the socket buffers it until connected), the
// response is parsed by ResponseParser, and the socket is destroyed as soon as the response is
// complete, the body cap is reached or anything fails — no keep-alive, nothing pooled, no proxy.
// Why not node:http: a ClientRequest + IncomingMessage + agent + parser per probe cost ~3.5× a TCP
// probe; this costs a socket and one buffer (see ARCHITECTURE.md, "agent: probers").
//
// Cancellation is a `Cancel` the caller owns (one per attempt, no AbortSignal): `cancel()` destroys
// the socket of the exchange in flight and rejects it.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type HttpParseError, ResponseParser } from './http-response.js';

export interface ExchangeRequest {
  tls: boolean;
  host: string;
  port: number;
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

export function exchange(
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
