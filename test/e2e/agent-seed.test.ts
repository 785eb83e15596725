// The seed document's three VMIs (HTTP liveness, TCP liveness, readiness with failureThreshold 3 /
// successThreshold 3), with test-sized delays and periods, probed by an in-process agent running as
// the vmprobe service account; readiness travels through the launcher pod's gate to the pod's and
// the VMI's Ready and to the Service's EndpointSlice.
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
const NS = 'default';

beforeAll(async () => {
  bed = await startAgentBed({ cluster: { vmprobeReadinessGate: true } });
  cluster = bed.cluster;
});

afterAll(async () => {
  await bed?.stop();
});

/** A seed VMI probed every second with this initial delay, Running. */
function runSeed(file: string, name: string, initialDelaySeconds: number) {
  return runSeedVmi(cluster, file, name, {
    namespace: NS,
    timings: { initialDelaySeconds, periodSeconds: 1, timeoutSeconds: 1 },
  });
}

function vmOf(name: string) {
  const vm = cluster.kubevirt.vmFor(NS, name);
  if (!vm) throw new Error(`no simulated VM for ${name}`);
  return vm;
}

describe('seed: HTTP liveness probe with an initial delay', () => {
  it('sends no probe before initialDelaySeconds after Running, then reports LivenessProbe True; a dead server turns it False after failureThreshold', async () => {
    const { vmi } = await runSeed(SEED_VMI_FILES.httpLiveness, 'http-live', 2);
    await waitForCondition(cluster, NS, 'http-live', 'LivenessProbe', 'True');
    const running = vmi.status?.phaseTransitionTimestamps?.find(
      (t) => t.phase === 'Running',
    )?.phaseTransitionTimestamp;
    expect(running).toBeDefined();
    const vm = vmOf('http-live');
    await vm.flushRequests();
    const first = vm.requests.find((r) => r.port === 1500);
    expect(first).toBeDefined();
    // Timestamps are second-precision: the first probe is at least 2 s after the truncated time.
    expect(first?.time ?? 0).toBeGreaterThanOrEqual(new Date(String(running)).getTime() + 2_000);
    expect(first?.headers['user-agent']).toMatch(/^vmprobe\//);
    await vm.setBehaviour({ kind: 'refuse' });
    const c = await waitForCondition(cluster, NS, 'http-live', 'LivenessProbe', 'False');
    expect(c.reason).toBe('ProbeFailed');
  });
});

describe('seed: TCP liveness probe with an initial delay', () => {
  it('reports LivenessProbe True once the port accepts, False after three refused connects', async () => {
    const { pod } = await runSeed(SEED_VMI_FILES.tcpLiveness, 'tcp-live', 1);
    await waitForCondition(cluster, NS, 'tcp-live', 'LivenessProbe', 'True');
    const st = await probeStatus(cluster, NS, 'tcp-live');
    expect(st?.status?.target).toBe(pod.status?.podIP);
    expect(st?.status?.nodeName).toBe('node-a');
    await vmOf('tcp-live').setBehaviour({ kind: 'refuse' });
    await waitForCondition(cluster, NS, 'tcp-live', 'LivenessProbe', 'False');
  });
});

describe('seed: readiness probe, failureThreshold 3 / successThreshold 3', () => {
  it('follows the probe through the pod gate to the VMI Ready and the Service endpoints, flipping only after three in a row', async () => {
    await cluster.core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'ready-svc' },
        spec: { selector: { app: 'ready-vm' }, ports: [{ port: 80, targetPort: 1500 }] },
      },
    });
    await runSeed(SEED_VMI_FILES.readiness, 'ready-vm', 1);
    // New VMI: readiness starts False.
    await waitForCondition(cluster, NS, 'ready-vm', 'ReadinessProbe', 'False');
    const vm = vmOf('ready-vm');
    await waitForCondition(cluster, NS, 'ready-vm', 'ReadinessProbe', 'True');
    await vm.flushRequests();
    expect(vm.requests.filter((r) => r.port === 1500).length).toBeGreaterThanOrEqual(3);
    const readyEverywhere = async (want: string) => {
      const [pod] = (await cluster.launcherPods(NS, 'ready-vm')).filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      const gate = pod?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe');
      const podReady = pod?.status?.conditions?.find((c) => c.type === 'Ready');
      const vmi = await cluster.getVmi(NS, 'ready-vm');
      const vmiReady = vmi?.status?.conditions?.find((c) => c.type === 'Ready');
      const slices = await cluster.discovery.listNamespacedEndpointSlice({
        namespace: NS,
        labelSelector: 'kubernetes.io/service-name=ready-svc',
      });
      const eps = slices.items.flatMap((s) => s.endpoints ?? []);
      const epReady = eps.some((e) => e.conditions?.ready === true);
      return (
        gate?.status === want &&
        podReady?.status === want &&
        vmiReady?.status === want &&
        epReady === (want === 'True')
      );
    };
    await cluster.waitFor(() => readyEverywhere('True'), {
      description: 'gate, pod Ready, VMI Ready, endpoint ready',
      timeoutMs: 10_000,
    });
    // Two failures in a row do not flip it.
    const before = cluster.emu.requests.all().length;
    await vm.setBehaviour({ kind: 'status', code: 500 });
    const failedAt = vm.requestCount();
    await cluster.waitFor(async () => vm.requestCount() >= failedAt + 2, {
      description: 'two failed probes',
    });
    await vm.setBehaviour({ kind: 'healthy' });
    const healedAt = vm.requestCount();
    await cluster.waitFor(async () => vm.requestCount() >= healedAt + 2, { description: 'two more probes' });
    expect(conditionOf(await probeStatus(cluster, NS, 'ready-vm'), 'ReadinessProbe')?.status).toBe('True');
    const writes = cluster.emu.requests
      .all()
      .slice(before)
      .filter(
        (r) =>
          ['patch', 'create', 'update'].includes(r.verb) &&
          r.user === 'system:serviceaccount:vmprobe-system:vmprobe',
      );
    expect(writes).toEqual([]);
    // Three in a row do.
    await vm.setBehaviour({ kind: 'status', code: 500 });
    const c = await waitForCondition(cluster, NS, 'ready-vm', 'ReadinessProbe', 'False');
    expect(c.reason).toBe('ProbeFailed');
    await cluster.waitFor(() => readyEverywhere('False'), {
      description: 'everything not ready',
      timeoutMs: 10_000,
    });
  });
});
