// Benchmark: the agent as shipped probing N VMIs × 2 probes (liveness tcpSocket + readiness
// httpGet) at periodSeconds 1, against design §6 — and how that cost grows with N.
//
//   npm run bench:agent -- [--sizes 100,500,1000,2000] [--seconds 20] [--node-options '…'] [--node-args '…']
//                          [--max-warmup S] [--json FILE]
//   npm run bench:agent -- --vmis 1000 --seconds 60      (one size: the same as --sizes 1000)
//
// Each size is a fresh test bed and a fresh agent, one after another; each prints its full table,
// and the end prints one growth table (CPU %, RSS, lag p99, false failures and CPU per probe per
// size). The default (four sizes, 20 s windows) takes ~15–20 minutes, mostly warm-up: the agent's
// reporter writes ~3 API requests per new VMI at the shipped 20 writes/s, and the window starts
// only after those (2,000 VMIs: ≥ 300 s). --max-warmup caps each size's warm-up (default 300 s +
// 0.6 s per VMI); a size that fails is shown as failed in the growth table and the next size runs.
// --json writes the growth rows (for scripts/bench-runtimes.ts).
//
// Three processes: this one (the harness: polls and prints), the test bed (API emulator, emulated
// KubeVirt, VM simulator in loopback mode) in a forked child, and the agent — the built
// bundle (`agent/bundle`, what the image runs) under plain `node`, started as `node agent/bin/vmprobe.js agent` with the DaemonSet's
// args and NODE_OPTIONS (read from manifests/base/daemonset.yaml unless --node-options is given).
// `--node-args` adds node command-line flags that NODE_OPTIONS refuses, for profiling only (e.g.
// `--node-args='--cpu-prof --cpu-prof-dir=/tmp/prof'`; the profile is written when the agent exits).
// Needs `npm run build` first.
//
// Warm-up is not measured: the window starts once every probe reports success in /debug/probes,
// the agent has made no API write for 5 s (its reporter runs at the shipped 20 writes/s, so ~3
// writes per new VMI take a while) and the emulated KubeVirt is idle, plus a 3 s settle.
// In the window, all from outside the agent: CPU from /proc/<pid>/stat (utime + stime, all
// threads), RSS from /proc/<pid>/status every second (VmHWM for the peak since start), schedule lag
// from the agent's own vmprobe_probe_schedule_lag_seconds histogram (two scrapes of /metrics:
// quantiles interpolated within buckets as PromQL's histogram_quantile does, plus the share ≤ 10 ms),
// false failures from vmprobe_probe_results_total (every VM is healthy, so any failed or unknown
// attempt is false) and API requests from the emulator's request log.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { nextMessage } from './lib/ipc.js';
import { procCpuSeconds } from './lib/stats.js';
import { createRunningVmis } from './lib/testbed.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = dirname(dirname(SELF));
const AGENT_BIN = join(ROOT, 'agent/bin/vmprobe.js');
const DAEMONSET = join(ROOT, 'manifests/base/daemonset.yaml');
const NODE = 'node-a';
const NS = 'bench';
const MIB = 1024 * 1024;
const GATE = 'vmprobe.io/ReadinessProbe';

type ToChild = { type: 'count'; since: number; until: number } | { type: 'gates' } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; kubeconfig: string; vmis: number; setupSeconds: number }
  | { type: 'counts'; total: number; byVerb: Record<string, number>; idle: boolean }
  | { type: 'gates'; pods: number; gated: number; written: number; trueNow: number }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// Child: the test bed with N running VMIs.

