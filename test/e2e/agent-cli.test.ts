// `vmprobe agent` as a process: bad flags exit 2 with a message; against the test bed it serves
// /readyz once the initial lists synced, /debug/probes lists the node's probes, and SIGTERM stops it
// with exit 0 after flushing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import { REPO_ROOT, VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { loopbackVmCidr } from '../src/vmsim/index.js';
import { agentRbacFiles, seedVmi, waitForCondition } from './agent-helpers.js';
import { freePort, spawnNode } from './cli-process.js';

const MAIN = join(REPO_ROOT, 'agent/src/cli/main.ts');

function run(args: string[], env: Record<string, string> = {}) {
  return spawnNode(['--import', 'tsx', MAIN, 'agent', ...args], env);
}

describe('vmprobe agent: bad usage', () => {
  it.each([
    [[], 'node-name'],
    [['--node-name', 'n', '--allow-probe-cidr', '10.0.0.0/40'], 'prefix'],
    [['--node-name', 'n', '--unsafe-probe-cidr', 'loopback'], 'not a CIDR'],
    [['--node-name', 'n', '--listen', 'nowhere'], 'listen address'],
    [['--node-name', 'n', '--liveness-action', 'reboot'], 'liveness-action'],
    [['--node-name', 'n', '--max-kills-per-minute', 'many'], 'max-kills-per-minute'],
    [['--node-name', 'n', '--max-kills-per-minute=-1'], 'integer from 0 to 10000'],
    [['--node-name', 'n', '--max-kills-per-minute', '2.5'], 'integer from 0 to 10000'],
    [['--node-name', 'n', '--kubeconfig', '/nonexistent/kubeconfig'], 'no such file'],
  ])('%j exits 2 naming the problem', async (args, words) => {
    const p = run(args);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(words);
  });
});

describe('vmprobe agent against the test bed', () => {
  let cluster: TestCluster;
  let dir: string;
  beforeAll(async () => {
    const rbacFiles = agentRbacFiles();
    cluster = await startTestCluster({ ...(rbacFiles ? { rbacFiles } : {}) });
    dir = mkdtempSync(join(tmpdir(), 'vmprobe-cli-'));
  });
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns ready after the initial lists, serves /debug/probes, and exits 0 on SIGTERM', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await cluster.emu.writeKubeconfig(VMPROBE_AGENT_USER, kubeconfig);
    await cluster.createVmi(
      await seedVmi(SEED_VMI_FILES.readiness, 'cli-vm', { initialDelaySeconds: 0, periodSeconds: 1 }),
    );
    await cluster.waitForRunning('default', 'cli-vm');
    const port = await freePort();
    // NODE_NAME and KUBECONFIG from the environment.
    const p = run(
      [
        '--listen',
        `127.0.0.1:${port}`,
        '--log-level',
        'debug',
        '--max-kills-per-minute',
        '7',
        `--unsafe-probe-cidr=${loopbackVmCidr()}`,
      ],
      {
        NODE_NAME: 'node-a',
        KUBECONFIG: kubeconfig,
      },
    );
    try {
      await cluster.waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        {
          timeoutMs: 20_000,
          description: '/readyz 200',
        },
      );
      await waitForCondition(cluster, 'default', 'cli-vm', 'ReadinessProbe', 'True');
      const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(healthz.status).toBe(200);
      expect(await healthz.text()).toContain('[+]watches ok\n');
      const unauthenticated = await fetch(`http://127.0.0.1:${port}/debug/probes`);
      expect(unauthenticated.status).toBe(401);
      const admin = { Authorization: `Bearer ${cluster.emu.tokenFor('admin')}` };
      const probes = (await (
        await fetch(`http://127.0.0.1:${port}/debug/probes`, { headers: admin })
      ).json()) as {
        vmi: string;
        probe: string;
        state: string;
      }[];
      expect(probes).toEqual([
        expect.objectContaining({ vmi: 'cli-vm', probe: 'readiness', state: 'success' }),
      ]);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const lines = p
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.msg === 'agent stopped')).toBe(true);
      expect(lines.find((l) => l.msg === 'vmprobe agent starting')).toMatchObject({ maxKillsPerMinute: 7 });
      // Every line about a probe carries node, namespace, vmi and probe.
      const probeLines = lines.filter((l) => l.probe !== undefined);
      expect(probeLines.length).toBeGreaterThan(0);
      for (const l of probeLines)
        expect(l).toMatchObject({ node: 'node-a', namespace: 'default', vmi: 'cli-vm' });
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  }, 60_000);
});
