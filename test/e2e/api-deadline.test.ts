// Issue 8 item 8: every API request has a deadline. A list and a status PATCH that the API server
// accepts and never answers are abandoned at the deadline and retried like a 5xx, and the
// transition the PATCH carried is still stored — against the API emulator, as the vmprobe service
// account, through the real client-node.
import type { Agent } from '@vmprobe/agent/agent';
import { noopObserver } from '@vmprobe/agent/observer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import { type AgentBed, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

const NS = 'default';
const HANG_MS = 10 * 60_000;
const DEADLINE_MS = 1500;

let bed: AgentBed;
let cluster: TestCluster;
let agent: Agent;
/** The agent's API requests as its observer saw them: verb resource code seconds. */
const seen: { verb: string; resource: string; code: number; seconds: number }[] = [];

beforeAll(async () => {
  bed = await startAgentBed({
    agents: [
      (c) => {
        // The agent's first VMI list hangs: it must be abandoned and retried for the agent to sync.
        c.emu.faults.add({ verb: 'list', path: /virtualmachineinstances$/, latencyMs: HANG_MS, count: 1 });
        return {
          apiRequestTimeoutMs: DEADLINE_MS,
          observer: {
            ...noopObserver,
            apiRequest: (verb, resource, code, seconds) => seen.push({ verb, resource, code, seconds }),
          },
        };
      },
    ],
  });
  ({ cluster, agent } = bed);
}, 120_000);

afterAll(async () => {
  await bed?.stop();
});

describe('API request deadlines', () => {
  it('a hung VMI list is abandoned at the deadline and retried: the agent still syncs', async () => {
    expect(agent.ready).toBe(true);
    const lists = seen.filter((r) => r.verb === 'list' && r.resource === 'virtualmachineinstances');
    // The hung list failed (code 0) at about the deadline, far before the server would answer; a
    // later one succeeded.
    expect(lists.length).toBeGreaterThanOrEqual(2);
    expect(lists[0]?.code).toBe(0);
    expect(lists[0]?.seconds).toBeLessThan(HANG_MS / 1000 / 2);
    expect(lists.some((r) => r.code === 200)).toBe(true);
  });

  it('a status PATCH that is never answered is retried after the deadline and the transition is stored', async () => {
    const vmi = await seedVmi(SEED_VMI_FILES.readiness, 'dl-a', {
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
    });
    const hang = /\/vmiprobestatuses\/dl-a\/status$/;
    const t = Date.now();
    cluster.emu.faults.add({ verb: 'patch', path: hang, latencyMs: HANG_MS, count: 1 });
    await cluster.createVmi(vmi, { namespace: NS });
    await cluster.waitForRunning(NS, 'dl-a');
    const cond = await waitForCondition(cluster, NS, 'dl-a', 'ReadinessProbe', 'True');
    expect(cond.reason).toBe('ProbeSucceeded');
    // The hung patch was abandoned (code 0, about the deadline), a retry stored the transition.
    const patches = seen.filter((r) => r.verb === 'patch' && r.resource === 'vmiprobestatuses/status');
    const hung = patches.findIndex((r) => r.code === 0);
    expect(hung).toBeGreaterThanOrEqual(0);
    expect(patches[hung]?.seconds).toBeGreaterThanOrEqual((DEADLINE_MS - 100) / 1000);
    expect(patches[hung]?.seconds).toBeLessThan(HANG_MS / 1000 / 2);
    expect(patches.slice(hung + 1).some((r) => r.code === 200)).toBe(true);
    expect(t).toBeGreaterThan(0);
  }, 120_000);
});
