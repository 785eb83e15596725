// The kill budget on a node-wide fault: VMs in real network namespaces (root) all become unreachable
// at once (blackhole) — the agent holds every stop back with a KillHeldBack event; a single VM that
// fails alone is still stopped.
import { createLivenessHandler, type LivenessActionHandler } from '@vmprobe/agent/liveness/index';
import { blackholeUnavailable, logSkip, netnsUnavailable } from '@vmprobe/test/vmsim/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { type AgentBed, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

const unavailable = netnsUnavailable ?? blackholeUnavailable;
logSkip('report-kill-budget (the node-wide fault uses network namespaces and packet drops)', unavailable);

const NS = 'default';
const NAMES = ['kb-1', 'kb-2', 'kb-3', 'kb-4', 'kb-5'];
let bed: AgentBed;
let cluster: TestCluster;
let handler: LivenessActionHandler | undefined;

describe.skipIf(unavailable !== undefined)('kill budget on a node-wide fault', () => {
  beforeAll(async () => {
    bed = await startAgentBed({
      cluster: { vmsimMode: 'netns' },
      agents: [
        {
          liveness: (deps) =>
            (handler = createLivenessHandler('stop-launcher', deps, {
              settleMs: 2_000,
              maxKillsPerMinute: 10,
              // Failures count together for 5 s (default 60 s), so the second test need not wait a minute.
              budget: { windowMs: 5_000 },
            })),
        },
      ],
    });
    cluster = bed.cluster;
    for (const name of NAMES) {
      const vmi = await seedVmi(SEED_VMI_FILES.tcpLiveness, name, {
        initialDelaySeconds: 0,
        periodSeconds: 1,
        timeoutSeconds: 1,
      });
      Object.assign((vmi.spec as Record<string, object>).livenessProbe!, { failureThreshold: 2 });
      await cluster.createVmi(vmi, { namespace: NS });
    }
    for (const name of NAMES) {
      await cluster.waitForRunning(NS, name, { timeoutMs: 30_000 });
      await waitForCondition(cluster, NS, name, 'LivenessProbe', 'True', 30_000);
    }
  }, 120_000);

  afterAll(async () => {
    await bed?.stop();
  });

  const deletesSince = (t: number) =>
    cluster.emu.requests.filter({ since: t, user: VMPROBE_AGENT_USER, verb: 'delete' });

  async function events(reason: string) {
    const list = await cluster.core.listNamespacedEvent({ namespace: NS, fieldSelector: `reason=${reason}` });
    return list.items;
  }

  it('holds every stop back while all VMs fail at once, with a KillHeldBack Warning on each', async () => {
    const t = Date.now();
    await Promise.all(NAMES.map((n) => cluster.kubevirt.vmFor(NS, n)!.setBehaviour({ kind: 'blackhole' })));
    for (const name of NAMES) await waitForCondition(cluster, NS, name, 'LivenessProbe', 'False', 20_000);
    const held = await cluster.waitFor(
      async () => {
        const evs = (await events('KillHeldBack')).filter((e) => NAMES.includes(e.involvedObject.name ?? ''));
        return new Set(evs.map((e) => e.involvedObject.name)).size === NAMES.length ? evs : undefined;
      },
      { description: 'KillHeldBack on every VMI', timeoutMs: 20_000 },
    );
    expect(held.every((e) => e.type === 'Warning' && /node-wide fault/.test(e.message ?? ''))).toBe(true);
    expect(deletesSince(t)).toEqual([]);
    // The network comes back: nothing was killed, everything recovers.
    await Promise.all(NAMES.map((n) => cluster.kubevirt.vmFor(NS, n)!.setBehaviour({ kind: 'healthy' })));
    for (const name of NAMES) await waitForCondition(cluster, NS, name, 'LivenessProbe', 'True', 20_000);
    expect(deletesSince(t)).toEqual([]);
  }, 90_000);

  it('still stops a VM that fails alone once the fault window has passed', async () => {
    // Wait until the earlier failures have left the node-fault window (5 s here): the kill budget
    // counts no failing VMI any more.
    await cluster.waitFor(async () => handler?.budget.failingCount(Date.now()) === 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: 'the node-fault window is empty',
    });
    const t = Date.now();
    const [pod] = await cluster.launcherPods(NS, 'kb-1');
    await cluster.kubevirt.vmFor(NS, 'kb-1')!.setBehaviour({ kind: 'refuse' });
    const del = await cluster.waitFor(
      async () => deletesSince(t).find((r) => r.resource === 'pods' && r.name === pod?.metadata?.name),
      { description: 'launcher pod of kb-1 deleted', timeoutMs: 20_000 },
    );
    expect(del.status).toBe(200);
    expect(deletesSince(t)).toHaveLength(1);
  }, 60_000);
});
