import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { probeHttp, USER_AGENT } from '@vmprobe/agent/probers/index';
import { afterEach, describe, expect, it } from 'vitest';
import { type Handler, startHttpServer, startHttpsServer, type TestServer } from './helpers/servers.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function serve(handler: Handler, host = '127.0.0.1'): Promise<number> {
  const s = await startHttpServer(handler, host);
  servers.push(s);
  return s.port;
}
const get = (
  port: number,
  path = '/',
  opts: {
    timeoutMs?: number;
    headers?: { name: string; value: string }[];
    host?: string;
    scheme?: 'http' | 'https';
  } = {},
) =>
  probeHttp(
    {
      type: 'http',
      scheme: opts.scheme ?? 'http',
      host: opts.host ?? '127.0.0.1',
      port,
      path,
      headers: opts.headers ?? [],
    },
    { timeoutMs: opts.timeoutMs ?? 2000 },
  );

describe('http prober: status codes', () => {
  it('200 is success, 404 and 500 are failures in the kubelet words', async () => {
    const port = await serve((req, res) => {
      res.statusCode = Number(req.url?.slice(1)) || 200;
      res.end('body');
    });
    const ok = await get(port, '/200');
    expect(ok).toMatchObject({
      result: 'success',
      reason: 'ProbeSucceeded',
      message: 'HTTP probe succeeded with statuscode: 200',
    });
    expect(ok.timings.durationMs).toBeGreaterThanOrEqual(0);
    expect(await get(port, '/404')).toMatchObject({
      result: 'failure',
      reason: 'ProbeFailed',
      message: 'HTTP probe failed with statuscode: 404',
    });
    expect(await get(port, '/500')).toMatchObject({
      result: 'failure',
      message: 'HTTP probe failed with statuscode: 500',
    });
    expect((await get(port, '/399')).result).toBe('warning');
    expect((await get(port, '/400')).result).toBe('failure');
  });

  it('a final 3xx without Location is a warning with the body', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(300);
      res.end('pick one');
    });
    expect(await get(port)).toMatchObject({
      result: 'warning',
      reason: 'ProbeWarning',
      message: 'Probe terminated redirects, Response body: pick one',
    });
  });

  it('an SSH banner on an open connection fails at once as a malformed response, not a timeout', async () => {
    const sockets: import('node:net').Socket[] = [];
    const ssh = createServer((sock) => {
      sockets.push(sock);
      sock.write('SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n'); // and then waits, as sshd does
    });
    await new Promise<void>((r) => ssh.listen(0, '127.0.0.1', r));
    try {
      const port = (ssh.address() as AddressInfo).port;
      const out = await get(port, '/', { timeoutMs: 60_000 });
      expect(out).toMatchObject({ result: 'failure', reason: 'ProbeFailed' });
      expect(out.message).toContain('malformed HTTP response "SSH-2.0-OpenSSH_9.6p1 Debian-3"');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => ssh.close(() => r()));
    }
  });

  it('connection refused is a failure with the dial error', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const out = await get(port);
    expect(out).toMatchObject({ result: 'failure', reason: 'ProbeFailed' });
    expect(out.message).toBe(
      `Get "http://127.0.0.1:${port}/": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
  });
});

describe('http prober: redirects', () => {
  it('follows a same-host redirect, also to another port, and succeeds', async () => {
    const seen: string[] = [];
    const other = await serve((req, res) => {
      seen.push(`other${req.url}`);
      res.end('ok');
    });
    const port = await serve((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/start') res.writeHead(302, { Location: '/next' }).end();
      else if (req.url === '/next') res.writeHead(301, { Location: `http://127.0.0.1:${other}/final` }).end();
      else res.end('?');
    });
    expect(await get(port, '/start')).toMatchObject({ result: 'success' });
    expect(seen).toEqual(['/start', '/next', 'other/final']);
  });

  it('never follows a redirect off the probed host: the 3xx is a warning', async () => {
    let offHostHits = 0;
    const off = await serve(() => {
      offHostHits++;
    }, '127.0.0.2');
    const port = await serve((_req, res) => {
      res.writeHead(302, { Location: `http://127.0.0.2:${off}/` });
      res.end('moved');
    });
    expect(await get(port)).toMatchObject({
      result: 'warning',
      message: 'Probe terminated redirects, Response body: moved',
    });
    // A name for the same address is another host too.
    const named = await serve((_req, res) =>
      res.writeHead(302, { Location: `http://localhost:${port}/` }).end(),
    );
    expect((await get(named)).result).toBe('warning');
    expect(offHostHits).toBe(0);
  });

  it('a redirect loop fails after 10 requests', async () => {
    let hits = 0;
    const port = await serve((_req, res) => {
      hits++;
      res.writeHead(302, { Location: `/loop${hits}` }).end();
    });
    const out = await get(port);
    expect(out.result).toBe('failure');
    expect(out.message).toBe(`Get "http://127.0.0.1:${port}/loop10": stopped after 10 redirects`);
    expect(hits).toBe(10);
  });
});

