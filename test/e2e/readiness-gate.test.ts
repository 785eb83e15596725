// Readiness through the injected gate, end to end: the real `vmprobe webhook` behind the shipped
// MutatingWebhookConfiguration adds vmprobe.io/ReadinessProbe to launcher pods through the
// emulator's admission chain (the emulated KubeVirt does not add it), and the real agent's
// condition then decides the pod's Ready, the VMI's Ready and the Service's endpoints. Also what
// happens while the webhook is down under each failurePolicy, and a certificate rotation.

import { formatNotEnforced } from '@vmprobe/agent/cli/status-command';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import type { Vmi } from '../src/kubevirt/index.js';
import {
  type AgentBed,
  type ProbeStatusObject,
  probeStatus,
  seedVmi,
  startAgentBed,
  waitForCondition,
} from './agent-helpers.js';

const NS = 'default';
const GATE = 'vmprobe.io/ReadinessProbe';
const KUBEVIRT_GATE = 'kubevirt.io/virtual-machine-unpaused';
const MWC = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  name: 'vmprobe-readiness-gate',
};

let bed: AgentBed;
let cluster: TestCluster;

beforeAll(async () => {
  bed = await startAgentBed({ cluster: { vmprobeReadinessGate: true } });
  cluster = bed.cluster;
});

afterAll(async () => {
  await bed?.stop();
});

/** The seed readiness VMI at test speed (1 s period, flips after 1 success / 2 failures). */
async function readinessVmi(name: string, behaviour?: unknown): Promise<Vmi> {
  const vmi = await seedVmi(SEED_VMI_FILES.readiness, name, {
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
  });
  Object.assign((vmi.spec as { readinessProbe: object }).readinessProbe, {
    successThreshold: 1,
    failureThreshold: 2,
  });
  if (behaviour) vmi.metadata!.annotations = { 'vmprobe.test/behaviour': JSON.stringify(behaviour) };
  return vmi;
}

async function service(name: string, app: string): Promise<void> {
  await cluster.core.createNamespacedService({
    namespace: NS,
    body: { metadata: { name }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 1500 }] } },
  });
}

async function livePod(name: string) {
  return (await cluster.launcherPods(NS, name)).find((p) => !p.metadata?.deletionTimestamp);
}

async function readyState(name: string, svc: string) {
  const pod = await livePod(name);
  const cond = (t: string) => pod?.status?.conditions?.find((c) => c.type === t)?.status;
  const vmi = await cluster.getVmi(NS, name);
  const slices = await cluster.discovery.listNamespacedEndpointSlice({
    namespace: NS,
    labelSelector: `kubernetes.io/service-name=${svc}`,
  });
  const endpointReady = slices.items
    .flatMap((s) => s.endpoints ?? [])
    .some((e) => e.conditions?.ready === true);
  return {
    gate: cond(GATE),
    podReady: cond('Ready'),
    vmiReady: vmi?.status?.conditions?.find((c) => c.type === 'Ready')?.status,
    endpointReady,
  };
}

function waitReady(name: string, svc: string, want: boolean, description: string) {
  const s = want ? 'True' : 'False';
  return cluster.waitFor(
    async () => {
      const r = await readyState(name, svc);
      return r.gate === s && r.podReady === s && r.vmiReady === s && r.endpointReady === want ? r : undefined;
    },
    { timeoutMs: 20_000, description },
  );
}

function gatesOf(pod: Awaited<ReturnType<typeof livePod>>) {
  return pod?.spec?.readinessGates?.map((g) => g.conditionType);
}