async function child(vmis: number, dir: string): Promise<void> {
  const { startTestCluster } = await import('../test/src/cluster.js');
  const { VMPROBE_AGENT_USER } = await import('../test/src/emulator/index.js');
  const t0 = performance.now();
  const cluster = await startTestCluster({
    namespaces: [NS],
    vmprobeReadinessGate: true,
    historySize: 20_000,
    timing: { scheduleMs: 0, bootMs: 0, terminateMs: 0 },
  });
  const send = (m: FromChild) => process.send?.(m);
  process.on('message', async (m: ToChild) => {
    if (m.type === 'count') {
      const byVerb: Record<string, number> = {};
      let total = 0;
      for (const r of cluster.emu.requests.all()) {
        if (r.user !== VMPROBE_AGENT_USER || r.time < m.since || r.time >= m.until) continue;
        byVerb[r.verb] = (byVerb[r.verb] ?? 0) + 1;
        total++;
      }
      send({ type: 'counts', total, byVerb, idle: cluster.kubevirt.idle });
    } else if (m.type === 'gates') {
      // Launcher pods listing vmprobe's gate (injected by the webhook) and how many have the
      // agent's condition on them (any status / True).
      let pods = 0;
      let gated = 0;
      let written = 0;
      let trueNow = 0;
      for (const pod of cluster.emu.store.list({ apiVersion: 'v1', kind: 'Pod' }, { namespace: NS })) {
        pods++;
        if (!pod.spec?.readinessGates?.some((g: { conditionType?: string }) => g.conditionType === GATE))
          continue;
        gated++;
        const c = pod.status?.conditions?.find((x: { type?: string }) => x.type === GATE);
        if (c) written++;
        if (c?.status === 'True') trueNow++;
      }
      send({ type: 'gates', pods, gated, written, trueNow });
    } else if (m.type === 'stop') {
      await cluster.stop().catch(() => undefined);
      process.exit(0);
    }
  });
  const names = Array.from({ length: vmis }, (_, i) => `vm-${String(i).padStart(4, '0')}`);
  await createRunningVmis(cluster, NS, names, {
    domain: { devices: {}, resources: { requests: { memory: '64M' } } },
    livenessProbe: { tcpSocket: { port: 1500 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    readinessProbe: { httpGet: { port: 1500 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    terminationGracePeriodSeconds: 0,
  });
  const kubeconfig = join(dir, 'agent.kubeconfig');
  await cluster.emu.writeKubeconfig(VMPROBE_AGENT_USER, kubeconfig);
  send({ type: 'ready', kubeconfig, vmis, setupSeconds: (performance.now() - t0) / 1000 });
}

// ---------------------------------------------------------------------------------------------
// The agent process and what can be read about it from outside.

/**
 * The vmprobe container's args, NODE_OPTIONS and other literal env values (MALLOC_ARENA_MAX) in the
 * shipped DaemonSet (env from fieldRefs — the node name — are set by the harness itself).
 */
function shippedContainer(): { args: string[]; nodeOptions: string; env: Record<string, string> } {
  type Container = { name?: string; args?: string[]; env?: { name: string; value?: string }[] };
  for (const doc of parseAllDocuments(readFileSync(DAEMONSET, 'utf8'))) {
    const obj = doc.toJS() as {
      kind?: string;
      spec?: { template?: { spec?: { containers?: Container[] } } };
    };
    if (obj?.kind !== 'DaemonSet') continue;
    const c = obj.spec?.template?.spec?.containers?.find((x) => x.name === 'vmprobe');
    if (!c) break;
    return {
      args: c.args ?? ['agent'],
      nodeOptions: c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '',
      env: Object.fromEntries(
        (c.env ?? [])
          .filter((e) => e.name !== 'NODE_OPTIONS' && typeof e.value === 'string')
          .map((e) => [e.name, e.value as string]),
      ),
    };
  }
  throw new Error(`no vmprobe container in ${DAEMONSET}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** VmRSS and VmHWM (peak RSS since start) of a process, in bytes. */
function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

/** Busy and total jiffies of all CPUs (/proc/stat), to show how contended the machine was. */
function machineCpu(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** Sample lines of a Prometheus exposition: `name{labels} value` → value, keyed by the series text. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Sum over series of `name` whose labels contain every `must` fragment. */
function sumOf(m: Map<string, number>, name: string, ...must: string[]): number {
  let s = 0;
  for (const [k, v] of m) {
    if ((k === name || k.startsWith(`${name}{`)) && must.every((f) => k.includes(f))) s += v;
  }
  return s;
}

interface LagHistogram {
  /** Cumulative counts per upper bound (seconds), ascending, +Inf last. */
  buckets: { le: number; count: number }[];
  count: number;
}

function lagHistogram(m: Map<string, number>): LagHistogram {
  const name = 'vmprobe_probe_schedule_lag_seconds';
  const buckets: { le: number; count: number }[] = [];
  for (const [k, v] of m) {
    const le = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k)?.[1];
    if (le !== undefined)
      buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count: m.get(`${name}_count`) ?? 0 };
}

function histogramDelta(a: LagHistogram, b: LagHistogram): LagHistogram {
  return {
    buckets: b.buckets.map((x, i) => ({ le: x.le, count: x.count - (a.buckets[i]?.count ?? 0) })),
    count: b.count - a.count,
  };
}

/** PromQL histogram_quantile: linear interpolation inside the bucket holding rank q·count. */
function histogramQuantile(h: LagHistogram, q: number): number {
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Number.POSITIVE_INFINITY) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return Number.NaN;
}

/** Share of observations ≤ `le` (which must be a bucket bound). */
function shareAtMost(h: LagHistogram, le: number): number {
  const b = h.buckets.find((x) => x.le === le);
  return b && h.count > 0 ? b.count / h.count : Number.NaN;
}

// ---------------------------------------------------------------------------------------------
// Parent: start both, wait out the warm-up, measure the window, print the table.

/** One size's numbers, for the growth table and --json. */
interface SizeResult {
  vmis: number;
  cpuPercent: number;
  rssMiB: number;
  rssMaxMiB: number;
  lagP99Ms: number;
  falseFailures: number;
  attemptsPerSecond: number;
  /** CPU microseconds per probe attempt in the window. */
  cpuUsPerProbe: number;
  machineBusyPercent: number;
}

async function parent(
  vmis: number,
  seconds: number,
  nodeOptionsFlag: string | undefined,
  nodeArgs: string[],
  maxWarmup: number,
): Promise<SizeResult> {
  if (!existsSync(join(ROOT, 'agent/bundle/vmprobe.js')))
    throw new Error('agent/bundle missing: run `npm run build`');
  const shipped = shippedContainer();
  const nodeOptions = nodeOptionsFlag ?? shipped.nodeOptions;
  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-bench-'));
  const testbed = fork(SELF, ['--child', '--vmis', String(vmis), '--dir', dir], {
    execArgv: ['--import', 'tsx'],
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let agent: ChildProcess | undefined;
  const cleanup = async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent?.once('exit', r));
    }
    if (testbed.exitCode === null && testbed.connected) {
      testbed.send({ type: 'stop' } satisfies ToChild);
      await new Promise((r) => testbed.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const count = async (since: number, until: number) => {
    const reply = nextMessage<FromChild, 'counts'>(testbed, 'counts', 'test bed');
    testbed.send({ type: 'count', since, until } satisfies ToChild);
    return reply;
  };

  try {
    process.stderr.write(`test bed: starting ${vmis} VMIs in a child process…\n`);
    const ready = await nextMessage<FromChild, 'ready'>(testbed, 'ready', 'test bed');
    process.stderr.write(`test bed: ${ready.vmis} VMIs Running after ${ready.setupSeconds.toFixed(1)} s\n`);

    const port = await freePort();
    const { loopbackVmCidr } = await import('../test/src/vmsim/index.js');
    const args = [
      ...nodeArgs,
      AGENT_BIN,
      ...shipped.args.filter((a) => !a.startsWith('--listen')),
      `--listen=127.0.0.1:${port}`,
      // the simulated VMs live on loopback addresses, which the agent otherwise never probes
      `--unsafe-probe-cidr=${loopbackVmCidr()}`,
      // the harness polls /metrics and /debug/probes without a token (the guard's reviews are cached
      // for minutes, so it would not change the steady-state numbers)
      '--insecure-endpoints',
      `--node-name=${NODE}`,
      `--kubeconfig=${ready.kubeconfig}`,
    ];
    const shippedEnv = Object.entries(shipped.env)
      .map(([k, v]) => `${k}=${v} `)
      .join('');
    process.stderr.write(`agent: ${shippedEnv}NODE_OPTIONS='${nodeOptions}' node ${args.join(' ')}\n`);
    const startedAt = performance.now();
    agent = spawn(process.execPath, args, {
      env: { ...process.env, ...shipped.env, NODE_OPTIONS: nodeOptions },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = agent.pid;
    if (pid === undefined) throw new Error('agent did not start');
    // The agent logs JSON lines to stdout (info: one per transition); count them, show warnings.
    const logLevels: Record<string, number> = {};
    let partial = '';
    agent.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const level = /"level":(\d+)/.exec(line)?.[1] ?? '?';
        logLevels[level] = (logLevels[level] ?? 0) + 1;
        if (Number(level) >= 40 && (logLevels[level] ?? 0) <= 5) process.stderr.write(`agent log: ${line}\n`);
      }
    });
    const exited = new Promise<never>((_, reject) =>
      agent?.once('exit', (code, sig) => reject(new Error(`agent exited (${code ?? sig})`))),
    );
    exited.catch(() => undefined);
    const base = `http://127.0.0.1:${port}`;
    const get = async (path: string) => {
      const res = await Promise.race([fetch(base + path), exited]);
      return { status: res.status, text: await res.text() };
    };

    // Warm-up: ready, every probe succeeding, no write for 5 s, KubeVirt idle.
    const probes = vmis * 2;
    let readyAt: number | undefined;
    let succeedingAt: number | undefined;
    // Issue 9: a node that starts with N readiness VMIs — when is every launcher pod's gate written
    // (first the condition at all, then True: the pod Ready)? Pods carry the gate from the webhook.
    let gatesWrittenAt: number | undefined;
    let gatesTrueAt: number | undefined;
    let gatedPods = 0;
    const gates = async () => {
      const reply = nextMessage<FromChild, 'gates'>(testbed, 'gates', 'test bed');
      testbed.send({ type: 'gates' } satisfies ToChild);
      const g = await reply;
      gatedPods = g.gated;
      if (g.gated > 0 && g.written === g.gated) gatesWrittenAt ??= performance.now();
      if (g.gated > 0 && g.trueNow === g.gated) gatesTrueAt ??= performance.now();
    };
    for (;;) {
      if ((performance.now() - startedAt) / 1000 > maxWarmup) throw new Error(`warm-up over ${maxWarmup} s`);
      await Promise.race([new Promise((r) => setTimeout(r, 1000)), exited]);
      if (gatesTrueAt === undefined) await gates();
      const r = await get('/readyz').catch(() => undefined);
      if (r?.status !== 200) continue;
      readyAt ??= performance.now();
      const snap = JSON.parse((await get('/debug/probes')).text) as { state: string }[];
      const ok = snap.filter((s) => s.state === 'success').length;
      if (ok < probes) continue;
      succeedingAt ??= performance.now();
      const now = Date.now();
      const recent = await count(now - 5000, now + 1);
      const writes =
        recent.total - (recent.byVerb.list ?? 0) - (recent.byVerb.watch ?? 0) - (recent.byVerb.get ?? 0);
      if (writes === 0 && recent.idle) break;
    }
    const warmup = (performance.now() - startedAt) / 1000;
    const sinceStart = (t: number | undefined) =>
      t === undefined ? 'not yet' : `${((t - startedAt) / 1000).toFixed(1)} s`;
    process.stderr.write(
      `gates: ${gatedPods} launcher pods listing ${GATE}; condition on all of them ${sinceStart(gatesWrittenAt)}, True on all ${sinceStart(gatesTrueAt)} after the agent started (1 s resolution)\n`,
    );
    const warmupMetrics = parseMetrics((await get('/metrics')).text);
    const hwmWarmup = procMemory(pid).hwm;
    process.stderr.write(
      `agent: all ${probes} probes succeeding at ${((succeedingAt! - startedAt) / 1000).toFixed(1)} s, writes done at ${warmup.toFixed(1)} s; measuring ${seconds} s…\n`,
    );
    await new Promise((r) => setTimeout(r, 3_000));

    // The measured window.
    const m0 = parseMetrics((await get('/metrics')).text);
    const wallStart = Date.now();
    const t0 = performance.now();
    const cpu0 = procCpuSeconds(pid);
    const bed0 = testbed.pid ? procCpuSeconds(testbed.pid) : Number.NaN;
    const machine0 = machineCpu();
    const rssSamples: number[] = [];
    const sampler = setInterval(() => rssSamples.push(procMemory(pid).rss), 1000);
    await Promise.race([new Promise((r) => setTimeout(r, seconds * 1000)), exited]);
    clearInterval(sampler);
    const cpu = procCpuSeconds(pid) - cpu0;
    const bedCpu = (testbed.pid ? procCpuSeconds(testbed.pid) : Number.NaN) - bed0;
    const machine1 = machineCpu();
    const machineBusy = (machine1.busy - machine0.busy) / (machine1.total - machine0.total);
    const elapsed = (performance.now() - t0) / 1000;
    const wallEnd = Date.now();
    const mem = procMemory(pid);
    const m1 = parseMetrics((await get('/metrics')).text);
    const counts = await count(wallStart, wallEnd);

    // Numbers.
    const lag = histogramDelta(lagHistogram(m0), lagHistogram(m1));
    const results = (m: Map<string, number>, r: string) =>
      sumOf(m, 'vmprobe_probe_results_total', `result="${r}"`);
    const bad = (m: Map<string, number>) => results(m, 'failure') + results(m, 'unknown');
    const attempts = ['success', 'warning', 'failure', 'unknown'].reduce(
      (s, r) => s + results(m1, r) - results(m0, r),
      0,
    );
    const falseInWindow = bad(m1) - bad(m0);
    const gcSeconds =
      sumOf(m1, 'vmprobe_nodejs_gc_duration_seconds_sum') -
      sumOf(m0, 'vmprobe_nodejs_gc_duration_seconds_sum');
    // GC pauses by kind (minor = scavenges of the young generation, major = mark-compact, …).
    const gcKinds = ['minor', 'major', 'incremental', 'weakcb']
      .map((kind) => {
        const s = (m: Map<string, number>, n: string) =>
          sumOf(m, `vmprobe_nodejs_gc_duration_seconds_${n}`, `kind="${kind}"`);
        const ms = (s(m1, 'sum') - s(m0, 'sum')) * 1000;
        return `${kind} ${ms.toFixed(0)} ms/${s(m1, 'count') - s(m0, 'count')}`;
      })
      .join(', ');
    const writesInWindow = ['create', 'update', 'patch', 'delete'].reduce(
      (s, v) => s + (counts.byVerb[v] ?? 0),
      0,
    );
    const perMin = (n: number) => (n * 60) / elapsed;
    const steadyRss = rssSamples.length ? rssSamples.reduce((a, b) => a + b, 0) / rssSamples.length : mem.rss;
    const maxRssWindow = Math.max(mem.rss, ...rssSamples);
    const cpuPct = (cpu / elapsed) * 100;
    const lagP50 = histogramQuantile(lag, 0.5) * 1000;
    const lagP99 = histogramQuantile(lag, 0.99) * 1000;
    const within10 = shareAtMost(lag, 0.01);

    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const row = (name: string, value: string, target: string, ok?: boolean) =>
      `  ${name.padEnd(22)} ${value.padEnd(44)} ${target.padEnd(16)} ${ok === undefined ? '' : verdict(ok)}`;
    const lines = [
      `vmprobe agent benchmark: ${vmis} VMIs × 2 probes (liveness tcp + readiness http), periodSeconds 1`,
      `agent: built agent/bundle under plain node ${process.version}, NODE_OPTIONS='${nodeOptions}'; ${elapsed.toFixed(1)} s steady-state window`,
      '',
      `  ${'measure'.padEnd(22)} ${'value'.padEnd(44)} ${'design §6'.padEnd(16)} verdict`,
      row('CPU', `${cpuPct.toFixed(1)} % of one core`, '≤ 15 %', cpuPct <= 15),
      row(
        'RSS steady',
        `${(steadyRss / MIB).toFixed(0)} MiB mean, ${(maxRssWindow / MIB).toFixed(0)} MiB max in window`,
        '≤ 150 MiB',
        maxRssWindow <= 150 * MIB,
      ),
      row(
        'RSS peak since start',
        `${(mem.hwm / MIB).toFixed(0)} MiB (${(hwmWarmup / MIB).toFixed(0)} MiB by end of warm-up)`,
        '',
        undefined,
      ),
      row(
        'schedule lag',
        `p50 ${lagP50.toFixed(1)} ms, p99 ${lagP99.toFixed(1)} ms; ${(within10 * 100).toFixed(2)} % ≤ 10 ms`,
        'p99 ≤ 10 ms',
        within10 >= 0.99,
      ),
      row('false failures', `${falseInWindow} failed/unknown attempts in window`, '0', falseInWindow === 0),
      row('  since start', `${bad(m1)} (${bad(warmupMetrics)} during warm-up)`, '', undefined),
      row(
        'API requests/min',
        `${perMin(counts.total).toFixed(1)} (writes ${perMin(writesInWindow).toFixed(1)})`,
        '0 writes',
        writesInWindow === 0,
      ),
      '',
      `  contention: the test bed used ${((bedCpu / elapsed) * 100).toFixed(0)} % of a core; the whole machine was ${(machineBusy * 100).toFixed(0)} % busy (of ${cpus().length} cores) in the window`,
      `  memory at the end: V8 heap used ${(sumOf(m1, 'vmprobe_nodejs_heap_size_used_bytes') / MIB).toFixed(0)} MiB of ${(sumOf(m1, 'vmprobe_nodejs_heap_size_total_bytes') / MIB).toFixed(0)} MiB, external ${(sumOf(m1, 'vmprobe_nodejs_external_memory_bytes') / MIB).toFixed(0)} MiB`,
      `  probe attempts ${attempts} (${(attempts / elapsed).toFixed(0)}/s, expected ~${probes}/s); GC ${(gcSeconds * 1000).toFixed(0)} ms in window (${gcKinds}); API by verb ${JSON.stringify(counts.byVerb)}`,
      `  lag buckets (count ≤ le): ${lag.buckets.map((b) => `${b.le === Number.POSITIVE_INFINITY ? '+Inf' : `${b.le * 1000}ms`}:${b.count}`).join(' ')}`,
      `  warm-up ${warmup.toFixed(1)} s (ready ${((readyAt! - startedAt) / 1000).toFixed(1)} s, all succeeding ${((succeedingAt! - startedAt) / 1000).toFixed(1)} s, then writes at the shipped 20/s); agent log lines by level ${JSON.stringify(logLevels)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return {
      vmis,
      cpuPercent: cpuPct,
      rssMiB: steadyRss / MIB,
      rssMaxMiB: maxRssWindow / MIB,
      lagP99Ms: lagP99,
      falseFailures: falseInWindow,
      attemptsPerSecond: attempts / elapsed,
      cpuUsPerProbe: attempts > 0 ? (cpu / attempts) * 1e6 : Number.NaN,
      machineBusyPercent: machineBusy * 100,
    };
  } finally {
    await cleanup();
  }
}

function growthTable(rows: SizeResult[]): string {
  const head = [
    'VMIs',
    'probes/s',
    'CPU % core',
    'CPU µs/probe',
    'RSS MiB (max)',
    'lag p99 ms',
    'false fail',
    'machine busy',
  ];
  const out = [
    `growth: ${rows.length} sizes × 2 probes per VMI @ 1 s (design §6 at 1,000: ≤ 15 %, ≤ 150 MiB, p99 ≤ 10 ms, 0)`,
    `  ${head.map((h) => h.padEnd(14)).join('')}`,
  ];
  for (const r of rows) {
    out.push(
      `  ${[
        String(r.vmis),
        r.attemptsPerSecond.toFixed(0),
        r.cpuPercent.toFixed(1),
        r.cpuUsPerProbe.toFixed(0),
        `${r.rssMiB.toFixed(0)} (${r.rssMaxMiB.toFixed(0)})`,
        r.lagP99Ms.toFixed(1),
        String(r.falseFailures),
        `${r.machineBusyPercent.toFixed(0)} %`,
      ]
        .map((c) => c.padEnd(14))
        .join('')}`,
    );
  }
  return out.join('\n');
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    vmis: { type: 'string' },
    sizes: { type: 'string', default: '100,500,1000,2000' },
    seconds: { type: 'string', default: '20' },
    json: { type: 'string' },
    'node-options': { type: 'string' },
    'node-args': { type: 'string', default: '' },
    'max-warmup': { type: 'string' },
    dir: { type: 'string' },
  },
});
const sizes = (values.vmis ?? values.sizes ?? '').split(',').map(Number);
const seconds = Number(values.seconds);
const maxWarmupFlag = values['max-warmup'] === undefined ? undefined : Number(values['max-warmup']);
if (
  sizes.length === 0 ||
  !sizes.every((n) => Number.isInteger(n) && n > 0) ||
  !(seconds > 0) ||
  (maxWarmupFlag !== undefined && !(maxWarmupFlag > 0))
) {
  process.stderr.write(
    "usage: bench-agent [--sizes N,N,… | --vmis N] [--seconds S] [--node-options '…'] [--node-args '…'] [--max-warmup S] [--json FILE]\n",
  );
  process.exit(2);
}
if (values.child) {
  child(sizes[0] ?? 0, values.dir ?? tmpdir()).catch((err: unknown) => {
    process.send?.({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    process.exit(1);
  });
} else {
  const nodeArgs = (values['node-args'] ?? '').split(/\s+/).filter((a) => a !== '');
  (async () => {
    const rows: SizeResult[] = [];
    const failed: number[] = [];
    for (const [i, vmis] of sizes.entries()) {
      if (i > 0) process.stdout.write('\n');
      const maxWarmup = maxWarmupFlag ?? 300 + 0.6 * vmis;
      try {
        rows.push(await parent(vmis, seconds, values['node-options'], nodeArgs, maxWarmup));
      } catch (err) {
        process.stderr.write(
          `bench-agent: ${vmis} VMIs failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        failed.push(vmis);
      }
    }
    if (rows.length > 1 || failed.length > 0) process.stdout.write(`\n${growthTable(rows)}\n`);
    if (failed.length > 0) process.stdout.write(`  failed sizes (see above): ${failed.join(', ')}\n`);
    if (values.json)
      writeFileSync(
        values.json,
        `${JSON.stringify({ node: process.version, sizes: rows, failed }, null, 2)}\n`,
      );
    if (rows.length === 0) throw new Error('no size completed');
  })().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(
        `bench-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