describe('http prober: request', () => {
  it('sends User-Agent, Accept, user headers, Connection: close; a Host header overrides Host', async () => {
    const got: Record<string, unknown>[] = [];
    const port = await serve((req, res) => {
      got.push({ ...req.headers, raw: req.rawHeaders });
      res.end();
    });
    await get(port);
    expect(got[0]).toMatchObject({
      'user-agent': USER_AGENT,
      accept: '*/*',
      host: `127.0.0.1:${port}`,
      connection: 'close',
    });
    expect(USER_AGENT).toMatch(/^vmprobe\/\d+\.\d+\.\d+/);
    await get(port, '/', {
      headers: [
        { name: 'X-Custom', value: 'a' },
        { name: 'x-custom', value: 'b' },
        { name: 'Host', value: 'vm.example' },
        { name: 'User-Agent', value: 'mine' },
        { name: 'accept', value: 'text/plain' },
      ],
    });
    expect(got[1]).toMatchObject({
      'x-custom': 'a, b',
      host: 'vm.example',
      'user-agent': 'mine',
      accept: 'text/plain',
    });
  });

  it('does not use a proxy from the environment', async () => {
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = 'http://127.0.0.1:1';
    try {
      const port = await serve((_req, res) => res.end());
      expect((await get(port)).result).toBe('success');
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    }
  });
});

describe('http prober: one timeout and a bounded body', () => {
  it('headers that take 3 s with a 1 s timeout: failure ProbeTimeout at the timeout', async () => {
    const port = await serve((_req, res) => {
      setTimeout(() => res.end(), 3000).unref();
    });
    const t0 = performance.now();
    const out = await get(port, '/', { timeoutMs: 1000 });
    const elapsed = performance.now() - t0;
    expect(out).toMatchObject({ result: 'failure', reason: 'ProbeTimeout' });
    expect(out.message).toBe(
      `Get "http://127.0.0.1:${port}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    );
    // The timeout contract (not a speed test): the attempt ends at its deadline, not at 3 s.
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(2500);
  });

  it('the same timeout covers a body that never ends', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200);
      res.write('x');
    });
    const out = await get(port, '/', { timeoutMs: 500 });
    expect(out).toMatchObject({ result: 'failure', reason: 'ProbeTimeout' });
    expect(out.message).toMatch(/while reading body\)$/);
  });

  it('a 50 MiB body is not downloaded: the socket is closed after 10 KiB', async () => {
    const total = 50 * 1024 * 1024;
    let sent = 0;
    let closedEarly: Promise<boolean> = Promise.resolve(false);
    const port = await serve((_req, res) => {
      closedEarly = new Promise((resolve) => res.on('close', () => resolve(sent < total)));
      res.writeHead(200, { 'Content-Length': total });
      const chunk = Buffer.alloc(64 * 1024, 97);
      const pump = (): void => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const out = await get(port, '/', { timeoutMs: 5000 });
    expect(out.result).toBe('success');
    expect(await closedEarly).toBe(true);
    // What the kernel buffers on loopback is bounded by the socket buffers, far below 50 MiB.
    expect(sent).toBeLessThan(total / 4);
  });
});

describe('http prober: https and cancellation', () => {
  it('https with a self-signed certificate succeeds (no verification)', async () => {
    const s = await startHttpsServer((_req, res) => res.end('secure'));
    servers.push(s);
    expect(await get(s.port, '/', { scheme: 'https' })).toMatchObject({ result: 'success' });
  });

  it('a caller abort resolves unknown ProbeAborted and removes its listener', async () => {
    const port = await serve(() => {});
    const ac = new AbortController();
    const p = probeHttp(
      { type: 'http', scheme: 'http', host: '127.0.0.1', port, path: '/', headers: [] },
      { timeoutMs: 5000 },
      ac.signal,
    );
    setTimeout(() => ac.abort(), 50);
    expect(await p).toMatchObject({ result: 'unknown', reason: 'ProbeAborted' });
  });

  it('probes an IPv6 literal target', async (ctx) => {
    let s: TestServer;
    try {
      s = await startHttpServer((_req, res) => res.end(), '::1');
    } catch (err) {
      console.log(
        `SKIP probes an IPv6 literal target: ::1 is not available here (${(err as Error).message})`,
      );
      ctx.skip();
      return;
    }
    servers.push(s);
    const out = await get(s.port, '/', { host: '::1' });
    expect(out.result).toBe('success');
  });
});
