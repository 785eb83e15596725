// Issue 8 item 5 end to end: the agent's event loop is blocked (a synchronous stall in the agent's
// process) while HTTP liveness probes are in flight against a healthy but not instant VM. The
// timeout timers then fire late, before the I/O that would have answered; those attempts must be
// `unknown` (not counted), and no VMI may be stopped. The agent runs in-process, so blocking this
// test's event loop is blocking the agent's.
import { createLivenessHandler } from '@vmprobe/agent/liveness/index';
import { noopObserver } from '@vmprobe/agent/observer';
import type { ProbeOutcome } from '@vmprobe/agent/probers/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { type AgentBed, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

const NS = 'default';
let bed: AgentBed;
let cluster: TestCluster;
const outcomes: { vmi: string; probe: string; outcome: ProbeOutcome }[] = [];

/** Blocks this process's event loop for `ms` (the stall under test; deliberately synchronous). */
function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy: nothing else runs */
  }
}

beforeAll(async () => {
  bed = await startAgentBed({
    agents: [
      {
        observer: {
          ...noopObserver,
          probeResult: (id, outcome) => outcomes.push({ vmi: id.vmi, probe: id.probe, outcome }),
        },
        liveness: (deps) =>
          createLivenessHandler('stop-launcher', deps, { settleMs: 200, maxKillsPerMinute: 10 }),
      },
    ],
  });
  cluster = bed.cluster;
}, 120_000);

afterAll(async () => {
  await bed?.stop();
});

describe('agent stalls', () => {
  it('timeouts that fire late because the event loop was blocked are not counted: no VMI is stopped', async () => {
    const vmi = await seedVmi(SEED_VMI_FILES.readiness, 'stall-a', {
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
    });
    // Liveness only: every request the VM sees is a liveness attempt.
    delete (vmi.spec as Record<string, unknown>).readinessProbe;
    (vmi.spec as Record<string, unknown>).livenessProbe = {
      httpGet: { port: 1500, path: '/' },
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 1,
    };
    await cluster.createVmi(vmi, { namespace: NS });
    await cluster.waitForRunning(NS, 'stall-a');
    await waitForCondition(cluster, NS, 'stall-a', 'LivenessProbe', 'True');
    // Each answer takes 500 ms of a 1 s period, so an attempt is in flight about half the time.
    await cluster.kubevirt.vmFor(NS, 'stall-a')!.setBehaviour({ kind: 'slow', delayMs: 500 });
    const t = Date.now();
    const stalls = () =>
      outcomes.filter(
        (o) =>
          o.vmi === 'stall-a' &&
          o.outcome.result === 'unknown' &&
          /event loop was blocked/.test(o.outcome.message),
      ).length;
    const vm = cluster.kubevirt.vmFor(NS, 'stall-a')!;
    for (let i = 0; i < 5 && stalls() === 0; i++) {
      // Block right after the VM has received a probe request: that attempt is in flight (its
      // answer is 500 ms away, its 1 s deadline will have passed when the loop runs again).
      const seen = vm.requestCount();
      await cluster.waitFor(async () => vm.requestCount() > seen, {
        description: 'a probe request in flight',
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      blockEventLoop(2_500);
      const results = outcomes.length;
      await cluster.waitFor(async () => outcomes.length > results, {
        description: 'results after the stall',
        timeoutMs: 10_000,
      });
    }
    expect(stalls()).toBeGreaterThan(0);
    // Let the settle window (200 ms) and a few periods pass after the last stall, on conditions.
    const after = outcomes.length;
    await cluster.waitFor(async () => outcomes.length >= after + 6, {
      description: 'six more results',
      timeoutMs: 20_000,
    });
    const liveness = outcomes.filter((o) => o.vmi === 'stall-a' && o.probe === 'liveness');
    expect(liveness.length).toBeGreaterThan(0);
    expect(liveness.filter((o) => o.outcome.result === 'failure')).toEqual([]);
    const deletes = cluster.emu.requests.filter({ since: t, user: VMPROBE_AGENT_USER, verb: 'delete' });
    expect(deletes).toEqual([]);
    const cond = await waitForCondition(cluster, NS, 'stall-a', 'LivenessProbe', 'True');
    expect(cond.reason).toBe('ProbeSucceeded');
  }, 180_000);
});
