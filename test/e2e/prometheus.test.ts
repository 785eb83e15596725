// A real Prometheus (Debian's `prometheus` binary) scrapes a real agent's /metrics every second on
// loopback, while the agent probes a VMI of the test bed; the VMI's probe state is read back through
// PromQL over Prometheus' HTTP API, before and after the VM's server dies. The live exposition also
// goes through `promtool check metrics`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '@vmprobe/agent/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, type TestCluster } from '../src/cluster.js';
import {
  type AgentBed,
  agentRbacFiles,
  PROMETHEUS_SCRAPE_USER,
  runSeedVmi,
  SCRAPE_IDENTITY_FILE,
  startAgentBed,
  waitForCondition,
} from './agent-helpers.js';

const hasPrometheus = spawnSync('prometheus', ['--version']).status === 0;
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPrometheus)
  console.log('prometheus not found (apt-get install prometheus): skipping the real-Prometheus test');

const NS = 'default';
const VMI = 'prom-web';

let bed: AgentBed | undefined;
let cluster: TestCluster;
let agent: Agent;
let agentUrl = '';
let prometheus: ChildProcess | undefined;
let promUrl = '';
let promLog = '';
let dataDir = '';

/** A free loopback port (Prometheus cannot report the port it bound for :0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { result: Sample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
  return body.data?.result ?? [];
}

/** Waits until the query returns exactly one sample with this value. */
async function waitForValue(promql: string, value: string, timeoutMs = 20_000): Promise<Sample> {
  return cluster.waitFor(
    async () => {
      const r = await query(promql);
      return r.length === 1 && r[0]!.value[1] === value ? r[0] : undefined;
    },
    {
      timeoutMs,
      intervalMs: 200,
      description: `${promql} == ${value} (prometheus log tail: ${promLog.slice(-500)})`,
    },
  );
}

beforeAll(async () => {
  if (!hasPrometheus) return;
  bed = await startAgentBed({
    // The agent's RBAC plus the monitoring component's scrape identity: Prometheus scrapes with the
    // vmprobe-prometheus service account's token, as the PodMonitor does.
    cluster: { vmprobeReadinessGate: true, rbacFiles: [...(agentRbacFiles() ?? []), SCRAPE_IDENTITY_FILE] },
    // Liveness action none: the failing VMI stays (with stop-launcher it would be gone, and its series too).
    agents: [{ listen: '127.0.0.1:0', processMetrics: true, liveness: undefined }],
  });
  ({ cluster, agent } = bed);
  const bound = agent.address();
  if (!bound) throw new Error('agent has no HTTP address');
  agentUrl = bound.url;

  dataDir = mkdtempSync(join(tmpdir(), 'vmprobe-prometheus-'));
  // The same scrape semantics as manifests/monitoring/podmonitor.yaml: job vmprobe, honor_labels
  // (the per-VMI `namespace` label is the VMI's), a node label.
  writeFileSync(
    join(dataDir, 'prometheus.yml'),
    `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: vmprobe
    honor_labels: true
    authorization:
      credentials: ${cluster.emu.tokenFor(PROMETHEUS_SCRAPE_USER)}
    static_configs:
      - targets: ['${agentUrl.replace('http://', '')}']
        labels:
          node: ${agent.nodeName}
`,
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(dataDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (c: Buffer) => {
    promLog = (promLog + c.toString()).slice(-4000);
  };
  prometheus.stdout?.on('data', keep);
  prometheus.stderr?.on('data', keep);
  await cluster.waitFor(
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
      const r = await fetch(`${promUrl}/-/ready`).catch(() => undefined);
      return r?.ok;
    },
    { timeoutMs: 30_000, intervalMs: 100, description: 'prometheus ready' },
  );
}, 90_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus?.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await bed?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe.skipIf(!hasPrometheus)('real Prometheus scraping the agent', () => {
  it('scrapes the agent (up == 1) with its build info', async () => {
    await waitForValue('up{job="vmprobe"}', '1');
    const info = await waitForValue('vmprobe_build_info', '1');
    expect(info.metric).toMatchObject({ job: 'vmprobe', node: agent.nodeName });
  });

  it("reads a VMI's liveness state back through PromQL, before and after its server dies", async () => {
    await runSeedVmi(cluster, SEED_VMI_FILES.httpLiveness, VMI, { namespace: NS });
    await waitForCondition(cluster, NS, VMI, 'LivenessProbe', 'True');
    const ok = await waitForValue(
      `vmprobe_probe_status{namespace="${NS}",vmi="${VMI}",probe="liveness",status="success"}`,
      '1',
    );
    // honor_labels kept the VMI's namespace (not renamed to exported_namespace).
    expect(ok.metric).toMatchObject({ namespace: NS, vmi: VMI, probe: 'liveness', job: 'vmprobe' });
    await cluster.waitFor(
      async () => {
        const r = await query(
          `vmprobe_probe_results_total{namespace="${NS}",vmi="${VMI}",probe="liveness",kind="http",result="success"}`,
        );
        return Number(r[0]?.value[1] ?? 0) > 0;
      },
      { timeoutMs: 10_000, intervalMs: 200, description: 'successful attempts counted in Prometheus' },
    );

    // The VM's HTTP server dies: liveness turns to failure, and Prometheus sees it.
    const vm = cluster.kubevirt.vmFor(NS, VMI);
    if (!vm) throw new Error('no simulated VM');
    await vm.setBehaviour({ kind: 'refuse' });
    await waitForValue(
      `vmprobe_probe_status{namespace="${NS}",vmi="${VMI}",probe="liveness",status="failure"}`,
      '1',
    );
    const failures = await query(
      `vmprobe_probe_results_total{vmi="${VMI}",probe="liveness",result="failure"}`,
    );
    expect(Number(failures[0]?.value[1])).toBeGreaterThanOrEqual(3);
    const durations = await query(
      'sum by (probe, kind) (vmprobe_probe_duration_seconds_count{job="vmprobe",probe="liveness",kind="http"})',
    );
    expect(Number(durations[0]?.value[1])).toBeGreaterThan(0);
  });

  it('serves an exposition that promtool check metrics accepts', async () => {
    if (!hasPromtool) {
      console.log('promtool not found: skipping the live promtool check');
      return;
    }
    const body = await (
      await fetch(`${agentUrl}/metrics`, {
        headers: { Authorization: `Bearer ${cluster.emu.tokenFor(PROMETHEUS_SCRAPE_USER)}` },
      })
    ).text();
    expect(body).toMatch(/^vmprobe_probe_status\{/m);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it("drops the VMI's series when the VMI is deleted (Prometheus marks them stale)", async () => {
    await cluster.deleteVmi(NS, VMI);
    await cluster.waitFor(async () => (await query(`vmprobe_probe_status{vmi="${VMI}"}`)).length === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
      description: `no vmprobe_probe_status series of ${VMI}`,
    });
    expect(await query(`vmprobe_probe_results_total{vmi="${VMI}"}`)).toEqual([]);
    // The agent itself is still scraped.
    expect((await query('up{job="vmprobe"}'))[0]?.value[1]).toBe('1');
  });
});
