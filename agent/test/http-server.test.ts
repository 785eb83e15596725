import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AgentHttpServer,
  type AgentHttpServerOptions,
  EventLoopWatch,
  parseListenAddress,
  WatchHealth,
} from '../src/http/index.js';
import type { ProbeSnapshot } from '../src/snapshot.js';
import { FakeClock } from './helpers/fake-clock.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(url: string, method = 'GET', agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const snapshot: ProbeSnapshot = {
  namespace: 'default',
  vmi: 'web-1',
  uid: 'u-1',
  probe: 'readiness',
  handler: 'http',
  target: '10.0.0.5:80',
  state: 'success',
  reason: 'ProbeSucceeded',
  message: '',
  consecutiveSuccesses: 4,
  consecutiveFailures: 0,
  periodSeconds: 10,
  lastProbeTime: '2025-01-01T00:00:00.000Z',
  lastTransitionTime: '2025-01-01T00:00:00.000Z',
  suspended: false,
};

let servers: AgentHttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function startServer(over: Partial<AgentHttpServerOptions> = {}) {
  const server = new AgentHttpServer({
    listen: '127.0.0.1:0',
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'vmprobe_x 1\n' }),
    probes: () => [snapshot],
    ...over,
  });
  servers.push(server);
  const addr = await server.start();
  return { server, url: addr.url };
}

