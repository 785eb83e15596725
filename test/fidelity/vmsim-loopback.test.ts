import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPool } from '../src/vmsim/address-pool.js';
import { httpGet, tcpConnect } from '../src/vmsim/clients.js';
import {
  blackholeUnavailable,
  isRoot,
  logSkip,
  REQUEST_LOG_SIZE,
  startVmSimulator,
  type VmSimulator,
} from '../src/vmsim/index.js';

// net-ping (the agent's ICMP library) as an independent ICMP client; vitest runs files in forks.
const require = createRequire(import.meta.url);
const netPing = require('net-ping') as {
  createSession(o: { timeout: number; retries: number }): {
    pingHost(t: string, cb: (err: Error | null) => void): void;
    close(): void;
  };
  RequestTimedOutError: new () => { readonly timedOutMarker: true };
};

function ping(ip: string, timeoutMs = 1000): Promise<'reply' | 'timeout' | string> {
  return new Promise((resolve) => {
    const s = netPing.createSession({ timeout: timeoutMs, retries: 0 });
    s.pingHost(ip, (err) => {
      s.close();
      resolve(err === null ? 'reply' : err instanceof netPing.RequestTimedOutError ? 'timeout' : err.message);
    });
  });
}

/** Poll `fn` until it returns true or the deadline passes. */
async function until(fn: () => Promise<boolean> | boolean, deadlineMs = 5000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('VM simulator, loopback mode', () => {
  let sim: VmSimulator;
  beforeAll(async () => {
    sim = await startVmSimulator();
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('gives each VM its own 127.x address (never 127.0.0.1) serving "Hello World!" on 1500', async () => {
    const a = await sim.createVm('healthy-a');
    const b = await sim.createVm('healthy-b');
    expect(sim.mode).toBe('loopback');
    expect(a.ip).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(a.ip).not.toBe('127.0.0.1');
    expect(b.ip).not.toBe(a.ip);
    expect(a.ip6).toBeUndefined();
    expect(sim.vm('healthy-a')).toBe(a);
    const out = await httpGet(a.ip, 1500);
    expect(out.kind).toBe('response');
    if (out.kind !== 'response') return;
    expect(out.result.status).toBe(200);
    expect(out.result.body).toBe('Hello World!');
    // b's port 1500 is a different socket: nothing shared between VMs
    expect(await tcpConnect(b.ip, 1500)).toBe('connected');
    expect(await tcpConnect('127.0.0.1', 1500)).not.toBe('connected');
  });

  it('records each request with its headers (User-Agent, Accept, custom, Host)', async () => {
    const vm = await sim.createVm('recorder');
    const out = await httpGet(vm.ip, 1500, {
      path: '/healthz?x=1',
      headers: { 'User-Agent': 'vmprobe/test', Accept: 'text/plain', 'X-Custom': 'yes' },
    });
    expect(out.kind).toBe('response');
    await vm.flushRequests();
    expect(vm.requestCount()).toBe(1);
    const rec = vm.requests[0];
    expect(rec?.method).toBe('GET');
    expect(rec?.path).toBe('/healthz?x=1');
    expect(rec?.port).toBe(1500);
    expect(rec?.headers['user-agent']).toBe('vmprobe/test');
    expect(rec?.headers.accept).toBe('text/plain');
    expect(rec?.headers['x-custom']).toBe('yes');
    expect(rec?.headers.host).toBe(`${vm.ip}:1500`);
  });

  it('keeps a bounded request log while counting every request', async () => {
    const vm = await sim.createVm('ring');
    const total = REQUEST_LOG_SIZE + 5;
    for (let i = 0; i < total; i++) await httpGet(vm.ip, 1500, { path: `/${i}` });
    expect(vm.requestCount()).toBe(total);
    expect(vm.requests.length).toBe(REQUEST_LOG_SIZE);
    expect(vm.requests[0]?.path).toBe('/5');
    expect(vm.requests.at(-1)?.path).toBe(`/${total - 1}`);
  });

  it('serves several HTTP ports, extra TCP listeners and HTTPS', async () => {
    const vm = await sim.createVm('multi', {
      httpPorts: [1500, 8080],
      tcpPorts: [22, 5432],
      httpsPorts: [8443],
    });
    for (const port of [1500, 8080]) {
      const out = await httpGet(vm.ip, port);
      expect(out.kind === 'response' && out.result.body).toBe('Hello World!');
    }
    expect(await tcpConnect(vm.ip, 22)).toBe('connected');
    expect(await tcpConnect(vm.ip, 5432)).toBe('connected');
    expect(await tcpConnect(vm.ip, 9999)).toBe('refused');
    const tls = await httpGet(vm.ip, 8443, { tls: true });
    expect(tls.kind === 'response' && tls.result.status).toBe(200);
    const plainOnTls = await httpGet(vm.ip, 8443, { timeoutMs: 2000 });
    expect(plainOnTls.kind === 'response' && plainOnTls.result.status === 200).toBe(false);
  });

  it('status: answers with the given code; a 3xx carries a Location to itself', async () => {
    const vm = await sim.createVm('status', { behaviour: { kind: 'status', code: 503 } });
    const out = await httpGet(vm.ip, 1500);
    expect(out.kind === 'response' && out.result.status).toBe(503);
    await vm.setBehaviour({ kind: 'status', code: 302 });
    expect(vm.behaviour).toEqual({ kind: 'status', code: 302 });
    const redirect = await httpGet(vm.ip, 1500, { path: '/ready' });
    expect(redirect.kind === 'response' && redirect.result.status).toBe(302);
    expect(redirect.kind === 'response' && redirect.result.headers.location).toBe('/ready');
    await vm.setBehaviour({ kind: 'healthy' });
    const ok = await httpGet(vm.ip, 1500);
    expect(ok.kind === 'response' && ok.result.status).toBe(200);
  });

  it('slow: delays the headers by at least delayMs while TCP accept stays immediate', async () => {
    const delayMs = 300;
    const vm = await sim.createVm('slow', { behaviour: { kind: 'slow', delayMs }, tcpPorts: [7000] });
    const out = await httpGet(vm.ip, 1500, { timeoutMs: 5000 });
    expect(out.kind).toBe('response');
    if (out.kind !== 'response') return;
    expect(out.result.status).toBe(200);
    expect(out.result.headersAt - out.result.sentAt).toBeGreaterThanOrEqual(delayMs - 1);
    // Same port, a connect alone is accepted by the kernel without waiting for the delay.
    expect(await tcpConnect(vm.ip, 1500, delayMs / 2)).toBe('connected');
    // A client that gives up before delayMs sees no answer at all.
    expect((await httpGet(vm.ip, 1500, { timeoutMs: delayMs / 3 })).kind).toBe('timeout');
  });

  it('hang: accepts, never answers; changing behaviour destroys the hung connection', async () => {
    const vm = await sim.createVm('hang', { behaviour: { kind: 'hang' } });
    expect(await tcpConnect(vm.ip, 1500)).toBe('connected');
    expect((await httpGet(vm.ip, 1500, { timeoutMs: 500 })).kind).toBe('timeout');
    const pending = httpGet(vm.ip, 1500, { timeoutMs: 10_000 });
    expect(await until(() => vm.requestCount() === 2)).toBe(true);
    await vm.setBehaviour({ kind: 'healthy' });
    const released = await pending;
    expect(released.kind).toBe('error'); // reset by the VM, long before the client's own 10 s
    const ok = await httpGet(vm.ip, 1500);
    expect(ok.kind === 'response' && ok.result.status).toBe(200);
  });

  it('refuse: nothing listens (ECONNREFUSED) until the behaviour changes back', async () => {
    const vm = await sim.createVm('refuse', { tcpPorts: [7001] });
    await vm.setBehaviour({ kind: 'refuse' });
    expect(await tcpConnect(vm.ip, 1500)).toBe('refused');
    expect(await tcpConnect(vm.ip, 7001)).toBe('refused');
    const out = await httpGet(vm.ip, 1500);
    expect(out).toEqual({ kind: 'error', code: 'ECONNREFUSED' });
    await vm.setBehaviour({ kind: 'healthy' });
    expect(await tcpConnect(vm.ip, 7001)).toBe('connected');
    const ok = await httpGet(vm.ip, 1500);
    expect(ok.kind === 'response' && ok.result.body).toBe('Hello World!');
  });

  it('flap: alternates between 200 and 500 every periodMs', async () => {
    const vm = await sim.createVm('flap', { behaviour: { kind: 'flap', periodMs: 100 } });
    const seen: number[] = [];
    const sawCycle = await until(async () => {
      const out = await httpGet(vm.ip, 1500);
      const code = out.kind === 'response' ? out.result.status : -1;
      if (seen.at(-1) !== code) seen.push(code);
      return seen.length >= 3;
    });
    expect(sawCycle).toBe(true);
    expect(seen.slice(0, 3)).toEqual(seen[0] === 200 ? [200, 500, 200] : [500, 200, 500]);
    await vm.setBehaviour({ kind: 'healthy' });
  });

  it('the kernel answers ICMP echo on the VM address', async () => {
    const vm = await sim.createVm('icmp');
    expect(await ping(vm.ip)).toBe('reply');
  });

  it('rejects bad input with typed errors and keeps working', async () => {
    await sim.createVm('dup');
    await expect(sim.createVm('dup')).rejects.toMatchObject({ code: 'ERR_VM_EXISTS' });
    await expect(sim.createVm('bad-port', { httpPorts: [70000] })).rejects.toMatchObject({
      code: 'ERR_BAD_OPTIONS',
    });
    await expect(sim.createVm('twice', { httpPorts: [80], tcpPorts: [80] })).rejects.toMatchObject({
      code: 'ERR_BAD_OPTIONS',
    });
    await expect(sim.createVm('bad-b', { behaviour: { kind: 'status', code: 42 } })).rejects.toMatchObject({
      code: 'ERR_BAD_OPTIONS',
    });
    const vm = sim.vm('dup')!;
    await expect(vm.setBehaviour({ kind: 'slow', delayMs: -1 })).rejects.toMatchObject({
      code: 'ERR_BAD_OPTIONS',
    });
    await expect(vm.setBehaviour({ kind: 'blackhole', via: 'link-down' })).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED_IN_MODE',
    });
    expect(vm.behaviour).toEqual({ kind: 'healthy' });
    const ok = await httpGet(vm.ip, 1500);
    expect(ok.kind === 'response' && ok.result.status).toBe(200);
  });

  it.skipIf(isRoot)('blackhole without root rejects with ERR_NEEDS_ROOT', async () => {
    const vm = await sim.createVm('bh-noroot');
    await expect(vm.setBehaviour({ kind: 'blackhole' })).rejects.toMatchObject({ code: 'ERR_NEEDS_ROOT' });
  });

  logSkip('vmsim loopback blackhole (root) test', blackholeUnavailable);
  it.skipIf(blackholeUnavailable !== undefined)(
    'blackhole (root): connects time out, pings go unanswered, healthy restores',
    async () => {
      const vm = await sim.createVm('bh', { tcpPorts: [7002] });
      const other = await sim.createVm('bh-neighbour');
      await vm.setBehaviour({ kind: 'blackhole' });
      expect(await tcpConnect(vm.ip, 1500, 1000)).toBe('timeout');
      expect(await tcpConnect(vm.ip, 7002, 1000)).toBe('timeout');
      expect(await ping(vm.ip, 1000)).toBe('timeout');
      // only this VM's address is dropped
      expect(await tcpConnect(other.ip, 1500, 1000)).toBe('connected');
      await vm.setBehaviour({ kind: 'healthy' });
      const ok = await httpGet(vm.ip, 1500);
      expect(ok.kind === 'response' && ok.result.status).toBe(200);
      expect(await ping(vm.ip)).toBe('reply');
      // blackhole then destroy: the rule goes with the VM
      await vm.setBehaviour({ kind: 'blackhole', via: 'firewall' });
      await sim.destroyVm('bh');
      expect(await tcpConnect(vm.ip, 1500, 1000)).toBe('refused');
    },
  );

  it('destroyVm closes the sockets, frees the address (reused last) and is idempotent', async () => {
    const vm = await sim.createVm('doomed', { behaviour: { kind: 'hang' } });
    const pending = httpGet(vm.ip, 1500, { timeoutMs: 10_000 });
    expect(await until(() => vm.requestCount() === 1)).toBe(true);
    await sim.destroyVm('doomed');
    expect((await pending).kind).toBe('error');
    expect(await tcpConnect(vm.ip, 1500)).toBe('refused');
    expect(sim.vm('doomed')).toBeUndefined();
    await sim.destroyVm('doomed');
    await expect(vm.setBehaviour({ kind: 'healthy' })).rejects.toMatchObject({ code: 'ERR_VM_DESTROYED' });
    const again = await sim.createVm('doomed');
    expect(again.ip).not.toBe(vm.ip);
  });
});

describe('AddressPool', () => {
  it('hands out fresh addresses first and reuses freed ones last, in order', () => {
    const pool = new AddressPool(3, (i) => `a${i}`);
    const a = pool.take();
    const b = pool.take();
    pool.release(a.index);
    pool.release(a.index); // idempotent
    expect(pool.take().address).toBe('a2');
    pool.release(b.index);
    expect(pool.take().address).toBe('a0');
    expect(pool.take().address).toBe('a1');
    expect(() => pool.take()).toThrow(expect.objectContaining({ code: 'ERR_ADDRESSES_EXHAUSTED' }));
  });
});
