// Liveness acts only when it should: a failing liveness probe stops the launcher pod (stop-launcher),
// while a Paused or migrating VMI has its liveness suspended (no kill though the VM does not answer),
// and after a migration the VMI is probed by the agent of the node it moved to.
import type { Agent } from '@vmprobe/agent/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import {
  type AgentBed,
  conditionOf,
  probeStatus,
  runSeedVmi,
  startAgentBed,
  waitForCondition,
} from './agent-helpers.js';

let bed: AgentBed | undefined;
let cluster: TestCluster;
let agentA: Agent; // node-a's (node-b's agent shows itself through what it reports)
const NS = 'default';

beforeAll(async () => {
  bed = await startAgentBed({
    cluster: { nodes: ['node-a', 'node-b'] },
    agents: [{ nodeName: 'node-a' }, { nodeName: 'node-b' }],
  });
  ({ cluster, agent: agentA } = bed);
});

afterAll(async () => {
  await bed?.stop();
});

async function liveVmi(name: string) {
  const running = await runSeedVmi(cluster, SEED_VMI_FILES.httpLiveness, name, { namespace: NS });
  await waitForCondition(cluster, NS, name, 'LivenessProbe', 'True');
  const vm = cluster.kubevirt.vmFor(NS, name);
  if (!vm) throw new Error('no VM');
  return { ...running, vm };
}

const podGone = async (name: string) =>
  await cluster.core.readNamespacedPod({ namespace: NS, name }).then(
    () => false,
    () => true,
  );

describe('liveness action', () => {
  it('a failing liveness probe stops the launcher pod; KubeVirt then fails the VMI', async () => {
    const { pod, vm } = await liveVmi('dead-vm');
    await vm.setBehaviour({ kind: 'refuse' });
    await waitForCondition(cluster, NS, 'dead-vm', 'LivenessProbe', 'False');
    await cluster.waitFor(() => podGone(pod.metadata?.name ?? ''), {
      timeoutMs: 15_000,
      description: 'launcher pod deleted',
    });
    await cluster.waitForVmi(NS, 'dead-vm', (v) => v.status?.phase === 'Failed', { timeoutMs: 15_000 });
  });
});

describe('suspension', () => {
  it('a Paused VMI is not killed although it stops answering; liveness resumes after unpause', async () => {
    const { pod } = await liveVmi('paused-vm');
    await cluster.kubevirt.pause(NS, 'paused-vm');
    const c = await waitForCondition(cluster, NS, 'paused-vm', 'LivenessProbe', 'Unknown');
    expect(c.reason).toBe('Suspended');
    // Well past failureThreshold × period: nothing fails, nothing is deleted.
    const until = Date.now() + 5_000;
    await cluster.waitFor(async () => Date.now() >= until, { timeoutMs: 6_000, intervalMs: 200 });
    expect(await podGone(pod.metadata?.name ?? '')).toBe(false);
    expect(conditionOf(await probeStatus(cluster, NS, 'paused-vm'), 'LivenessProbe')?.reason).toBe(
      'Suspended',
    );
    await cluster.kubevirt.unpause(NS, 'paused-vm');
    await waitForCondition(cluster, NS, 'paused-vm', 'LivenessProbe', 'True');
    expect(await podGone(pod.metadata?.name ?? '')).toBe(false);
  });

  it('a migrating VMI has liveness suspended; after the move the target node agent probes it', async () => {
    const { vm } = await liveVmi('mig-vm');
    await cluster.kubevirt.startMigration(NS, 'mig-vm', 'node-b');
    const c = await waitForCondition(cluster, NS, 'mig-vm', 'LivenessProbe', 'Unknown');
    expect(c.reason).toBe('Suspended');
    await vm.setBehaviour({ kind: 'refuse' });
    const until = Date.now() + 4_000;
    await cluster.waitFor(async () => Date.now() >= until, { timeoutMs: 5_000, intervalMs: 200 });
    expect((await cluster.getVmi(NS, 'mig-vm'))?.status?.phase).toBe('Running');
    await vm.setBehaviour({ kind: 'healthy' });
    await cluster.kubevirt.completeMigration(NS, 'mig-vm');
    await cluster.waitFor(async () => agentA.snapshot().every((s) => s.vmi !== 'mig-vm'), {
      description: 'node-a drops it',
    });
    await cluster.waitFor(
      async () => {
        const st = await probeStatus(cluster, NS, 'mig-vm');
        return st?.status?.nodeName === 'node-b' && conditionOf(st, 'LivenessProbe')?.status === 'True';
      },
      { timeoutMs: 15_000, description: 'node-b reports it' },
    );
  });
});
