// The lean HTTP/1.1 exchange over both of its transports: the bare libuv handle (plain http where
// this Node has one) and the net.Socket fallback must give the same results and the same errors,
// word for word, for every way a target can answer.
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import {
  Cancel,
  type ExchangeError,
  type ExchangeResult,
  type ExchangeTransport,
  exchange,
} from '@vmprobe/agent/probers/http-exchange';
import { tcpHandles } from '@vmprobe/agent/probers/tcp-handle';
import { afterEach, describe, expect, it } from 'vitest';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A raw TCP server: `onRequest` gets the socket once the request head has arrived. */
async function rawServer(onRequest: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        onRequest(s);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function run(
  port: number,
  transport: ExchangeTransport,
  cancel = new Cancel(),
): Promise<{ ok: ExchangeResult } | { err: { message: string; phase: string; code?: string } }> {
  const head = Buffer.from(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
  return exchange(
    { tls: false, host: '127.0.0.1', ipv6: false, port, servername: undefined, head },
    10 * 1024,
    (status) => status >= 300 && status < 400,
    cancel,
    transport,
  ).then(
    (ok) => ({ ok }),
    (e: ExchangeError) => ({
      err: { message: e.message, phase: e.phase, ...(e.code ? { code: e.code } : {}) },
    }),
  );
}

/** Runs the same exchange over both transports; returns the handle's result after checking they agree. */
async function both(port: number): Promise<Awaited<ReturnType<typeof run>>> {
  const onHandle = await run(port, 'handle');
  const onSocket = await run(port, 'socket');
  expect(onHandle).toEqual(onSocket);
  return onHandle;
}

describe('http exchange: the bare handle and the net.Socket agree', () => {
  it('plain http runs on the bare handle on this Node', () => {
    expect(tcpHandles?.streams).toBeDefined();
  });

  it('200 with Content-Length', async () => {
    const port = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const r = await both(port);
    expect(r).toMatchObject({ ok: { status: 200, location: undefined } });
  });

  it('a chunked 302 keeps its body and Location', async () => {
    const port = await rawServer((s) =>
      s.end(
        'HTTP/1.1 302 Found\r\nLocation: /next\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmove\r\n0\r\n\r\n',
      ),
    );
    const r = await both(port);
    expect(r).toMatchObject({ ok: { status: 302, location: '/next' } });
    if ('ok' in r) expect(r.ok.body.toString()).toBe('move');
  });

  it('a body read to EOF', async () => {
    const port = await rawServer((s) => s.end('HTTP/1.1 301 Moved\r\n\r\nuntil the end'));
    const r = await both(port);
    if (!('ok' in r)) throw new Error(`expected a response, got ${JSON.stringify(r)}`);
    expect(r.ok.body.toString()).toBe('until the end');
  });

  it('closed before any response: socket hang up', async () => {
    const port = await rawServer((s) => s.end());
    expect(await both(port)).toEqual({ err: { message: 'socket hang up', phase: 'dial' } });
  });

  it('closed in the middle of the body: unexpected EOF', async () => {
    const port = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'));
    expect(await both(port)).toEqual({ err: { message: 'unexpected EOF', phase: 'response' } });
  });

  it('a garbled status line: the parser error', async () => {
    const port = await rawServer((s) => s.end('SSH-2.0-OpenSSH\r\n\r\n'));
    const r = await both(port);
    expect(r).toMatchObject({ err: { phase: 'dial' } });
    if ('err' in r) expect(r.err.message).toMatch(/^malformed HTTP response/);
  });

  it('reset by the peer: read ECONNRESET', async () => {
    const port = await rawServer((s) => s.resetAndDestroy());
    expect(await both(port)).toEqual({
      err: { message: 'read ECONNRESET', phase: 'dial', code: 'ECONNRESET' },
    });
  });

  it('refused: connect ECONNREFUSED with the address', async () => {
    const port = await rawServer(() => {});
    await new Promise<void>((r) => servers.pop()?.close(() => r()));
    expect(await both(port)).toEqual({
      err: { message: `connect ECONNREFUSED 127.0.0.1:${port}`, phase: 'dial', code: 'ECONNREFUSED' },
    });
  });

  it.each(['handle', 'socket'] as const)(
    'a cancel while waiting for the response rejects "aborted" (%s)',
    async (transport) => {
      let arrived!: () => void;
      const requestArrived = new Promise<void>((r) => {
        arrived = r;
      });
      const port = await rawServer(() => arrived());
      const cancel = new Cancel();
      const pending = run(port, transport, cancel);
      await requestArrived;
      cancel.cancel();
      expect(await pending).toEqual({ err: { message: 'aborted', phase: 'dial' } });
    },
  );
});
