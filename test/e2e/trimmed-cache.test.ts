// The agent's watched caches hold trimmed objects (model/trim.ts) — from the initial list (where
// client-node deserialises pods into model classes with Dates) and from watch events (raw JSON) —
// and the agent probes and suspends from them as from whole objects. Against the whole test bed:
// the API emulator, the emulated KubeVirt and the VM simulator, an in-process agent.
import type { Agent } from '@vmprobe/agent/agent';
import {
  createLauncherPodWatcher,
  createVmiWatcher,
  type ListPage,
  ResourceWatcher,
} from '@vmprobe/agent/kube/informers';
import type { PodObject, VmiObject } from '@vmprobe/agent/model/objects';
import { trimPod, trimVmi } from '@vmprobe/agent/model/trim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { agentRbacFiles, runSeedVmi, startAgent, waitForCondition } from './agent-helpers.js';

const NS = 'default';
let cluster: TestCluster;
let agent: Agent | undefined;

beforeAll(async () => {
  const rbacFiles = agentRbacFiles();
  cluster = await startTestCluster({ vmprobeReadinessGate: true, ...(rbacFiles ? { rbacFiles } : {}) });
  // Running before the agent starts: the agent first sees it in its initial lists.
  await runSeedVmi(cluster, SEED_VMI_FILES.readiness, 'listed');
  agent = startAgent(cluster);
  await agent.start();
  await agent.whenReady();
}, 60_000);

afterAll(async () => {
  await agent?.stop(1_000);
  await cluster?.stop();
});

function cachedVmi(name: string): VmiObject | undefined {
  return agent?.vmiWatcher.get(name, NS);
}

