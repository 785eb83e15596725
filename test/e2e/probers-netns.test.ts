// Root only: probes against a VM in a network namespace we create (the VM simulator's netns mode:
// veth + bridge, 198.18.0.0/15 addresses), first healthy, then with its packets dropped by the
// firewall, then with its link down. The requirement: every timeout is honoured to within
// ~100 ms — a dropped target fails at its deadline, never later.
import { closeIcmpSessions, type ProbeOutcome, type ProbeTarget, runProbe } from '@vmprobe/agent';
import {
  blackholeUnavailable,
  logSkip,
  netnsUnavailable,
  type SimVm,
  startVmSimulator,
  type VmSimulator,
} from '@vmprobe/test/vmsim/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TIMEOUT_MS = 1000;
const SLACK_MS = 100;

const unavailable = netnsUnavailable ?? blackholeUnavailable;
logSkip('probers-netns', unavailable);

describe.skipIf(unavailable !== undefined)('probers against a network namespace', () => {
  let sim: VmSimulator | undefined;
  let vm: SimVm;
  const targets = (): Record<string, ProbeTarget> => ({
    http: { type: 'http', scheme: 'http', host: vm.ip, port: 1500, path: '/', headers: [] },
    tcp: { type: 'tcp', host: vm.ip, port: 1501 },
    icmp: { type: 'icmp', host: vm.ip },
  });
  const timed = async (t: ProbeTarget): Promise<{ out: ProbeOutcome; elapsed: number }> => {
    const t0 = performance.now();
    const out = await runProbe(t, { timeoutMs: TIMEOUT_MS });
    return { out, elapsed: performance.now() - t0 };
  };

  beforeAll(async () => {
    sim = await startVmSimulator({ mode: 'netns' });
    vm = await sim.createVm('probers', { httpPorts: [1500], tcpPorts: [1501] });
  });
  afterAll(async () => {
    closeIcmpSessions();
    await sim?.stop();
  });

  it('a healthy VM in the namespace answers http, tcp and icmp', async () => {
    for (const [name, t] of Object.entries(targets())) {
      const { out } = await timed(t);
      expect([name, out.result]).toEqual([name, 'success']);
    }
  });

  it('packets dropped by the firewall: each probe times out at its deadline (±100 ms)', async () => {
    await vm.setBehaviour({ kind: 'blackhole', via: 'firewall' });
    const runs = await Promise.all(
      Object.entries(targets()).map(async ([name, t]) => ({ name, ...(await timed(t)) })),
    );
    for (const { name, out, elapsed } of runs) {
      console.log(
        `firewall drop: ${name} ${out.result} ${out.reason} after ${elapsed.toFixed(1)} ms: ${out.message}`,
      );
      expect([name, out.result, out.reason]).toEqual([name, 'failure', 'ProbeTimeout']);
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
  });

  it('link down: each probe fails no later than its deadline (+100 ms)', async () => {
    await vm.setBehaviour({ kind: 'blackhole', via: 'link-down' });
    const runs = await Promise.all(
      Object.entries(targets()).map(async ([name, t]) => ({ name, ...(await timed(t)) })),
    );
    for (const { name, out, elapsed } of runs) {
      console.log(
        `link down: ${name} ${out.result} ${out.reason} after ${elapsed.toFixed(1)} ms: ${out.message}`,
      );
      expect([name, out.result]).toEqual([name, 'failure']);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
  });

  it('the VM recovers: probes succeed again', async () => {
    await vm.setBehaviour({ kind: 'healthy' });
    for (const [name, t] of Object.entries(targets())) {
      const { out } = await timed(t);
      expect([name, out.result]).toEqual([name, 'success']);
    }
  });
});
