// Shared helpers for the agent e2e tests: start the test bed with in-process Agents as the vmprobe
// identity, read VMIProbeStatus objects, and shrink the seed's VMIs to test periods.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '@vmprobe/agent/agent';
import { createLivenessHandler } from '@vmprobe/agent/liveness/index';
import { silentLogger } from '@vmprobe/agent/log';
import { readManifest, startTestCluster, type TestCluster, type TestClusterOptions } from '../src/cluster.js';
import { REPO_ROOT, VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import type { Vmi } from '../src/kubevirt/index.js';
import { loopbackVmCidr } from '../src/vmsim/index.js';

export const RBAC_FILE = join(REPO_ROOT, 'manifests/base/rbac.yaml');
/** The roles that grant `get` on /metrics and /debug/probes (unbound in the base). */
export const RBAC_ENDPOINTS_FILE = join(REPO_ROOT, 'manifests/base/rbac-endpoints.yaml');
/** The monitoring component's scrape identity (ServiceAccount vmprobe-prometheus bound to the metrics reader). */
export const SCRAPE_IDENTITY_FILE = join(REPO_ROOT, 'manifests/monitoring/scrape-identity.yaml');
export const PROMETHEUS_SCRAPE_USER = 'system:serviceaccount:vmprobe-system:vmprobe-prometheus';

/** The shipped RBAC when it exists (the agent then runs with exactly the ClusterRole's rights). */
export function agentRbacFiles(): string[] | undefined {
  if (existsSync(RBAC_FILE))
    return [RBAC_FILE, ...(existsSync(RBAC_ENDPOINTS_FILE) ? [RBAC_ENDPOINTS_FILE] : [])];
  console.warn(`${RBAC_FILE} not found: RBAC is not enforced in this run`);
  return undefined;
}

/** An in-process agent as the vmprobe service account, liveness action stop-launcher (settle 0). */
export function startAgent(cluster: TestCluster, over: Partial<AgentOptions> = {}): Agent {
  const nodeName = over.nodeName ?? cluster.nodes[0] ?? 'node-a';
  const agent = new Agent({
    nodeName,
    liveness: (deps) => createLivenessHandler('stop-launcher', deps, { settleMs: 0 }),
    // a token bound to the agent's pod on its node, as the kubelet mounts it (carries the node claim)
    kubeConfig: cluster.emu.kubeConfig(VMPROBE_AGENT_USER, { nodeName }),
    logger: silentLogger,
    processMetrics: false,
    watchBackoff: { initialMs: 100, maxMs: 2_000 },
    // The simulated VMs live on loopback addresses (loopback mode), which the agent otherwise never
    // probes; 127.0.0.1 stays outside this range.
    unsafeProbeCidrs: [loopbackVmCidr()],
    ...over,
  });
  return agent;
}

export type AgentOverrides = Partial<AgentOptions>;

export interface AgentBedOptions {
  /** startTestCluster options; without `rbacFiles`, the shipped RBAC is enforced when it exists. */
  cluster?: TestClusterOptions;
  /** One agent per entry: startAgent overrides, or a function of the cluster giving them. Default: one agent. */
  agents?: Array<AgentOverrides | ((cluster: TestCluster) => AgentOverrides)>;
}

export interface AgentBed {
  cluster: TestCluster;
  /** The first of `agents`. */
  agent: Agent;
  agents: Agent[];
  /** Stops the agents (1 s grace), then the cluster. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The usual e2e setup: a test cluster, then its agents started and ready (both lists synced). If
 * anything fails on the way, whatever was started is stopped before the error is rethrown.
 */
export async function startAgentBed(opts: AgentBedOptions = {}): Promise<AgentBed> {
  const rbacFiles = opts.cluster?.rbacFiles ?? agentRbacFiles();
  const cluster = await startTestCluster({ ...opts.cluster, ...(rbacFiles ? { rbacFiles } : {}) });
  const agents: Agent[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all(agents.map((a) => a.stop(1_000)));
      await cluster.stop();
    })();
    return stopped;
  };
  try {
    for (const over of opts.agents ?? [{}])
      agents.push(startAgent(cluster, typeof over === 'function' ? over(cluster) : over));
    await Promise.all(agents.map((a) => a.start()));
    await Promise.all(agents.map((a) => a.whenReady()));
  } catch (err) {
    await stop();
    throw err;
  }
  return { cluster, agent: agents[0]!, agents, stop };
}

export interface ProbeStatusObject {
  metadata?: { name?: string; uid?: string; ownerReferences?: { uid?: string }[] };
  status?: {
    nodeName?: string;
    target?: string;
    vmiUID?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export async function probeStatus(
  cluster: TestCluster,
  namespace: string,
  name: string,
): Promise<ProbeStatusObject | undefined> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({
      group: 'vmprobe.io',
      version: 'v1alpha1',
      plural: 'vmiprobestatuses',
      namespace,
      name,
    })) as ProbeStatusObject;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export function conditionOf(o: ProbeStatusObject | undefined, type: string) {
  return o?.status?.conditions?.find((c) => c.type === type);
}

/** Waits for a VMIProbeStatus condition status. */
export function waitForCondition(
  cluster: TestCluster,
  namespace: string,
  name: string,
  type: string,
  status: string,
  timeoutMs = 15_000,
) {
  return cluster.waitFor(
    async () => {
      const c = conditionOf(await probeStatus(cluster, namespace, name), type);
      return c?.status === status ? c : undefined;
    },
    { timeoutMs, description: `${namespace}/${name} ${type}=${status}` },
  );
}

/** Test-speed probe timings: no initial delay, a 1 s period and timeout. */
export const FAST_TIMINGS = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1 } as const;

/** Creates seedVmi(file, name, timings) in `namespace` (default 'default') and waits until it runs. */
export async function runSeedVmi(
  cluster: TestCluster,
  file: string,
  name: string,
  opts: { namespace?: string; timings?: Parameters<typeof seedVmi>[2] } = {},
) {
  const namespace = opts.namespace ?? 'default';
  await cluster.createVmi(await seedVmi(file, name, opts.timings ?? FAST_TIMINGS), { namespace });
  return cluster.waitForRunning(namespace, name);
}

/** A seed VMI with test-sized timings (the seed's 120 s delay and 20 s period, shrunk). */
export async function seedVmi(
  file: string,
  name: string,
  timings: { initialDelaySeconds?: number; periodSeconds?: number; timeoutSeconds?: number },
): Promise<Vmi> {
  const vmi = await readManifest<Vmi>(file);
  vmi.metadata = { ...vmi.metadata, name, labels: { ...vmi.metadata?.labels, app: name } };
  const spec = vmi.spec as Record<string, Record<string, unknown> | undefined>;
  for (const field of ['livenessProbe', 'readinessProbe']) {
    const p = spec[field];
    if (p) Object.assign(p, timings);
  }
  return vmi;
}