function cachedPodOf(uid: string): PodObject | undefined {
  return agent?.podWatcher.list().find((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === uid);
}

/** The cached VMI and the API's whole object at the same resourceVersion (waits until they agree). */
async function vmiPair(name: string): Promise<{ cached: VmiObject; whole: Record<string, unknown> }> {
  return cluster.waitFor(
    async () => {
      const whole = (await cluster.getVmi(NS, name)) as Record<string, unknown> | undefined;
      const cached = cachedVmi(name);
      const rv = (whole?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
      return whole && cached && cached.metadata?.resourceVersion === rv ? { cached, whole } : undefined;
    },
    { timeoutMs: 15_000, description: `the cached VMI ${name} at the API's resourceVersion` },
  );
}

/** The cached launcher pod and client-node's V1Pod (Dates) at the same resourceVersion. */
async function podPair(vmiName: string, uid: string) {
  return cluster.waitFor(
    async () => {
      const whole = (await cluster.launcherPods(NS, vmiName))[0];
      const cached = cachedPodOf(uid);
      return whole && cached && cached.metadata?.resourceVersion === whole.metadata?.resourceVersion
        ? { cached, whole }
        : undefined;
    },
    { timeoutMs: 15_000, description: `the cached launcher pod of ${vmiName} at the API's resourceVersion` },
  );
}

describe('trimmed watcher caches', () => {
  it('a listed VMI and launcher pod are cached trimmed, equal to the trimmed API objects', async () => {
    const { cached, whole } = await vmiPair('listed');
    expect(whole.status).toHaveProperty('phaseTransitionTimestamps');
    expect((whole.metadata as Record<string, unknown>).labels).toBeDefined();
    expect(cached).toStrictEqual(trimVmi(whole));
    expect(cached).not.toHaveProperty('apiVersion');
    expect(cached.metadata).not.toHaveProperty('labels');
    expect(cached.status?.nodeName).toBe('node-a');
    expect(cached.spec?.readinessProbe).toBeDefined();
    const uid = cached.metadata?.uid ?? '';
    const pod = await podPair('listed', uid);
    // client-node's V1Pod carries Dates; the cache holds the API's strings
    expect(pod.whole.status?.startTime).toBeInstanceOf(Date);
    expect(pod.cached).toStrictEqual(trimPod(pod.whole));
    expect(pod.cached.status?.podIP).toBe(pod.whole.status?.podIP);
    expect(pod.cached.spec).toStrictEqual({
      nodeName: 'node-a',
      readinessGates: pod.whole.spec?.readinessGates?.map((g) => ({ conditionType: g.conditionType })),
    });
    expect(pod.cached.status).not.toHaveProperty('containerStatuses');
    await waitForCondition(cluster, NS, 'listed', 'ReadinessProbe', 'True');
    const gate = (await podPair('listed', uid)).cached.status?.conditions;
    expect(gate).toHaveLength(1);
    expect(gate?.[0]).toMatchObject({ type: 'vmprobe.io/ReadinessProbe', status: 'True' });
    expect(gate?.[0]?.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('a watched VMI is cached trimmed, and a pause arriving by watch suspends its probe', async () => {
    await runSeedVmi(cluster, SEED_VMI_FILES.tcpLiveness, 'watched');
    await waitForCondition(cluster, NS, 'watched', 'LivenessProbe', 'True');
    const { cached, whole } = await vmiPair('watched');
    expect(cached).toStrictEqual(trimVmi(whole));
    await cluster.kubevirt.pause(NS, 'watched');
    const paused = await cluster.waitFor(
      async () => cachedVmi('watched')?.status?.conditions?.find((c) => c.type === 'Paused'),
      { timeoutMs: 15_000, description: 'the Paused condition in the cached VMI' },
    );
    expect(paused).toStrictEqual({ type: 'Paused', status: 'True' });
    const c = await waitForCondition(cluster, NS, 'watched', 'LivenessProbe', 'Unknown');
    expect(c.reason).toBe('Suspended');
    const after = await vmiPair('watched');
    expect(after.cached).toStrictEqual(trimVmi(after.whole));
  });
});

describe('paginated lists', () => {
  function watcherDone(w: { synced: boolean }) {
    return cluster.waitFor(async () => w.synced, { timeoutMs: 15_000, description: 'the watcher synced' });
  }

  it('lists in pages of listPageSize, each trimmed, into one complete cache', async () => {
    await runSeedVmi(cluster, SEED_VMI_FILES.tcpLiveness, 'paged-1');
    await runSeedVmi(cluster, SEED_VMI_FILES.tcpLiveness, 'paged-2');
    const names = (
      (await cluster.custom.listClusterCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: 'virtualmachineinstances',
        labelSelector: 'kubevirt.io/nodeName=node-a',
      })) as { items: { metadata: { name: string } }[] }
    ).items
      .map((v) => v.metadata.name)
      .sort();
    expect(names.length).toBeGreaterThanOrEqual(3);
    const kc = cluster.emu.kubeConfig(VMPROBE_AGENT_USER, { nodeName: 'node-a' });
    const since = Date.now();
    const w = createVmiWatcher(kc, 'node-a', { listPageSize: 1 });
    try {
      w.start();
      await watcherDone(w);
      expect(
        w
          .list()
          .map((v) => v.metadata?.name ?? '')
          .sort(),
      ).toStrictEqual(names);
      for (const v of w.list()) expect(v).toStrictEqual(trimVmi(v));
      const lists = cluster.emu.requests.filter({
        since,
        user: VMPROBE_AGENT_USER,
        verb: 'list',
        resource: 'virtualmachineinstances',
      });
      expect(lists).toHaveLength(names.length);
      expect(lists.every((r) => /[?&]limit=1(&|$)/.test(r.query))).toBe(true);
      expect(lists.filter((r) => /[?&]continue=/.test(r.query))).toHaveLength(names.length - 1);
    } finally {
      await w.stop();
    }
  });

  it('launcher pods too (client-node’s typed list names the token _continue)', async () => {
    const pods = (
      await cluster.core.listPodForAllNamespaces({
        labelSelector: 'kubevirt.io=virt-launcher',
        fieldSelector: 'spec.nodeName=node-a',
      })
    ).items
      .map((p) => p.metadata?.name ?? '')
      .sort();
    expect(pods.length).toBeGreaterThanOrEqual(3);
    const kc = cluster.emu.kubeConfig(VMPROBE_AGENT_USER, { nodeName: 'node-a' });
    const since = Date.now();
    const w = createLauncherPodWatcher(kc, 'node-a', { listPageSize: 1 });
    try {
      w.start();
      await watcherDone(w);
      expect(
        w
          .list()
          .map((p) => p.metadata?.name ?? '')
          .sort(),
      ).toStrictEqual(pods);
      for (const p of w.list()) expect(p).toStrictEqual(trimPod(p));
      const lists = cluster.emu.requests.filter({
        since,
        user: VMPROBE_AGENT_USER,
        verb: 'list',
        resource: 'pods',
      });
      expect(lists).toHaveLength(pods.length);
      expect(lists.filter((r) => /[?&]continue=/.test(r.query))).toHaveLength(pods.length - 1);
    } finally {
      await w.stop();
    }
  });

  it('an expired continue token (410) restarts as one unpaginated list', async () => {
    const kc = cluster.emu.kubeConfig(VMPROBE_AGENT_USER, { nodeName: 'node-a' });
    const { CustomObjectsApi } = await import('@kubernetes/client-node');
    const api = kc.makeApiClient(CustomObjectsApi);
    const pages: ListPage[] = [];
    const w = new ResourceWatcher<VmiObject>({
      kubeConfig: kc,
      resource: 'virtualmachineinstances',
      path: '/apis/kubevirt.io/v1/virtualmachineinstances',
      labelSelector: 'kubevirt.io/nodeName=node-a',
      listPageSize: 1,
      trim: trimVmi,
      list: async (page) => {
        pages.push(page);
        if (page.continueToken !== undefined) throw Object.assign(new Error('expired'), { code: 410 });
        return (await api.listClusterCustomObject({
          group: 'kubevirt.io',
          version: 'v1',
          plural: 'virtualmachineinstances',
          labelSelector: 'kubevirt.io/nodeName=node-a',
          ...(page.limit !== undefined ? { limit: page.limit } : {}),
        })) as { items: unknown[] };
      },
    });
    try {
      w.start();
      await watcherDone(w);
      expect(pages.map((p) => [p.limit, p.continueToken === undefined])).toStrictEqual([
        [1, true],
        [1, false],
        [undefined, true],
      ]);
      expect(w.list().length).toBeGreaterThanOrEqual(3);
      for (const v of w.list()) expect(v).toStrictEqual(trimVmi(v));
    } finally {
      await w.stop();
    }
  });
});
