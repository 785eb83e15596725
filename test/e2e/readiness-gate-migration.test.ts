// Live migration with the webhook-injected gate: the target launcher pod is created with the gate
// too, and the Service must not lose the VMI's endpoint for longer than one readiness period while
// the VMI moves (design: the target node's agent probes the new pod as soon as it is the VMI's pod
// and writes its gate). The endpoint's readiness is taken from the emulator's own store watch, so
// the gap is measured at the moments the EndpointSlice changed, not by polling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import type { KubeObject } from '../src/emulator/index.js';
import { type AgentBed, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

const NS = 'default';
const PERIOD_S = 2;
let bed: AgentBed;
let cluster: TestCluster;

beforeAll(async () => {
  bed = await startAgentBed({
    cluster: { nodes: ['node-a', 'node-b'], vmprobeReadinessGate: true },
    agents: [{ nodeName: 'node-a' }, { nodeName: 'node-b' }],
  });
  cluster = bed.cluster;
});

afterAll(async () => {
  await bed?.stop();
});

describe('live migration with the readiness gate', () => {
  it(`the Service keeps the VMI's endpoint through a live migration (no gap beyond one ${PERIOD_S} s period)`, async () => {
    await cluster.core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'mig-svc' },
        spec: { selector: { app: 'mig-ready' }, ports: [{ port: 80 }] },
      },
    });
    const vmi = await seedVmi(SEED_VMI_FILES.readiness, 'mig-ready', {
      initialDelaySeconds: 0,
      periodSeconds: PERIOD_S,
      timeoutSeconds: 1,
    });
    // The seed's successThreshold 3: a target pod that had to earn Ready from scratch would be out
    // of the endpoints for at least two periods.
    await cluster.createVmi(vmi, { namespace: NS });
    await cluster.waitForRunning(NS, 'mig-ready');
    await waitForCondition(cluster, NS, 'mig-ready', 'ReadinessProbe', 'True', 20_000);

    // Ready endpoints of the Service, at each change of its EndpointSlice.
    const readyCount = (slice: KubeObject) =>
      (slice.endpoints ?? []).filter(
        (e: { conditions?: { ready?: boolean } }) => e.conditions?.ready === true,
      ).length;
    const timeline: Array<{ at: number; ready: number }> = [];
    const stopWatch = cluster.emu.store.watch(
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        namespace: NS,
        labelSelector: 'kubernetes.io/service-name=mig-svc',
      },
      (_type, obj) => timeline.push({ at: performance.now(), ready: readyCount(obj) }),
    );
    // The watch delivers changes only: seed the timeline with the slice as it is now (the gate may
    // have been written before the watch started).
    const [current] = cluster.emu.store.list(
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
      { namespace: NS, labelSelector: 'kubernetes.io/service-name=mig-svc' },
    );
    if (current && timeline.length === 0)
      timeline.push({ at: performance.now(), ready: readyCount(current) });
    try {
      await cluster.waitFor(async () => timeline.at(-1)?.ready === 1 || undefined, {
        description: 'the endpoint ready before the migration',
      });
      const start = performance.now();
      await cluster.kubevirt.startMigration(NS, 'mig-ready', 'node-b');
      await cluster.kubevirt.completeMigration(NS, 'mig-ready');
      const [pod] = (await cluster.launcherPods(NS, 'mig-ready')).filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      expect(pod?.spec?.nodeName).toBe('node-b');
      expect(pod?.spec?.readinessGates?.map((g) => g.conditionType)).toContain('vmprobe.io/ReadinessProbe');
      await cluster.waitFor(
        async () => {
          const p = (await cluster.launcherPods(NS, 'mig-ready')).find((x) => x.spec?.nodeName === 'node-b');
          const gate = p?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe');
          return gate?.status === 'True' && timeline.at(-1)?.ready === 1;
        },
        { timeoutMs: 20_000, description: "the target pod's gate True and the endpoint ready again" },
      );
      // Longest stretch without a ready endpoint since the migration started.
      let gapMs = 0;
      let since: number | undefined;
      for (const e of timeline.filter((x) => x.at >= start)) {
        if (e.ready === 0) since ??= e.at;
        else if (since !== undefined) {
          gapMs = Math.max(gapMs, e.at - since);
          since = undefined;
        }
      }
      console.log(
        `live migration: longest endpoint gap ${gapMs.toFixed(0)} ms (period ${PERIOD_S * 1000} ms)`,
      );
      expect(gapMs).toBeLessThanOrEqual(PERIOD_S * 1000);
    } finally {
      stopWatch();
    }
  });
});
