// The agent rides out API faults: dropped watches and a forced 410 (relist) neither duplicate nor
// lose a worker and pick up what changed meanwhile; during a 30 s API outage probing goes on and
// the final state is written after recovery.
import type { Agent } from '@vmprobe/agent/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { type AgentBed, runSeedVmi, startAgent, startAgentBed, waitForCondition } from './agent-helpers.js';

let bed: AgentBed | undefined;
let cluster: TestCluster;
let agent: Agent;
const NS = 'default';

beforeAll(async () => {
  bed = await startAgentBed({ cluster: { vmprobeReadinessGate: true } });
  ({ cluster, agent } = bed);
});

afterAll(async () => {
  await bed?.stop();
});

async function readyVmi(name: string) {
  await runSeedVmi(cluster, SEED_VMI_FILES.readiness, name, { namespace: NS });
  await waitForCondition(cluster, NS, name, 'ReadinessProbe', 'True');
}

const probeKeys = () =>
  agent
    .snapshot()
    .map((s) => `${s.namespace}/${s.vmi}/${s.uid}/${s.probe}`)
    .sort();

describe('watch faults', () => {
  it('dropped watches and a forced 410 keep exactly one worker per probe and pick up changes made meanwhile', async () => {
    await readyVmi('w1');
    await readyVmi('w2');
    const workersBefore = agent.manager.workerCount;
    const keysBefore = probeKeys();
    expect(workersBefore).toBe(2);

    const faultAt = Date.now();
    // Clean drop: ListWatch re-watches from its resourceVersion.
    expect(cluster.emu.faults.dropAllWatches()).toBeGreaterThanOrEqual(2);
    // 410 on the next watches (the emulated KubeVirt's informers take some too): both of the
    // agent's watchers relist, some several times.
    cluster.emu.faults.forceGoneOnNextWatch(30);
    expect(cluster.emu.faults.dropAllWatches()).toBeGreaterThanOrEqual(0);
    await cluster.deleteVmi(NS, 'w2');
    await readyVmi('w3');
    await cluster.waitFor(async () => probeKeys().filter((k) => k.includes('/w2/')).length === 0, {
      description: 'w2 dropped',
    });
    const keys = probeKeys();
    expect(keys.filter((k) => k.includes('/w1/'))).toEqual(keysBefore.filter((k) => k.includes('/w1/')));
    expect(keys.filter((k) => k.includes('/w3/'))).toHaveLength(1);
    expect(agent.manager.workerCount).toBe(2);
    // Both watchers relisted after their 410.
    const relists = cluster.emu.requests
      .since(faultAt)
      .filter(
        (r) =>
          r.verb === 'list' &&
          r.user.includes('vmprobe') &&
          (r.resource === 'pods' || r.resource === 'virtualmachineinstances'),
      );
    expect(new Set(relists.map((r) => r.resource)).size).toBe(2);
  });
});

describe('API server unreachable at start', () => {
  it('a second agent started during an outage retries, and turns ready after it ends', async () => {
    await cluster.emu.faults.outage(true);
    const late = startAgent(cluster);
    try {
      await late.start();
      const until = Date.now() + 2_000;
      await cluster.waitFor(async () => Date.now() >= until, { timeoutMs: 3_000, intervalMs: 100 });
      expect(late.ready).toBe(false);
      await cluster.emu.faults.outage(false);
      await cluster.waitFor(async () => late.ready, {
        timeoutMs: 15_000,
        description: 'ready after the outage',
      });
    } finally {
      await cluster.emu.faults.outage(false);
      await late.stop(0);
    }
  });
});

describe('API outage', () => {
  it('probing goes on through a 30 s outage and the final state is reported after recovery', async () => {
    await readyVmi('o1');
    const vm = cluster.kubevirt.vmFor(NS, 'o1');
    if (!vm) throw new Error('no VM');
    await cluster.emu.faults.outage(true);
    await vm.setBehaviour({ kind: 'status', code: 500 });
    const at = vm.requestCount();
    // The outage lasts until the VM has been probed 25 more times while the API is down (the seed
    // probes every second: about the 30 s outage), a condition on what is tested rather
    // than a sleep.
    await cluster.waitFor(
      async () =>
        agent.snapshot().find((s) => s.vmi === 'o1' && s.probe === 'readiness')?.state === 'failure',
      { timeoutMs: 10_000, description: 'the agent sees the failure while the API is down' },
    );
    expect(vm.requestCount()).toBeGreaterThanOrEqual(at + 3);
    await cluster.waitFor(async () => vm.requestCount() - at >= 25, {
      timeoutMs: 90_000,
      intervalMs: 250,
      description: 'probing goes on during the outage',
    });
    const probesDuring = vm.requestCount() - at;
    expect(probesDuring).toBeGreaterThanOrEqual(25);
    await cluster.emu.faults.outage(false);
    // The reporter's write backoff (up to 30 s) decides how soon after recovery the write lands.
    const c = await waitForCondition(cluster, NS, 'o1', 'ReadinessProbe', 'False', 60_000);
    expect(c.reason).toBe('ProbeFailed');
    expect(agent.manager.workerCount).toBeGreaterThanOrEqual(1);
    expect(agent.snapshot().filter((s) => s.vmi === 'o1')).toHaveLength(1);
  }, 150_000);
});
