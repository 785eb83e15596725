// The shipped ClusterRole is sufficient (no 403 in the other e2e tests) and minimal in effect: a rule
// taken away breaks exactly the call that needs it, and the agent's other writes go on. The role is
// edited at run time through the API as admin; the emulator enforces it for the agent identity.
import { RbacAuthorizationV1Api, type V1ClusterRole, type V1PolicyRule } from '@kubernetes/client-node';
import { createKubeWrites } from '@vmprobe/agent/kube/api';
import { ApiReporter } from '@vmprobe/agent/report/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { type AgentBed, RBAC_FILE, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

let bed: AgentBed;
let cluster: TestCluster;
let rbac: RbacAuthorizationV1Api;
let original: V1PolicyRule[];
const NS = 'default';

beforeAll(async () => {
  bed = await startAgentBed({
    cluster: { vmprobeReadinessGate: true, rbacFiles: [RBAC_FILE] },
    agents: [
      (c) => {
        const kubeConfig = c.emu.kubeConfig(VMPROBE_AGENT_USER);
        // A reporter with short backoff so a restored rule shows its effect within the test.
        const reporter = new ApiReporter({
          writes: createKubeWrites({ kubeConfig, nodeName: 'node-a' }),
          nodeName: 'node-a',
          backoff: { initialMs: 100, maxMs: 500 },
        });
        return { kubeConfig, reporter };
      },
    ],
  });
  cluster = bed.cluster;
  rbac = cluster.admin.makeApiClient(RbacAuthorizationV1Api);
  original = (await rbac.readClusterRole({ name: 'vmprobe' })).rules ?? [];
});

afterAll(async () => {
  await bed?.stop();
});

async function setRules(rules: V1PolicyRule[]): Promise<void> {
  const role: V1ClusterRole = await rbac.readClusterRole({ name: 'vmprobe' });
  role.rules = rules;
  await rbac.replaceClusterRole({ name: 'vmprobe', body: role });
}

function without(resource: string): V1PolicyRule[] {
  return original.filter((r) => !(r.resources ?? []).includes(resource));
}

const denied = (since: number) =>
  cluster.emu.requests.filter({ since, user: VMPROBE_AGENT_USER }).filter((r) => r.status === 403);

async function gateOf(name: string): Promise<string | undefined> {
  const [pod] = await cluster.launcherPods(NS, name);
  return pod?.status?.conditions?.find((c) => c.type === 'vmprobe.io/ReadinessProbe')?.status;
}

describe('RBAC: a dropped rule breaks exactly the call that needs it', () => {
  it('without events: the status and the pod gate are still written, only the Event create is denied', async () => {
    const vmi = await seedVmi(SEED_VMI_FILES.readiness, 'rbac-a', {
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
    });
    Object.assign((vmi.spec as Record<string, object>).readinessProbe!, {
      successThreshold: 1,
      failureThreshold: 1,
    });
    await cluster.createVmi(vmi, { namespace: NS });
    await cluster.waitForRunning(NS, 'rbac-a');
    await waitForCondition(cluster, NS, 'rbac-a', 'ReadinessProbe', 'True');
    await cluster.waitFor(async () => (await gateOf('rbac-a')) === 'True', { description: 'gate True' });

    await setRules(without('events'));
    const t = Date.now();
    await cluster.kubevirt.vmFor(NS, 'rbac-a')!.setBehaviour({ kind: 'status', code: 503 });
    await waitForCondition(cluster, NS, 'rbac-a', 'ReadinessProbe', 'False');
    await cluster.waitFor(async () => (await gateOf('rbac-a')) === 'False', { description: 'gate False' });
    const d = await cluster.waitFor(async () => (denied(t).length > 0 ? denied(t) : undefined), {
      description: 'a denied event create',
    });
    expect(d.every((r) => r.resource === 'events' && r.verb === 'create')).toBe(true);
  });

  it('without pods/status: the VMIProbeStatus is still written, only the pod patch is denied; restoring the rule heals the gate', async () => {
    await setRules(without('pods/status'));
    const t = Date.now();
    await cluster.kubevirt.vmFor(NS, 'rbac-a')!.setBehaviour({ kind: 'healthy' });
    await waitForCondition(cluster, NS, 'rbac-a', 'ReadinessProbe', 'True');
    const d = await cluster.waitFor(async () => (denied(t).length > 0 ? denied(t) : undefined), {
      description: 'a denied pod status patch',
    });
    expect(d.every((r) => r.resource === 'pods' && r.subresource === 'status' && r.verb === 'patch')).toBe(
      true,
    );
    expect(await gateOf('rbac-a')).toBe('False');

    await setRules(original);
    await cluster.waitFor(async () => (await gateOf('rbac-a')) === 'True', {
      description: 'gate True after the rule is back',
      timeoutMs: 10_000,
    });
  });
});