describe('readiness gate injected by vmprobe webhook', () => {
  it('a new VMI with a readiness probe: its pod gets the gate, is not Ready until the probe succeeds, leaves the endpoints on failure and comes back', async () => {
    await service('svc-a', 'gated-a');
    await cluster.createVmi(await readinessVmi('gated-a', { kind: 'status', code: 500 }), { namespace: NS });
    const { pod } = await cluster.waitForRunning(NS, 'gated-a');
    expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE, GATE]);
    const call = cluster.emu.webhooks.calls.find((c) => c.outcome === 'allowed' && c.patched);
    expect(call?.webhook).toBe('readiness-gate.vmprobe.io');
    // Probes fail: the agent writes the gate False; the pod, the VMI and the endpoint are not ready.
    const vm = cluster.kubevirt.vmFor(NS, 'gated-a')!;
    await waitForCondition(cluster, NS, 'gated-a', 'ReadinessProbe', 'False');
    await cluster.waitFor(async () => vm.requestCount() >= 3, { description: 'three failed probes' });
    const notYet = await readyState('gated-a', 'svc-a');
    expect(notYet).toEqual({ gate: 'False', podReady: 'False', vmiReady: 'False', endpointReady: false });
    // The guest answers: Ready everywhere.
    await vm.setBehaviour({ kind: 'healthy' });
    await waitReady('gated-a', 'svc-a', true, 'gate, pod, VMI and endpoint ready');
    // It fails: out of the endpoints; it recovers: back in.
    await vm.setBehaviour({ kind: 'status', code: 503 });
    await waitReady('gated-a', 'svc-a', false, 'out of the endpoints after failures');
    await vm.setBehaviour({ kind: 'healthy' });
    await waitReady('gated-a', 'svc-a', true, 'back in the endpoints');
  });

  it('a VMI without a readiness probe: no vmprobe gate, Ready as before', async () => {
    const vmi = await seedVmi(SEED_VMI_FILES.tcpLiveness, 'ungated', {
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
    });
    await cluster.createVmi(vmi, { namespace: NS });
    const { pod } = await cluster.waitForRunning(NS, 'ungated');
    expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE]);
    await cluster.waitFor(
      async () =>
        (await livePod('ungated'))?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      { description: 'pod Ready without the vmprobe gate' },
    );
  });

  it('certificate rotated: the next admission call is served with the new certificate', async () => {
    const webhook = cluster.webhook!;
    const before = webhook.server.certificate()!.fingerprint256;
    const rotated = await webhook.rotateCertificate();
    expect(rotated.fingerprint256).not.toBe(before);
    const n = cluster.emu.webhooks.calls.length;
    await cluster.createVmi(await readinessVmi('after-rotation'), { namespace: NS });
    const { pod } = await cluster.waitForRunning(NS, 'after-rotation');
    expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE, GATE]);
    const calls = cluster.emu.webhooks.calls.slice(n);
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c.peerFingerprint256).toBe(rotated.fingerprint256);
  });

  it('webhook down under failurePolicy Ignore (shipped): the VMI starts, its pod without the gate', async () => {
    const webhook = cluster.webhook!;
    await webhook.stopServer();
    try {
      await cluster.createVmi(await readinessVmi('while-down-ignore'), { namespace: NS });
      const { pod } = await cluster.waitForRunning(NS, 'while-down-ignore');
      expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE]);
      expect(cluster.emu.webhooks.calls.at(-1)?.outcome).toBe('ignored-failure');
      // Readiness is reported, but not enforced: the pod is Ready whatever the probe says.
      await waitForCondition(cluster, NS, 'while-down-ignore', 'ReadinessProbe', 'True');
    } finally {
      await webhook.startServer();
    }
  });

  it('webhook down under failurePolicy Fail: the launcher pod is refused ("failed calling webhook") and the VMI starts once the webhook is back, gated', async () => {
    const webhook = cluster.webhook!;
    cluster.emu.store.patch(MWC, [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Fail' }], {
      type: 'json',
    });
    await webhook.stopServer();
    let restarted = false;
    try {
      const n = cluster.emu.webhooks.calls.length;
      await cluster.createVmi(await readinessVmi('while-down-fail'), { namespace: NS });
      const failed = await cluster.waitFor(
        async () => cluster.emu.webhooks.calls.slice(n).find((c) => c.outcome === 'failed'),
        { description: 'a failed webhook call' },
      );
      expect(failed.error).toMatch(
        /^failed calling webhook "readiness-gate\.vmprobe\.io": failed to call webhook: Post "https:\/\/vmprobe-webhook\.vmprobe-system\.svc:443\/mutate-v1-pod\?timeout=5s": /,
      );
      const refused = cluster.emu.requests
        .all()
        .filter((r) => r.verb === 'create' && r.resource === 'pods' && r.status === 500);
      expect(refused.length).toBeGreaterThan(0);
      expect(await cluster.launcherPods(NS, 'while-down-fail')).toEqual([]);
      expect((await cluster.getVmi(NS, 'while-down-fail'))?.status?.phase).not.toBe('Running');
      await webhook.startServer();
      restarted = true;
      const { pod } = await cluster.waitForRunning(NS, 'while-down-fail', { timeoutMs: 30_000 });
      expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE, GATE]);
    } finally {
      if (!restarted) await webhook.startServer();
      cluster.emu.store.patch(MWC, [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }], {
        type: 'json',
      });
    }
  });
});

