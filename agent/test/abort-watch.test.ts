import { getEventListeners } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { unwatchAbort, watchAbort, watchedCount } from '@vmprobe/agent/probers/abort-watch';
import { probeHttp, probeTcp } from '@vmprobe/agent/probers/index';
import { afterAll, describe, expect, it } from 'vitest';

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A loopback server: `answer` true replies to any request with a tiny HTTP 200, false stays silent. */
async function server(answer: boolean): Promise<number> {
  const s = createServer((sock: Socket) => {
    sock.on('error', () => {});
    sock.once('data', () => {
      if (answer) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

describe('abort watch (one abort listener per signal)', () => {
  it('runs each registered cancel once on abort, and not the unregistered ones', () => {
    const ac = new AbortController();
    const ran: string[] = [];
    const a = () => ran.push('a');
    const b = () => ran.push('b');
    const c = () => ran.push('c');
    watchAbort(ac.signal, a);
    watchAbort(ac.signal, b);
    watchAbort(ac.signal, c);
    unwatchAbort(ac.signal, b);
    unwatchAbort(ac.signal, b); // idempotent
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    ac.abort();
    ac.abort();
    expect(ran).toEqual(['a', 'c']);
    expect(watchedCount(ac.signal)).toBe(0);
  });

  it('one cancel in its slot and more in the Set: all run once; re-watching a watched cancel does not run it twice', () => {
    const ac = new AbortController();
    const ran: string[] = [];
    const a = () => ran.push('a');
    const b = () => ran.push('b');
    const c = () => ran.push('c');
    watchAbort(ac.signal, a); // the slot
    watchAbort(ac.signal, b); // the Set
    unwatchAbort(ac.signal, a); // the slot is free again…
    watchAbort(ac.signal, b); // …but b is already watched: not added twice
    watchAbort(ac.signal, c); // the slot
    watchAbort(ac.signal, c);
    expect(watchedCount(ac.signal)).toBe(2);
    ac.abort();
    expect(ran.sort()).toEqual(['b', 'c']);
    expect(watchedCount(ac.signal)).toBe(0);
  });

  it('settled tcp and http attempts on one long-lived signal leave one listener and no cancel behind; an abort then cancels only the attempt in flight', async () => {
    const ok = await server(true);
    const silent = await server(false);
    const ac = new AbortController();
    const results: string[] = [];
    for (let i = 0; i < 10; i++) {
      const tcp = await probeTcp(
        { type: 'tcp', host: '127.0.0.1', port: ok },
        { timeoutMs: 5000 },
        ac.signal,
      );
      const http = await probeHttp(
        { type: 'http', scheme: 'http', host: '127.0.0.1', port: ok, path: '/', headers: [] },
        { timeoutMs: 5000 },
        ac.signal,
      );
      results.push(tcp.result, http.result);
    }
    expect(results).toHaveLength(20);
    expect(new Set(results)).toEqual(new Set(['success']));
    expect(watchedCount(ac.signal)).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);

    const pending = probeHttp(
      { type: 'http', scheme: 'http', host: '127.0.0.1', port: silent, path: '/', headers: [] },
      { timeoutMs: 30_000 },
      ac.signal,
    );
    // Wait until the attempt has registered (it does so synchronously before its first await).
    expect(watchedCount(ac.signal)).toBe(1);
    ac.abort();
    expect(await pending).toMatchObject({ result: 'unknown', reason: 'ProbeAborted' });
    expect(watchedCount(ac.signal)).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});
