// 500 VMIs created and deleted under a running agent: every worker, timer and socket it opened for
// them is gone afterwards — the process's active handles (timers, sockets, servers) return to the
// baseline taken before the churn, and the agent holds no probe.
import type { Agent } from '@vmprobe/agent/agent';
import { createKubeWrites } from '@vmprobe/agent/kube/api';
import { ApiReporter } from '@vmprobe/agent/report/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { type AgentBed, seedVmi, startAgentBed } from './agent-helpers.js';

let bed: AgentBed | undefined;
let cluster: TestCluster;
let agent: Agent;
const NS = 'churn';
const COUNT = 500;

beforeAll(async () => {
  bed = await startAgentBed({
    cluster: { namespaces: [NS], timing: { scheduleMs: 0, bootMs: 0, terminateMs: 0 } },
    // The reporter's client-side write limit stays at its default (20/s): the ~2,000 writes of 500 new
    // VMIs are still queued when they are deleted, and forget() must drop those waits (no leftover timer).
    agents: [
      (c) => {
        const writes = createKubeWrites({
          kubeConfig: c.emu.kubeConfig(VMPROBE_AGENT_USER),
          nodeName: 'node-a',
        });
        return { reporter: new ApiReporter({ writes, nodeName: 'node-a' }) };
      },
    ],
  });
  ({ cluster, agent } = bed);
}, 120_000);

afterAll(async () => {
  await bed?.stop();
});

function resourceCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** Records where every timer created from now on comes from, so a leak names its origin. */
function trackTimers(): { live: () => string[]; restore: () => void } {
  const live = new Map<unknown, string>();
  const orig = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
  };
  const g = globalThis as unknown as Record<string, unknown>;
  g.setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const stack = new Error().stack?.split('\n').slice(2, 7).join('\n') ?? '';
    const t: unknown = orig.setTimeout(
      (...a: unknown[]) => {
        live.delete(t);
        fn(...a);
      },
      ms,
      ...args,
    );
    live.set(t, stack);
    return t;
  };
  g.clearTimeout = (t: unknown) => {
    live.delete(t);
    orig.clearTimeout(t as NodeJS.Timeout);
  };
  g.setInterval = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t: unknown = orig.setInterval(fn, ms, ...args);
    live.set(t, `interval ${new Error().stack?.split('\n').slice(2, 7).join('\n') ?? ''}`);
    return t;
  };
  g.clearInterval = (t: unknown) => {
    live.delete(t);
    orig.clearInterval(t as NodeJS.Timeout);
  };
  return { live: () => [...live.values()], restore: () => Object.assign(globalThis, orig) };
}

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function settle() {
  await cluster.waitFor(async () => cluster.kubevirt.idle, {
    timeoutMs: 60_000,
    description: 'KubeVirt idle',
  });
  // Let closing sockets finish their close callbacks.
  await new Promise((r) => setImmediate(r));
}

describe('500 VMIs created and deleted', () => {
  it('brings the agent back to its baseline of handles, timers and sockets', async () => {
    // Warm-up: one VMI through the whole cycle so lazily created, long-lived things exist already
    // (HTTP agents, informers' keep-alive connections) and belong to the baseline.
    const names = Array.from({ length: COUNT }, (_, i) => `churn-${i}`);
    const template = await seedVmi(SEED_VMI_FILES.readiness, 'x', {
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
    });
    const create = (name: string) =>
      cluster.createVmi(
        { ...structuredClone(template), metadata: { name, labels: { app: name } } },
        { namespace: NS },
      );
    await create('warmup');
    await cluster.waitFor(
      async () => agent.snapshot().some((s) => s.vmi === 'warmup' && s.state === 'success'),
      { timeoutMs: 20_000 },
    );
    await cluster.deleteVmi(NS, 'warmup');
    await cluster.waitFor(async () => agent.snapshot().length === 0, { timeoutMs: 20_000 });
    await settle();
    const baseline = resourceCounts();
    const timers = trackTimers();

    await inBatches(names, 25, create);
    await cluster.waitFor(
      async () => agent.snapshot().filter((s) => s.state === 'success').length === COUNT,
      { timeoutMs: 120_000, intervalMs: 250, description: `${COUNT} readiness probes succeeding` },
    );
    expect(agent.manager.workerCount).toBe(COUNT);
    const during = resourceCounts();
    expect(during.Timeout ?? 0).toBeGreaterThan((baseline.Timeout ?? 0) + COUNT / 2);

    await inBatches(names, 50, (n) => cluster.deleteVmi(NS, n));
    await cluster.waitFor(async () => agent.snapshot().length === 0, {
      timeoutMs: 60_000,
      description: 'no probe left',
    });
    expect(agent.manager.workerCount).toBe(0);
    await settle();
    // Sockets in TIME_WAIT-like teardown and the test bed's own controllers settle within a moment.
    const after = await cluster
      .waitFor(
        async () => {
          const now = resourceCounts();
          const back = Object.keys({ ...baseline, ...now }).every((k) => (now[k] ?? 0) <= (baseline[k] ?? 0));
          return back ? now : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, description: 'active resources back to baseline' },
      )
      .catch(() => resourceCounts());
    const leftTimers = timers.live();
    timers.restore();
    for (const k of Object.keys({ ...baseline, ...after })) {
      expect({
        [k]: after[k] ?? 0,
        timersCreatedDuringChurn: (after[k] ?? 0) > (baseline[k] ?? 0) ? leftTimers : [],
      }).toEqual({
        [k]: Math.min(after[k] ?? 0, baseline[k] ?? 0),
        timersCreatedDuringChurn: [],
      });
    }
  }, 300_000);
});
