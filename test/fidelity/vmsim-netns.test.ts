import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, tcpConnect } from '../src/vmsim/clients.js';
import {
  blackholeUnavailable,
  isRoot,
  logSkip,
  netnsUnavailable,
  startVmSimulator,
  type VmSimulator,
} from '../src/vmsim/index.js';
import { instanceLeftovers } from '../src/vmsim/netns.js';
import { runSync } from '../src/vmsim/run.js';

const require = createRequire(import.meta.url);
const netPing = require('net-ping') as {
  createSession(o: { timeout: number; retries: number }): {
    pingHost(t: string, cb: (err: Error | null) => void): void;
    close(): void;
  };
  RequestTimedOutError: new () => { readonly timedOutMarker: true };
};

function ping(ip: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = netPing.createSession({ timeout: timeoutMs, retries: 0 });
    s.pingHost(ip, (err) => {
      s.close();
      resolve(err === null ? 'reply' : err instanceof netPing.RequestTimedOutError ? 'timeout' : err.message);
    });
  });
}

const unavailable = netnsUnavailable ?? blackholeUnavailable;
logSkip('vmsim netns (root) tests', unavailable);

describe.skipIf(isRoot)('VM simulator, netns mode without root', () => {
  it('rejects with ERR_NEEDS_ROOT', async () => {
    await expect(startVmSimulator({ mode: 'netns' })).rejects.toMatchObject({ code: 'ERR_NEEDS_ROOT' });
  });
});

