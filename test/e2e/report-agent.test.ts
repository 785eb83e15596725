// Reporting and the liveness action end to end: an in-process Agent running as the vmprobe service
// account (RBAC enforced from manifests/base/rbac.yaml) against the API emulator and the emulated
// KubeVirt. Asserts through the emulator's request log and the stored objects.
import type { Agent } from '@vmprobe/agent/agent';
import { createLivenessHandler } from '@vmprobe/agent/liveness/index';
import type { ApiReporter } from '@vmprobe/agent/report/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import type { Vmi } from '../src/kubevirt/index.js';
import { type AgentBed, probeStatus, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

let bed: AgentBed;
let cluster: TestCluster;
let agent: Agent;
const NS = 'default';

beforeAll(async () => {
  bed = await startAgentBed({
    cluster: { vmprobeReadinessGate: true },
    agents: [{ liveness: (deps) => createLivenessHandler('stop-launcher', deps, { settleMs: 200 }) }],
  });
  ({ cluster, agent } = bed);
});

afterAll(async () => {
  await bed?.stop();
});

/** The seed's readiness VMI (HTTP :1500) plus a TCP liveness probe, at test speed. */
async function probedVmi(name: string, grace?: number): Promise<Vmi> {
  const vmi = await seedVmi(SEED_VMI_FILES.readiness, name, {
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
  });
  const spec = vmi.spec as Record<string, unknown>;
  Object.assign(spec.readinessProbe as object, { successThreshold: 1, failureThreshold: 1 });
  spec.livenessProbe = {
    tcpSocket: { port: 1500 },
    periodSeconds: 1,
    timeoutSeconds: 1,
    failureThreshold: 2,
  };
  if (grace !== undefined) spec.terminationGracePeriodSeconds = grace;
  return vmi;
}

function vmOf(name: string) {
  const vm = cluster.kubevirt.vmFor(NS, name);
  if (!vm) throw new Error(`no simulated VM for ${name}`);
  return vm;
}

const reporter = () => agent.reporter as ApiReporter;
const agentRequests = (since: number) => cluster.emu.requests.filter({ since, user: VMPROBE_AGENT_USER });

async function eventsOf(name: string) {
  const list = await cluster.core.listNamespacedEvent({
    namespace: NS,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items;
}

describe('reporting', () => {
  it('creates a VMIProbeStatus owned by the VMI, gates the launcher pod, keeps the kubelet’s and KubeVirt’s pod conditions, and never writes the VMI', async () => {
    const t0 = Date.now();
    await cluster.createVmi(await probedVmi('rep-a'), { namespace: NS });
    const { vmi } = await cluster.waitForRunning(NS, 'rep-a');
    await waitForCondition(cluster, NS, 'rep-a', 'ReadinessProbe', 'True');
    await waitForCondition(cluster, NS, 'rep-a', 'LivenessProbe', 'True');

    const ps = await probeStatus(cluster, NS, 'rep-a');
    const meta = ps?.metadata as {
      labels?: Record<string, string>;
      ownerReferences?: Record<string, unknown>[];
    };
    expect(meta.labels?.['vmprobe.io/node']).toBe('node-a');
    expect(meta.ownerReferences).toEqual([
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'rep-a', uid: vmi.metadata?.uid },
    ]);
    expect(ps?.status?.vmiUID).toBe(vmi.metadata?.uid);

    const ready = await cluster.waitFor(
      async () => {
        const [pod] = await cluster.launcherPods(NS, 'rep-a');
        const byType = new Map((pod?.status?.conditions ?? []).map((c) => [c.type, c.status]));
        return byType.get('Ready') === 'True' ? byType : undefined;
      },
      { description: 'launcher pod Ready through both gates' },
    );
    // KubeVirt's gate and the kubelet's conditions survived the agent's strategic merge patch.
    expect(ready.get('kubevirt.io/virtual-machine-unpaused')).toBe('True');
    expect(ready.get('ContainersReady')).toBe('True');
    expect(ready.get('vmprobe.io/ReadinessProbe')).toBe('True');

    const mine = agentRequests(t0);
    expect(
      mine.filter(
        (r) =>
          r.resource === 'virtualmachineinstances' &&
          r.verb !== 'list' &&
          r.verb !== 'watch' &&
          r.verb !== 'get',
      ),
    ).toEqual([]);
    const podPatches = mine.filter((r) => r.resource === 'pods' && r.subresource === 'status');
    expect(podPatches.length).toBeGreaterThan(0);
    for (const r of podPatches) expect(r.contentType).toMatch(/^application\/strategic-merge-patch\+json/);
    const statusPatches = mine.filter((r) => r.resource === 'vmiprobestatuses' && r.subresource === 'status');
    expect(statusPatches.length).toBeGreaterThan(0);
    for (const r of statusPatches) expect(r.contentType).toMatch(/^application\/merge-patch\+json/);
    expect(mine.filter((r) => r.status >= 400)).toEqual([]);
  });

  it('makes zero API writes in a steady state', async () => {
    await cluster.waitFor(async () => reporter().isIdle(), { description: 'reporter idle' });
    const vm = vmOf('rep-a');
    await vm.flushRequests();
    const seen = vm.requests.length;
    const t = Date.now();
    await cluster.waitFor(
      async () => {
        await vm.flushRequests();
        return vm.requests.length >= seen + 6;
      },
      { description: 'six more probes', timeoutMs: 15_000 },
    );
    expect(cluster.emu.requests.writes({ since: t, user: VMPROBE_AGENT_USER })).toEqual([]);
  });

  it('retries the status patch after injected 500s and after a 409 (re-read first), and warns with an Unhealthy event', async () => {
    const t = Date.now();
    const statusPath = /\/vmiprobestatuses\/rep-a\/status$/;
    cluster.emu.faults.add({ verb: 'patch', path: statusPath, status: 500, count: 2 });
    await vmOf('rep-a').setBehaviour({ kind: 'status', code: 503 });
    const failed = await waitForCondition(cluster, NS, 'rep-a', 'ReadinessProbe', 'False');
    expect(failed.reason).toBe('ProbeFailed');
    const patches = agentRequests(t).filter(
      (r) => r.resource === 'vmiprobestatuses' && r.subresource === 'status',
    );
    expect(patches.map((r) => r.status).slice(0, 3)).toEqual([500, 500, 200]);

    const ev = await cluster.waitFor(
      async () => (await eventsOf('rep-a')).find((e) => e.reason === 'Unhealthy'),
      { description: 'Unhealthy event' },
    );
    expect(ev.type).toBe('Warning');
    expect(ev.message).toMatch(/^Readiness probe failed: /);
    expect(ev.involvedObject).toMatchObject({
      kind: 'VirtualMachineInstance',
      apiVersion: 'kubevirt.io/v1',
      name: 'rep-a',
    });
    expect(ev.source?.component).toBe('vmprobe');
    expect(ev.reportingComponent).toBe('vmprobe');
    expect(ev.reportingInstance).toBe('node-a');

    const t2 = Date.now();
    cluster.emu.faults.add({ verb: 'patch', path: statusPath, status: 409, count: 1 });
    await vmOf('rep-a').setBehaviour({ kind: 'healthy' });
    await waitForCondition(cluster, NS, 'rep-a', 'ReadinessProbe', 'True');
    const after = agentRequests(t2).filter((r) => r.resource === 'vmiprobestatuses' && r.name === 'rep-a');
    const i409 = after.findIndex((r) => r.status === 409);
    expect(i409).toBeGreaterThanOrEqual(0);
    expect(after[i409 + 1]?.verb).toBe('get');
    expect(after.slice(i409 + 1).some((r) => r.verb === 'patch' && r.status === 200)).toBe(true);
  });

  it('the VMIProbeStatus is garbage-collected with its VMI', async () => {
    await cluster.deleteVmi(NS, 'rep-a');
    await cluster.waitFor(async () => (await probeStatus(cluster, NS, 'rep-a')) === undefined, {
      description: 'VMIProbeStatus rep-a gone',
      timeoutMs: 15_000,
    });
  });
});

describe('liveness action', () => {
  it('stop-launcher deletes the launcher pod with the VMI’s grace period and a uid precondition, once, after a Killing event', async () => {
    await cluster.createVmi(await probedVmi('rep-kill', 3), { namespace: NS });
    const { pod } = await cluster.waitForRunning(NS, 'rep-kill');
    await waitForCondition(cluster, NS, 'rep-kill', 'LivenessProbe', 'True');
    const t = Date.now();
    await vmOf('rep-kill').setBehaviour({ kind: 'refuse' });
    const del = await cluster.waitFor(
      async () =>
        agentRequests(t).find(
          (r) => r.verb === 'delete' && r.resource === 'pods' && r.name === pod.metadata?.name,
        ),
      { description: 'launcher pod delete', timeoutMs: 15_000 },
    );
    expect(del.status).toBe(200);
    expect(del.query).toContain('gracePeriodSeconds=3');
    const killing = (await eventsOf('rep-kill')).find((e) => e.reason === 'Killing');
    expect(killing?.type).toBe('Normal');
    expect(killing?.message).toMatch(/^Stopping VMI: liveness probe failed: /);
    await cluster.waitForVmi(NS, 'rep-kill', (v) => v.status?.phase === 'Failed', { timeoutMs: 15_000 });
    const deletes = agentRequests(t).filter((r) => r.verb === 'delete');
    expect(deletes).toHaveLength(1);
  });
});
