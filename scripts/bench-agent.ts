// Benchmark: the agent probing 1,000 VMIs × 2 probes (liveness tcpSocket + readiness httpGet) at
// periodSeconds 1. The test bed (API emulator, emulated KubeVirt, VM simulator in loopback mode)
// runs in a child process so that this process's CPU and RSS are the agent's alone.
//
//   npm run bench:agent -- [--vmis 1000] [--seconds 60] [--write-qps 500]
//
// Prints: agent CPU % of one core, RSS (end and max), probe schedule-lag p50/p99/max, false
// failures (every VM is healthy, so any failed attempt or failure transition is false) and the
// agent's API requests per minute in the steady state, from the emulator's request log.
// --write-qps raises the reporter's client-side write limit so the warm-up (≈ 4 writes per new VMI)
// does not take minutes at the default 20/s; steady state is expected to write nothing either way.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const NODE = 'node-a';
const NS = 'bench';

type ToChild = { type: 'count'; since: number; until: number } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; kubeconfig: string; vmis: number; setupSeconds: number }
  | { type: 'counts'; total: number; byVerb: Record<string, number> }
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
      const recs = cluster.emu.requests.filter(
        (r) => r.user === VMPROBE_AGENT_USER && r.time >= m.since && r.time < m.until,
      );
      const byVerb: Record<string, number> = {};
      for (const r of recs) byVerb[r.verb] = (byVerb[r.verb] ?? 0) + 1;
      send({ type: 'counts', total: recs.length, byVerb });
    } else if (m.type === 'stop') {
      await cluster.stop().catch(() => undefined);
      process.exit(0);
    }
  });
  const spec = {
    domain: { devices: {}, resources: { requests: { memory: '64M' } } },
    livenessProbe: { tcpSocket: { port: 1500 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    readinessProbe: { httpGet: { port: 1500 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    terminationGracePeriodSeconds: 0,
  };
  const names = Array.from({ length: vmis }, (_, i) => `vm-${String(i).padStart(4, '0')}`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map((name) =>
        cluster.createVmi(
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachineInstance',
            metadata: { name, labels: { app: name } },
            spec,
          },
          { namespace: NS },
        ),
      ),
    );
  }
  await cluster.waitFor(
    async () => {
      const list = (await cluster.custom.listNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: 'virtualmachineinstances',
        namespace: NS,
      })) as { items: { status?: { phase?: string } }[] };
      return list.items.filter((v) => v.status?.phase === 'Running').length === vmis && cluster.kubevirt.idle;
    },
    { timeoutMs: 600_000, intervalMs: 500, description: `${vmis} VMIs Running` },
  );
  const kubeconfig = join(dir, 'agent.kubeconfig');
  await cluster.emu.writeKubeconfig(VMPROBE_AGENT_USER, kubeconfig);
  send({ type: 'ready', kubeconfig, vmis, setupSeconds: (performance.now() - t0) / 1000 });
}

