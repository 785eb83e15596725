// runProbeThen, the worker's callback path to the probers: tcpSocket and httpGet end through `done`
// (once, no promise); an aborted signal answers at once; other handlers hand back their promise.
import { type AddressInfo, createServer, type Server } from 'node:net';
import { type ProbeOutcome, type ProbeTarget, runProbeThen } from '@vmprobe/agent/probers/index';
import { afterAll, describe, expect, it } from 'vitest';

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function httpOk(): Promise<number> {
  const s = createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

/** Runs one attempt through runProbeThen; fails the test if it returns a promise or calls done twice. */
function viaCallback(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve, reject) => {
    let calls = 0;
    const returned = runProbeThen(target, { timeoutMs: 5000 }, signal, (o) => {
      calls++;
      if (calls > 1) reject(new Error('done called twice'));
      // A second call would come after this turn; give it one before resolving.
      setImmediate(() => resolve(o));
    });
    if (returned !== undefined) reject(new Error('returned a promise'));
  });
}

describe('runProbeThen', () => {
  it('tcpSocket and httpGet end through done, without a promise', async () => {
    const port = await httpOk();
    const tcp = await viaCallback({ type: 'tcp', host: '127.0.0.1', port });
    expect([tcp.result, tcp.message]).toEqual(['success', `TCP connect to 127.0.0.1:${port} succeeded`]);
    const http = await viaCallback({
      type: 'http',
      scheme: 'http',
      host: '127.0.0.1',
      port,
      path: '/',
      headers: [],
    });
    expect([http.result, http.message]).toEqual(['success', 'HTTP probe succeeded with statuscode: 200']);
    // A refused connection is the target's failure, in Go's words.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await viaCallback({ type: 'tcp', host: '127.0.0.1', port: closedPort });
    expect([refused.result, refused.message]).toEqual([
      'failure',
      `dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
    ]);
  });

  it('an aborted signal answers at once (synchronously) with unknown / ProbeAborted', () => {
    const ac = new AbortController();
    ac.abort();
    const targets: ProbeTarget[] = [
      { type: 'tcp', host: '127.0.0.1', port: 9 },
      { type: 'http', scheme: 'http', host: '127.0.0.1', port: 9, path: '/', headers: [] },
    ];
    for (const target of targets) {
      const seen: ProbeOutcome[] = [];
      expect(runProbeThen(target, { timeoutMs: 1000 }, ac.signal, (o) => seen.push(o))).toBeUndefined();
      expect(seen.map((o) => [target.type, o.result, o.reason])).toEqual([
        [target.type, 'unknown', 'ProbeAborted'],
      ]);
    }
  });

  it('other handlers return their promise and never call done', async () => {
    let called = false;
    const p = runProbeThen(
      { type: 'guestAgentPing', socketPath: '/nonexistent/vmprobe-test.sock', domainName: 'ns_vm' },
      { timeoutMs: 1000 },
      undefined,
      () => {
        called = true;
      },
    );
    expect(p).toBeInstanceOf(Promise);
    const outcome = await p;
    expect(outcome).toBeDefined();
    expect(outcome?.result).not.toBe('success');
    expect(called).toBe(false);
  });
});
