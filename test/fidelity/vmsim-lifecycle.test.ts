import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet, tcpConnect } from '../src/vmsim/clients.js';
import { startVmSimulator } from '../src/vmsim/index.js';

/** Poll `fn` until it returns true or the deadline passes. */
async function until(fn: () => boolean, deadlineMs = 5000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return fn();
}

describe('VM simulator lifecycle', () => {
  it('two simulators get disjoint address ranges; stop() leaves no handle behind and is idempotent', async () => {
    // Count of each kind of libuv resource; ours must all be gone after stop() (vitest's own come and go).
    const counts = () => {
      const m: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) m[r] = (m[r] ?? 0) + 1;
      return m;
    };
    const before = counts();
    const noneAdded = () => Object.entries(counts()).every(([k, n]) => n <= (before[k] ?? 0));
    const s1 = await startVmSimulator({ mode: 'loopback' });
    const s2 = await startVmSimulator();
    const a = await s1.createVm('x', {
      tcpPorts: [7100],
      httpsPorts: [8443],
      behaviour: { kind: 'flap', periodMs: 50 },
    });
    const b = await s2.createVm('x', { behaviour: { kind: 'slow', delayMs: 5000 } });
    expect(a.ip.split('.')[1]).not.toBe(b.ip.split('.')[1]);
    const held = httpGet(b.ip, 1500, { timeoutMs: 10_000 });
    expect(await until(() => b.requestCount() === 1)).toBe(true);
    await s1.stop();
    await s2.stop();
    await s2.stop();
    expect((await held).kind).toBe('error');
    expect(await tcpConnect(a.ip, 1500)).toBe('refused');
    await expect(s1.createVm('y')).rejects.toMatchObject({ code: 'ERR_SIMULATOR_STOPPED' });
    const during = counts();
    expect(during.TCPServerWrap ?? 0).toBeLessThanOrEqual(before.TCPServerWrap ?? 0);
    // Handles close asynchronously after destroy(): wait (bounded) for the set to settle.
    expect(await until(noneAdded)).toBe(true);
  });
});

describe('VM simulator slots across processes', () => {
  const saved = {
    VMSIM_STATE_DIR: process.env.VMSIM_STATE_DIR,
    VMSIM_LOOPBACK_FIRST_OCTET: process.env.VMSIM_LOOPBACK_FIRST_OCTET,
  };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('takes over a slot whose owner process is gone, skips a live one, and releases on stop', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsim-state-'));
    process.env.VMSIM_STATE_DIR = dir;
    // A private slot registry must not hand out addresses that simulators in other test files use.
    process.env.VMSIM_LOOPBACK_FIRST_OCTET = '200';
    const rec = (slot: number, pid: number) =>
      JSON.stringify({ mode: 'loopback', inst: `0000${slot}`, slot, pid, startTime: '' });
    writeFileSync(path.join(dir, 'lo-0.json'), rec(0, 999_999_999)); // no such process
    writeFileSync(path.join(dir, 'lo-1.json'), rec(1, process.pid)); // alive: this process
    const s1 = await startVmSimulator();
    const s2 = await startVmSimulator();
    const a = await s1.createVm('a');
    const b = await s2.createVm('b');
    expect(a.ip.startsWith('127.200.')).toBe(true);
    expect(b.ip.startsWith('127.202.')).toBe(true);
    expect((await httpGet(b.ip, 1500)).kind).toBe('response');
    await s1.stop();
    await s2.stop();
    expect(readdirSync(dir).sort()).toEqual(['lo-1.json']);
  });
});