describe('enrolment: a launcher pod created before the webhook was installed', () => {
  it('is reported as not enforced in VMIProbeStatus, /debug/probes, vmprobe status and the metric; a gated one as enforced', async () => {
    const stored = cluster.emu.store.get(MWC);
    expect(stored).toBeDefined();
    cluster.emu.store.delete(MWC); // vmprobe not installed yet…
    try {
      await cluster.createVmi(await readinessVmi('pre-existing'), { namespace: NS });
      const { pod } = await cluster.waitForRunning(NS, 'pre-existing');
      expect(gatesOf(pod)).toEqual([KUBEVIRT_GATE]);
    } finally {
      const { metadata, ...rest } = stored as { metadata: { name: string } };
      cluster.emu.store.create({ ...rest, metadata: { name: metadata.name } }); // …now it is
    }
    const st = await cluster.waitFor(
      async () => {
        const o = (await probeStatus(cluster, NS, 'pre-existing')) as
          | (ProbeStatusObject & {
              status?: { readinessGate?: { enforced: boolean; pod: string; message?: string } };
            })
          | undefined;
        return o?.status?.readinessGate ? o : undefined;
      },
      { description: 'VMIProbeStatus readinessGate of pre-existing' },
    );
    const pod = await livePod('pre-existing');
    expect(st.status?.readinessGate).toMatchObject({ enforced: false, pod: pod?.metadata?.name });
    expect(st.status?.readinessGate?.message).toMatch(/restart or live-migrate the VMI/);
    const gated = await probeStatus(cluster, NS, 'gated-a');
    expect((gated?.status as { readinessGate?: unknown } | undefined)?.readinessGate).toMatchObject({
      enforced: true,
    });
    // /debug/probes and vmprobe status (its formatter over the same snapshot).
    const snap = bed.agent.manager.snapshot();
    expect(snap.find((p) => p.vmi === 'pre-existing' && p.probe === 'readiness')?.readinessGate).toBe(
      'not-enforced',
    );
    expect(snap.find((p) => p.vmi === 'gated-a' && p.probe === 'readiness')?.readinessGate).toBe('enforced');
    const text = formatNotEnforced(snap);
    expect(text).toContain(`  ${NS}/pre-existing\n`);
    expect(text).not.toContain('gated-a');
    expect(text).toMatch(/Remedy: restart or live-migrate the VMI/);
    const metrics = (await bed.agent.metrics!.expose()).body;
    const notEnforced = snap.filter((p) => p.readinessGate === 'not-enforced').length;
    expect(notEnforced).toBeGreaterThanOrEqual(1);
    expect(metrics).toContain(`vmprobe_readiness_not_enforced_vmis ${notEnforced}`);
  });
});
