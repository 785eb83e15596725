// The agent with --guest-probes against the test bed: a VMI whose readiness probe is an exec and
// whose liveness probe is a guest-agent ping, answered by a fake launcher on the socket path of its
// launcher pod's UID. Through the real reporter to VMIProbeStatus and the pod's readiness gate;
// suspended (not run, readiness held) while the VMI migrates.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeLauncher, startFakeLauncher } from '@vmprobe/test/launcher/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import type { Vmi } from '../src/kubevirt/index.js';
import { type AgentBed, conditionOf, probeStatus, startAgentBed, waitForCondition } from './agent-helpers.js';

const NS = 'default';
const NAME = 'guest-vm';

describe('agent with --guest-probes', () => {
  let bed: AgentBed | undefined;
  let cluster: TestCluster;
  let root: string;
  let launcher: FakeLauncher | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vl-'));
    bed = await startAgentBed({
      cluster: { vmprobeReadinessGate: true, nodes: ['node-a', 'node-b'] },
      agents: [{ guestProbes: { podsRoot: root } }],
    });
    cluster = bed.cluster;
  });
  afterAll(async () => {
    await launcher?.stop();
    await bed?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const gateOf = async () => {
    const [pod] = await cluster.launcherPods(NS, NAME);
    return pod?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe')?.status;
  };
  const waitForGate = (want: string) =>
    cluster.waitFor(async () => ((await gateOf()) === want ? true : undefined), {
      timeoutMs: 15_000,
      description: `pod gate ${want}`,
    });

  it('unknown until the launcher socket exists, then exec readiness and ping liveness follow the guest', async () => {
    const vmi = await readManifest<Vmi>(SEED_VMI_FILES.tcpLiveness);
    vmi.metadata = { name: NAME };
    const spec = vmi.spec as Record<string, unknown>;
    spec.readinessProbe = { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, timeoutSeconds: 1 };
    spec.livenessProbe = { guestAgentPing: {}, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 };
    await cluster.createVmi(vmi, { namespace: NS });
    const { pod } = await cluster.waitForRunning(NS, NAME);
    const podUid = pod.metadata?.uid as string;
    expect(podUid).toBeTruthy();

    // No socket yet: attempts run and are unknown (ProbeError), which never moves a verdict: liveness
    // stays Unknown, nothing is killed.
    await cluster.waitFor(
      async () => {
        const l = bed?.agent.snapshot().find((p) => p.vmi === NAME && p.probe === 'liveness');
        return l?.lastProbeTime ? l : undefined;
      },
      { timeoutMs: 15_000, description: 'a liveness attempt' },
    );
    expect(conditionOf(await probeStatus(cluster, NS, NAME), 'LivenessProbe')?.status).toBe('Unknown');
    expect(await cluster.launcherPods(NS, NAME)).toHaveLength(1);

    launcher = await startFakeLauncher({ podsRoot: root, podUid, domainName: `${NS}_${NAME}` });
    await waitForCondition(cluster, NS, NAME, 'ReadinessProbe', 'True');
    await waitForCondition(cluster, NS, NAME, 'LivenessProbe', 'True');
    await waitForGate('True');
    const st = await probeStatus(cluster, NS, NAME);
    expect(st?.status?.target).toBe(launcher.socketPath);
    expect(launcher.calls.some((x) => x.method === 'Exec' && x.request.Command === 'cat')).toBe(true);

    // The command exits 1: readiness False (gate too); the agent still answers pings: liveness stays.
    launcher.guest = { guest: 'answers', exitCode: 1, stdOut: 'missing' };
    const r = await waitForCondition(cluster, NS, NAME, 'ReadinessProbe', 'False');
    expect(r.message).toBe('exec cat /tmp/ready: exit code 1: missing');
    await waitForGate('False');
    expect(conditionOf(await probeStatus(cluster, NS, NAME), 'LivenessProbe')?.status).toBe('True');
    launcher.guest = { guest: 'answers' };
    await waitForCondition(cluster, NS, NAME, 'ReadinessProbe', 'True');
  });

  it('while migrating: no guest calls, readiness held True (Suspended), liveness Unknown (Suspended)', async () => {
    expect(launcher).toBeDefined();
    await cluster.kubevirt.startMigration(NS, NAME, 'node-b');
    await cluster.waitFor(
      async () => {
        const st = await probeStatus(cluster, NS, NAME);
        const r = conditionOf(st, 'ReadinessProbe');
        const l = conditionOf(st, 'LivenessProbe');
        return r?.reason === 'Suspended' && l?.reason === 'Suspended' ? true : undefined;
      },
      { timeoutMs: 15_000, description: 'both probes Suspended' },
    );
    const st = await probeStatus(cluster, NS, NAME);
    expect(conditionOf(st, 'ReadinessProbe')?.status).toBe('True');
    expect(conditionOf(st, 'LivenessProbe')?.status).toBe('Unknown');
    expect(await gateOf()).toBe('True');
    // The guest agent goes away, as during a real migration; nothing may notice it. Absence of calls
    // can only be shown over time: three probe periods.
    launcher!.guest = { guest: 'absent' };
    const before = launcher!.calls.length;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(launcher!.calls.length).toBe(before);
    expect(conditionOf(await probeStatus(cluster, NS, NAME), 'ReadinessProbe')?.status).toBe('True');
  });
});