// ---------------------------------------------------------------------------------------------
// Parent: the agent, measured.

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function parent(vmis: number, seconds: number, writeQps: number): Promise<void> {
  const { Agent } = await import('../agent/src/agent.js');
  const { loadKubeConfig } = await import('../agent/src/kube/config.js');
  const { createKubeWrites } = await import('../agent/src/kube/writes.js');
  const { ApiReporter } = await import('../agent/src/report/index.js');
  const { AgentMetrics } = await import('../agent/src/metrics/index.js');
  const { createLogger } = await import('../agent/src/log.js');
  const { createLivenessHandler } = await import('../agent/src/liveness/index.js');

  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-bench-'));
  const testbed = fork(SELF, ['--child', '--vmis', String(vmis), '--dir', dir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const nextMessage = <T extends FromChild['type']>(type: T) =>
    new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
      const on = (m: FromChild) => {
        if (m.type === 'error') reject(new Error(m.message));
        if (m.type !== type) return;
        testbed.off('message', on);
        resolve(m as Extract<FromChild, { type: T }>);
      };
      testbed.on('message', on);
      testbed.once('exit', (code) => reject(new Error(`test bed exited (${code})`)));
    });
  const stopChild = async () => {
    if (testbed.exitCode === null && testbed.connected) {
      testbed.send({ type: 'stop' } satisfies ToChild);
      await new Promise((r) => testbed.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    process.stderr.write(`test bed: starting ${vmis} VMIs in a child process…\n`);
    const ready = await nextMessage('ready');
    process.stderr.write(`test bed: ${ready.vmis} VMIs Running after ${ready.setupSeconds.toFixed(1)} s\n`);

    const rssBeforeAgent = process.memoryUsage().rss;
    const kubeConfig = loadKubeConfig({ kubeconfigPath: ready.kubeconfig });
    const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
    const metrics = new AgentMetrics({ node: NODE, version: 'bench', processMetrics: true });
    let measuring = false;
    const lags: number[] = [];
    let attempts = 0;
    let falseFailures = 0;
    let failureTransitions = 0;
    const failureReasons: Record<string, number> = {};
    const observer: typeof metrics = Object.create(metrics);
    observer.probeResult = (id, outcome, state, lag) => {
      metrics.probeResult(id, outcome, state, lag);
      if (outcome.result === 'failure' || outcome.result === 'unknown') {
        falseFailures++;
        const k = `${outcome.result}/${outcome.reason}`;
        failureReasons[k] = (failureReasons[k] ?? 0) + 1;
      }
      if (measuring) {
        attempts++;
        lags.push(lag);
      }
    };
    observer.probeState = (id, state, reason) => {
      metrics.probeState(id, state, reason);
      if (state === 'failure' && reason !== 'Initializing') failureTransitions++;
    };
    const writes = createKubeWrites({ kubeConfig, nodeName: NODE, observer });
    const agent = new Agent({
      nodeName: NODE,
      kubeConfig,
      logger,
      observer,
      listen: '127.0.0.1:0',
      reporter: new ApiReporter({ writes, nodeName: NODE, observer, logger, writeQps, writeBurst: writeQps }),
      liveness: (deps) => createLivenessHandler('stop-launcher', deps),
    });
    const startedAt = performance.now();
    await agent.start();
    await agent.whenReady();
    const reporter = agent.reporter as InstanceType<typeof ApiReporter>;
    const probes = vmis * 2;
    for (;;) {
      const snap = agent.snapshot();
      const ok = snap.filter((s) => s.state === 'success').length;
      if (ok === probes && reporter.isIdle()) break;
      if (performance.now() - startedAt > 600_000)
        throw new Error(`warm-up: ${ok}/${probes} probes succeeding`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const warmup = (performance.now() - startedAt) / 1000;
    process.stderr.write(
      `agent: ${probes} probes succeeding, reporter idle after ${warmup.toFixed(1)} s; measuring ${seconds} s…\n`,
    );
    // Settle a few periods so the last warm-up writes and GC are behind us.
    await new Promise((r) => setTimeout(r, 3_000));

    const failuresBefore = falseFailures;
    const transitionsBefore = failureTransitions;
    measuring = true;
    const wallStart = Date.now();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    let gcMs = 0;
    let gcMax = 0;
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gcMs += e.duration;
        gcMax = Math.max(gcMax, e.duration);
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    let maxRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 1_000);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    eld.disable();
    gcObserver.disconnect();
    const elapsed = (performance.now() - t0) / 1000;
    measuring = false;
    const wallEnd = Date.now();
    const rss = process.memoryUsage().rss;
    maxRss = Math.max(maxRss, rss);
    testbed.send({ type: 'count', since: wallStart, until: wallEnd } satisfies ToChild);
    const counts = await nextMessage('counts');
    await agent.stop(5_000);

    lags.sort((a, b) => a - b);
    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    const perMin = (n: number) => ((n * 60) / elapsed).toFixed(1);
    const writesInWindow = ['create', 'update', 'patch', 'delete'].reduce(
      (s, v) => s + (counts.byVerb[v] ?? 0),
      0,
    );
    const lines = [
      `vmprobe agent benchmark: ${vmis} VMIs × 2 probes (liveness tcp + readiness http), periodSeconds 1, ${elapsed.toFixed(1)} s steady state`,
      `  CPU                  ${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(1)} % of one core (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s)`,
      `  RSS                  ${mib(rss)} at the end, ${mib(maxRss)} max (${mib(rssBeforeAgent)} before the agent started: Node + tsx + modules)`,
      `  probe attempts       ${attempts} (${(attempts / elapsed).toFixed(0)}/s, expected ${probes}/s)`,
      `  schedule lag         p50 ${quantile(lags, 0.5).toFixed(1)} ms, p99 ${quantile(lags, 0.99).toFixed(1)} ms, max ${(lags[lags.length - 1] ?? Number.NaN).toFixed(1)} ms`,
      `  event-loop delay     p99 ${(eld.percentile(99) / 1e6).toFixed(1)} ms, max ${(eld.max / 1e6).toFixed(1)} ms; GC ${(gcMs / 1000).toFixed(1)} s total, longest pause ${gcMax.toFixed(1)} ms`,
      `  false failures       ${falseFailures - failuresBefore} failed attempts, ${failureTransitions - transitionsBefore} failure transitions in the window (since start: ${failureTransitions} failure transitions, failed attempts ${JSON.stringify(failureReasons)})`,
      `  API requests/min     ${perMin(counts.total)} (writes ${perMin(writesInWindow)}; by verb ${JSON.stringify(counts.byVerb)})`,
      `  warm-up              ${warmup.toFixed(1)} s to all probes succeeding and every write stored (reporter write limit ${writeQps}/s)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stopChild();
  }
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    vmis: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    'write-qps': { type: 'string', default: '500' },
    dir: { type: 'string' },
  },
});
const vmis = Number(values.vmis);
const seconds = Number(values.seconds);
const writeQps = Number(values['write-qps']);
if (!(vmis > 0) || !(seconds > 0) || !(writeQps > 0)) {
  process.stderr.write('usage: bench-agent [--vmis N] [--seconds S] [--write-qps Q]\n');
  process.exit(2);
}
if (values.child) {
  child(vmis, values.dir ?? tmpdir()).catch((err: unknown) => {
    process.send?.({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    process.exit(1);
  });
} else {
  parent(vmis, seconds, writeQps).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(
        `bench-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