describe('AgentHttpServer', () => {
  it('serves /metrics with the exposition content type, and HEAD without a body', async () => {
    const { url } = await startServer();
    const r = await call(`${url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toBe('vmprobe_x 1\n');
    const h = await call(`${url}/metrics?x=1`, 'HEAD');
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe('12');
    expect(h.body).toBe('');
  });

  it('serves /debug/probes as a JSON array of snapshots', async () => {
    const { url } = await startServer();
    const r = await call(`${url}/debug/probes`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual([snapshot]);
  });

  it('answers /healthz from the event loop and the given checks, 503 with the reason when one fails', async () => {
    let watches = { ok: true };
    const { url } = await startServer({
      liveChecks: { watches: () => watches as { ok: boolean; message?: string } },
    });
    let r = await call(`${url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('[+]eventloop ok\n[+]watches ok\nhealthz check passed\n');
    watches = { ok: false, message: 'vmi watch down for 40 s' } as typeof watches;
    r = await call(`${url}/healthz`);
    expect(r.status).toBe(503);
    expect(r.body).toContain('[-]watches failed: vmi watch down for 40 s\n');
    expect(r.body).toContain('healthz check failed');
  });

  it('answers /readyz from the readiness checks; a throwing check fails, the server lives on', async () => {
    let synced = false;
    const { url } = await startServer({
      readyChecks: {
        'initial-sync': () => ({ ok: synced, message: 'VMI and pod lists not synced yet' }),
        broken: () => {
          if (!synced) throw new Error('boom');
          return { ok: true };
        },
      },
    });
    let r = await call(`${url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.body).toContain('[-]initial-sync failed: VMI and pod lists not synced yet');
    expect(r.body).toContain('[-]broken failed: boom');
    synced = true;
    r = await call(`${url}/readyz`);
    expect(r.status).toBe(200);
  });

  it('turns a failing metrics or snapshot callback into a 500 and keeps serving', async () => {
    const { url } = await startServer({
      metrics: () => Promise.reject(new Error('collector broke')),
      probes: () => {
        throw new Error('manager broke');
      },
    });
    expect((await call(`${url}/metrics`)).status).toBe(500);
    expect((await call(`${url}/debug/probes`)).status).toBe(500);
    expect((await call(`${url}/healthz`)).status).toBe(200);
  });

  it('answers 404 for other paths and 405 with Allow for other methods', async () => {
    const { url } = await startServer();
    expect((await call(`${url}/`)).status).toBe(404);
    expect((await call(`${url}/metricsx`)).status).toBe(404);
    const r = await call(`${url}/metrics`, 'POST');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
  });

  it('reports a stalled event loop on /healthz', async () => {
    const { url } = await startServer({ eventLoop: { maxLagMs: 50, intervalMs: 10, windowMs: 60_000 } });
    expect((await call(`${url}/healthz`)).status).toBe(200);
    // Block the loop well past maxLagMs, then wait for the watch's next tick to notice.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* busy */
    }
    const deadline = Date.now() + 5_000;
    let r = await call(`${url}/healthz`);
    while (r.status !== 503 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      r = await call(`${url}/healthz`);
    }
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/\[-\]eventloop failed: event loop stalled for \d+ ms/);
  });

  it('stop() closes idle keep-alive sockets, is idempotent, and frees the port', async () => {
    const { server, url } = await startServer();
    const agent = new Agent({ keepAlive: true });
    await call(`${url}/healthz`, 'GET', agent);
    const sockets = Object.values(agent.freeSockets).flat();
    expect(sockets.length).toBe(1);
    const closed = new Promise<void>((resolve) => sockets[0]!.once('close', () => resolve()));
    await Promise.all([server.stop(), server.stop()]);
    await closed;
    await expect(call(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    agent.destroy();
  });

  it('rejects start() on a port in use with the system error code', async () => {
    const { server } = await startServer();
    const second = new AgentHttpServer({
      listen: `127.0.0.1:${server.address()!.port}`,
      metrics: async () => ({ contentType: 'x', body: '' }),
      probes: () => [],
    });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.stop();
  });
});

describe('parseListenAddress', () => {
  it('accepts IPv4, bracketed IPv6 and an empty host', () => {
    expect(parseListenAddress('0.0.0.0:9470')).toEqual({ host: '0.0.0.0', port: 9470 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress(':9470')).toEqual({ host: undefined, port: 9470 });
  });
  it('rejects everything else with a typed error', () => {
    for (const bad of [
      '9470',
      'localhost:9470',
      '::1:9470',
      '1.2.3.4:70000',
      '1.2.3.4:',
      '[1.2.3.4]:80',
      '1.2.3:80',
    ]) {
      expect(() => parseListenAddress(bad), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_LISTEN_ADDRESS' }),
      );
    }
  });
  it('fails a bad address in the constructor, before anything starts', () => {
    expect(
      () =>
        new AgentHttpServer({
          listen: 'nope',
          metrics: async () => ({ contentType: 'x', body: '' }),
          probes: () => [],
        }),
    ).toThrow(/invalid listen address "nope"/);
  });
});

describe('EventLoopWatch', () => {
  it('reports a recorded stall for the window, then recovers', () => {
    let now = 1_000;
    const w = new EventLoopWatch({ maxLagMs: 100, windowMs: 10_000, now: () => now });
    w.recordLag(50);
    expect(w.health().ok).toBe(true);
    w.recordLag(250);
    expect(w.health()).toEqual({ ok: false, message: 'event loop stalled for 250 ms, 0 s ago' });
    now += 10_001;
    expect(w.health().ok).toBe(true);
  });
});

describe('WatchHealth (/healthz watches)', () => {
  const MIN = 60_000;
  const setup = () => {
    const clock = new FakeClock(1_700_000_000_000);
    const health = new WatchHealth({ clock, resources: ['virtualmachineinstances', 'pods'] });
    return { clock, health };
  };

  it('passes while each watcher shows activity within the limit (watch ends, lists, events)', () => {
    const { clock, health } = setup();
    expect(health.stallMs).toBe(20 * MIN);
    // A quiet node: each watch ends at its server timeout (≤ 10 min) and is re-opened.
    for (let i = 0; i < 6; i++) {
      clock.jump(10 * MIN);
      health.request('virtualmachineinstances', 200);
      health.event('pods');
      expect(health.check()).toEqual({ ok: true });
    }
  });

  it('fails, naming the resource, when a watcher is silent far longer than a watch lasts and not backing off', () => {
    const { clock, health } = setup();
    clock.jump(19 * MIN);
    health.request('pods', 200);
    clock.jump(MIN + 1_000); // VMIs silent for 20 min 1 s; pods for 1 min
    expect(health.check()).toEqual({
      ok: false,
      message: 'virtualmachineinstances watch silent for 1201s (limit 1200s)',
    });
    health.restart('virtualmachineinstances', 'closed'); // a routine re-watch is activity
    expect(health.check().ok).toBe(true);
  });

  it('never fails during an API outage: the last thing seen is a failed request or an error restart', () => {
    const { clock, health } = setup();
    health.request('virtualmachineinstances', 0); // network error
    health.request('pods', 503);
    clock.jump(60 * MIN); // a list hanging in an outage: silent, but restarting would not help
    expect(health.check()).toEqual({ ok: true });
    health.request('pods', 200); // the API is back for pods, then pods go silent
    health.restart('virtualmachineinstances', 'error'); // VMIs backing off
    clock.jump(21 * MIN);
    expect(health.check()).toMatchObject({ ok: false, message: expect.stringMatching(/^pods watch silent/) });
  });

  it('serves the check on /healthz: 503 with the reason once wedged', async () => {
    const { clock, health } = setup();
    const { url } = await startServer({ liveChecks: { watches: () => health.check() } });
    expect((await call(`${url}/healthz`)).status).toBe(200);
    clock.jump(21 * MIN);
    const r = await call(`${url}/healthz`);
    expect(r.status).toBe(503);
    expect(r.body).toContain('[-]watches failed: virtualmachineinstances watch silent for 1260s');
  });
});