describe.skipIf(unavailable !== undefined)('VM simulator, netns mode (root)', () => {
  let sim: VmSimulator;
  beforeAll(async () => {
    sim = await startVmSimulator({ mode: 'netns' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('serves HTTP from the VM namespace on its 198.18.x address (and IPv6), ICMP answers', async () => {
    const vm = await sim.createVm('web', { tcpPorts: [22], httpsPorts: [8443] });
    expect(sim.mode).toBe('netns');
    expect(vm.ip).toMatch(/^198\.(18|19)\.\d+\.\d+$/);
    const out = await httpGet(vm.ip, 1500, { headers: { 'User-Agent': 'vmprobe/ns' } });
    expect(out.kind === 'response' && out.result.body).toBe('Hello World!');
    await vm.flushRequests();
    expect(vm.requestCount()).toBe(1);
    expect(vm.requests[0]?.headers['user-agent']).toBe('vmprobe/ns');
    expect(vm.requests[0]?.headers.host).toBe(`${vm.ip}:1500`);
    expect(await tcpConnect(vm.ip, 22)).toBe('connected');
    expect(await tcpConnect(vm.ip, 23)).toBe('refused');
    const tls = await httpGet(vm.ip, 8443, { tls: true });
    expect(tls.kind === 'response' && tls.result.status).toBe(200);
    expect(await ping(vm.ip)).toBe('reply');
    if (vm.ip6) {
      const v6 = await httpGet(vm.ip6, 1500);
      expect(v6.kind === 'response' && v6.result.status).toBe(200);
    }
    // The server is not in the root namespace: the same port on the bridge address is closed.
    expect(
      await tcpConnect(
        vm.ip.replace(/\.\d+\.\d+$/, (m) => m),
        1500,
      ),
    ).toBe('connected');
  });

  it('switches behaviours inside the VM process (status, hang, refuse)', async () => {
    const vm = await sim.createVm('beh', { behaviour: { kind: 'status', code: 500 } });
    const s = await httpGet(vm.ip, 1500);
    expect(s.kind === 'response' && s.result.status).toBe(500);
    await vm.setBehaviour({ kind: 'hang' });
    expect((await httpGet(vm.ip, 1500, { timeoutMs: 500 })).kind).toBe('timeout');
    await vm.setBehaviour({ kind: 'refuse' });
    expect(await tcpConnect(vm.ip, 1500)).toBe('refused');
    await vm.setBehaviour({ kind: 'healthy' });
    const ok = await httpGet(vm.ip, 1500);
    expect(ok.kind === 'response' && ok.result.status).toBe(200);
  });

  for (const via of ['firewall', 'link-down'] as const) {
    it(`blackhole via ${via}: connect times out (not refused), ping unanswered; healthy restores`, async () => {
      const vm = await sim.createVm(`bh-${via}`);
      const neighbour = await sim.createVm(`bh-${via}-n`);
      await vm.setBehaviour({ kind: 'blackhole', via });
      expect(vm.behaviour).toEqual({ kind: 'blackhole', via });
      expect(await tcpConnect(vm.ip, 1500, 1000)).toBe('timeout');
      expect(await ping(vm.ip, 1000)).toBe('timeout');
      expect(await tcpConnect(neighbour.ip, 1500, 1000)).toBe('connected');
      await vm.setBehaviour({ kind: 'healthy' });
      const ok = await httpGet(vm.ip, 1500, { timeoutMs: 5000 });
      expect(ok.kind === 'response' ? ok.result.status : ok).toBe(200);
      expect(await ping(vm.ip)).toBe('reply');
    });
  }

  it('destroyVm removes the namespace and its veth, and frees the address', async () => {
    const before = instanceLeftovers(sim.instanceId).length;
    const vm = await sim.createVm('gone');
    expect(instanceLeftovers(sim.instanceId).length).toBe(before + 2); // namespace + host veth
    await sim.destroyVm('gone');
    await sim.destroyVm('gone');
    expect(sim.vm('gone')).toBeUndefined();
    expect(instanceLeftovers(sim.instanceId).length).toBe(before);
    expect(await tcpConnect(vm.ip, 1500, 1000)).not.toBe('connected');
    const next = await sim.createVm('next');
    expect(next.ip).not.toBe(vm.ip);
  });

  it('stop() removes every namespace, veth and the bridge of this instance', async () => {
    const other = await startVmSimulator({ mode: 'netns' });
    const vm = await other.createVm('a', { behaviour: { kind: 'blackhole', via: 'link-down' } });
    await other.createVm('b', { behaviour: { kind: 'hang' } });
    expect(instanceLeftovers(other.instanceId).length).toBeGreaterThanOrEqual(5); // 2 ns, 2 veths, bridge
    expect(vm.ip.split('.').slice(0, 3)).not.toEqual((sim.vm('web')?.ip ?? '').split('.').slice(0, 3));
    await other.stop();
    await other.stop();
    expect(instanceLeftovers(other.instanceId)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('VM simulator, netns cleanup after a crash (root)', () => {
  it('a SIGTERM-ed owner removes its namespaces, veths and bridge on the way out', async () => {
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    const index = pathToFileURL(path.resolve(import.meta.dirname, '../src/vmsim/index.ts')).href;
    const code = `import { startVmSimulator } from '${index}';
const sim = await startVmSimulator({ mode: 'netns' });
await sim.createVm('a');
console.log(sim.instanceId);
setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const inst = line.toString().trim();
    expect(inst).toMatch(/^[0-9a-f]{5}$/);
    expect(instanceLeftovers(inst).length).toBe(3); // namespace, veth, bridge
    child.kill('SIGTERM');
    const [, signal] = await exited;
    expect(signal).toBe('SIGTERM'); // the handler cleaned up, then re-raised the signal
    expect(instanceLeftovers(inst)).toEqual([]);
  });

  it('a later start sweeps objects whose owner is gone (SIGKILL leaves them behind)', async () => {
    const fake = 'dead0';
    runSync('ip', ['netns', 'add', `vmp-${fake}-0`]);
    runSync('ip', ['link', 'add', 'name', `vmpbr${fake}`, 'type', 'bridge']);
    runSync('ip', [
      'link',
      'add',
      `vmph${fake}0`,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      `vmp-${fake}-0`,
    ]);
    expect(instanceLeftovers(fake).length).toBe(3);
    const sim = await startVmSimulator({ mode: 'netns' });
    try {
      expect(instanceLeftovers(fake)).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});
