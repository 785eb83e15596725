// Benchmark (numbers printed, never asserted): detection latency. The in-process Agent probes
// --vmis VMIs (readiness httpGet + liveness tcpSocket on :1500, periodSeconds 1, failureThreshold 3,
// timeoutSeconds 1); the test bed (API emulator, emulated KubeVirt with the vmprobe readiness gate,
// VM simulator in loopback mode) runs in a child process, so the agent's event loop is its own.
//
//   npm run bench:detection -- [--vmis 20] [--rounds 4] [--spread-ms 5000] [--write-qps 20]
//
// Each round fails every VM once, in random order spread over --spread-ms (so failures land at
// every phase of the probe schedule), then restores them the same way. Rounds alternate the
// failure: HTTP 500 (only readiness fails) and refuse (nothing listens: readiness and liveness
// fail). The failure time is when the simulator's setBehaviour resolved. The test bed watches its
// own store in-process, so a write's time is when the emulator stored it:
// - VMIProbeStatus condition (ReadinessProbe / LivenessProbe) and the launcher pod's
//   vmprobe.io/ReadinessProbe gate condition: written − failed, and that minus period ×
//   failureThreshold (the design's bound is + 250 ms), p50/p99/max;
// - the agent's own transition time (its observer) splits that into probing and reporting;
// - requests per transition: the agent's API requests (emulator request log) from the first
//   failure until the reporter is idle again, divided by the condition transitions in that window
//   (design: ≤ 3).
// The liveness action is off (failures reported, nothing stopped), so a VM survives its round.
// --write-qps is the reporter's client-side write limit (agent default 20/s, burst 50): failing
// many VMIs at once queues writes behind it, which --spread-ms keeps below the limit by default.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nextMessage } from './lib/ipc.js';
import { quantile } from './lib/stats.js';
import { createRunningVmis } from './lib/testbed.js';

const SELF = fileURLToPath(import.meta.url);
const NODE = 'node-a';
const NS = 'bench';
const PERIOD_S = 1;
const FAILURE_THRESHOLD = 3;
const BOUND_SLACK_MS = 250;

/** What the test bed watches per VMI. */
type Watched = 'ReadinessProbe' | 'LivenessProbe' | 'gate';
type Failure = 'status500' | 'refuse';

interface Written {
  vmi: string;
  what: Watched;
  status: string;
  time: number;
}
interface PhaseReport {
  /** Per VMI: when its behaviour change was in effect (Date.now()). */
  changedAt: Record<string, number>;
  /** Longest setBehaviour call (the uncertainty of changedAt). */
  maxChangeMs: number;
  /** First write of each expected status after the change, per VMI. */
  written: Written[];
  /** Expected writes not seen by the deadline. */
  missing: string[];
  startedAt: number;
}

type ToChild =
  | { type: 'phase'; failure: Failure; recover: boolean; spreadMs: number }
  | { type: 'count'; since: number; until: number }
  | { type: 'stop' };
type FromChild =
  | { type: 'ready'; kubeconfig: string; setupSeconds: number }
  | { type: 'phase'; report: PhaseReport }
  | { type: 'counts'; total: number; byKey: Record<string, number> }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// Child: the test bed, the failures, and the store watch.

async function child(vmis: number, dir: string): Promise<void> {
  const { startTestCluster } = await import('../test/src/cluster.js');
  const { VMPROBE_AGENT_USER } = await import('../test/src/emulator/index.js');
  const { CONDITION_TYPE, POD_READINESS_CONDITION, PROBE_STATUS_KIND, VMPROBE_GROUP, VMPROBE_VERSION } =
    await import('../shared/src/names.js');
  const t0 = performance.now();
  const cluster = await startTestCluster({
    namespaces: [NS],
    vmprobeReadinessGate: true,
    timing: { scheduleMs: 0, bootMs: 0, terminateMs: 0 },
  });
  const send = (m: FromChild) => process.send?.(m);
  const probe = { periodSeconds: PERIOD_S, timeoutSeconds: 1, failureThreshold: FAILURE_THRESHOLD };
  const spec = {
    domain: { devices: {}, resources: { requests: { memory: '64M' } } },
    readinessProbe: { httpGet: { port: 1500 }, ...probe },
    livenessProbe: { tcpSocket: { port: 1500 }, ...probe },
    terminationGracePeriodSeconds: 0,
  };
  const names = Array.from({ length: vmis }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
  await createRunningVmis(cluster, NS, names, spec);

  // Current status of every watched condition, and listeners for changes (time = store time).
  const current = new Map<string, string>();
  const listeners = new Set<(w: Written) => void>();
  const observe = (vmi: string, what: Watched, status: string | undefined) => {
    const key = `${vmi}/${what}`;
    if (status === undefined || current.get(key) === status) return;
    current.set(key, status);
    const w = { vmi, what, status, time: Date.now() };
    for (const l of listeners) l(w);
  };
  type Cond = { type?: string; status?: string };
  const offs = [
    cluster.emu.store.watch(
      { apiVersion: `${VMPROBE_GROUP}/${VMPROBE_VERSION}`, kind: PROBE_STATUS_KIND, namespace: NS },
      (_type, obj) => {
        const name = obj.metadata?.name;
        const conds = ((obj as { status?: { conditions?: Cond[] } }).status?.conditions ?? []) as Cond[];
        if (!name) return;
        for (const what of [CONDITION_TYPE.readiness, CONDITION_TYPE.liveness] as const)
          observe(name, what as Watched, conds.find((c) => c.type === what)?.status);
      },
    ),
    cluster.emu.store.watch({ apiVersion: 'v1', kind: 'Pod', namespace: NS }, (_type, obj) => {
      const vmi = (obj.metadata?.ownerReferences as { kind?: string; name?: string }[] | undefined)?.find(
        (o) => o.kind === 'VirtualMachineInstance',
      )?.name;
      const conds = ((obj as { status?: { conditions?: Cond[] } }).status?.conditions ?? []) as Cond[];
      if (vmi) observe(vmi, 'gate', conds.find((c) => c.type === POD_READINESS_CONDITION)?.status);
    }),
  ];

  const runPhase = async (failure: Failure, recover: boolean, spreadMs: number): Promise<PhaseReport> => {
    const status = recover ? 'True' : 'False';
    const whats: Watched[] =
      failure === 'refuse' ? ['ReadinessProbe', 'LivenessProbe', 'gate'] : ['ReadinessProbe', 'gate'];
    const changedAt: Record<string, number> = {};
    const written: Written[] = [];
    const pending = new Set(names.flatMap((n) => whats.map((w) => `${n}/${w}`)));
    let allSeen: () => void = () => {};
    const done = new Promise<void>((r) => {
      allSeen = r;
    });
    const onWrite = (w: Written) => {
      const key = `${w.vmi}/${w.what}`;
      if (w.status !== status || changedAt[w.vmi] === undefined || !pending.delete(key)) return;
      written.push(w);
      if (pending.size === 0) allSeen();
    };
    listeners.add(onWrite);
    const startedAt = Date.now();
    let maxChangeMs = 0;
    try {
      const order = [...names].sort(() => Math.random() - 0.5);
      const step = spreadMs / order.length;
      for (const [i, name] of order.entries()) {
        const wait = startedAt + i * step + Math.random() * step - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const vm = cluster.kubevirt.vmFor(NS, name);
        if (!vm) throw new Error(`no simulated VM for ${NS}/${name}`);
        const c0 = Date.now();
        await vm.setBehaviour(
          recover
            ? { kind: 'healthy' }
            : failure === 'refuse'
              ? { kind: 'refuse' }
              : { kind: 'status', code: 500 },
        );
        changedAt[name] = Date.now();
        maxChangeMs = Math.max(maxChangeMs, changedAt[name] - c0);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    } finally {
      listeners.delete(onWrite);
    }
    return { changedAt, maxChangeMs, written, missing: [...pending], startedAt };
  };

  process.on('message', async (m: ToChild) => {
    try {
      if (m.type === 'phase') {
        send({ type: 'phase', report: await runPhase(m.failure, m.recover, m.spreadMs) });
      } else if (m.type === 'count') {
        const recs = cluster.emu.requests.filter(
          (r) => r.user === VMPROBE_AGENT_USER && r.time >= m.since && r.time < m.until,
        );
        const byKey: Record<string, number> = {};
        for (const r of recs) {
          const k = `${r.verb} ${r.resource ?? '?'}${r.subresource ? `/${r.subresource}` : ''}`;
          byKey[k] = (byKey[k] ?? 0) + 1;
        }
        send({ type: 'counts', total: recs.length, byKey });
      } else if (m.type === 'stop') {
        for (const off of offs) off();
        await cluster.stop().catch(() => undefined);
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  const kubeconfig = join(dir, 'agent.kubeconfig');
  await cluster.emu.writeKubeconfig(VMPROBE_AGENT_USER, kubeconfig);
  send({ type: 'ready', kubeconfig, setupSeconds: (performance.now() - t0) / 1000 });
}

// ---------------------------------------------------------------------------------------------
// Parent: the agent.

interface Sample {
  what: Watched;
  failure: Failure;
  recover: boolean;
  /** written − changed. */
  latencyMs: number;
  /** agent transition − changed (undefined for the gate, which follows the readiness transition). */
  detectMs: number | undefined;
  /** written − agent transition. */
  reportMs: number | undefined;
}

async function parent(opts: {
  vmis: number;
  rounds: number;
  spreadMs: number;
  writeQps: number;
}): Promise<void> {
  const { Agent } = await import('../agent/src/agent.js');
  const { loadKubeConfig } = await import('../agent/src/kube/config.js');
  const { createKubeWrites } = await import('../agent/src/kube/api.js');
  const { ApiReporter } = await import('../agent/src/report/index.js');
  const { AgentMetrics } = await import('../agent/src/metrics/index.js');
  const { createLogger } = await import('../agent/src/log.js');

  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-bench-detection-'));
  const testbed = fork(SELF, ['--child', '--vmis', String(opts.vmis), '--dir', dir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T extends FromChild['type']>(type: T) => nextMessage<FromChild, T>(testbed, type, 'test bed');
  const ask = async <T extends FromChild['type']>(m: ToChild, type: T) => {
    const reply = next(type);
    testbed.send(m);
    return reply;
  };
  let agent: InstanceType<typeof Agent> | undefined;
  try {
    process.stderr.write(`test bed: starting ${opts.vmis} VMIs in a child process…\n`);
    const ready = await next('ready');
    process.stderr.write(`test bed: Running after ${ready.setupSeconds.toFixed(1)} s\n`);

    const kubeConfig = loadKubeConfig({ kubeconfigPath: ready.kubeconfig });
    const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
    const metrics = new AgentMetrics({ node: NODE, version: 'bench', processMetrics: false });
    // Agent-side transition times: `${vmi}/${kind}` → (state, time) of the latest change.
    const transitions = new Map<string, { state: string; time: number }>();
    let transitionCount = 0;
    const observer: typeof metrics = Object.create(metrics);
    observer.probeState = (id, state, reason) => {
      metrics.probeState(id, state, reason);
      transitions.set(`${id.vmi}/${id.probe}`, { state, time: Date.now() });
      transitionCount++;
    };
    const writes = createKubeWrites({ kubeConfig, nodeName: NODE, observer });
    const reporter = new ApiReporter({
      writes,
      nodeName: NODE,
      observer,
      logger,
      writeQps: opts.writeQps,
      writeBurst: Math.max(50, opts.writeQps),
    });
    const { loopbackVmCidr } = await import('../test/src/vmsim/index.js');
    // the simulated VMs live on loopback addresses, which the agent otherwise never probes
    agent = new Agent({
      nodeName: NODE,
      kubeConfig,
      logger,
      observer,
      reporter,
      unsafeProbeCidrs: [loopbackVmCidr()],
    });
    await agent.start();
    await agent.whenReady();
    const a = agent;
    const waitUntil = async (what: string, pred: () => boolean, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const settled = async () => {
      await waitUntil('the reporter to be idle', () => reporter.isIdle());
      await new Promise((r) => setTimeout(r, 500));
      await waitUntil('the reporter to be idle', () => reporter.isIdle());
    };
    await waitUntil(
      'every probe to succeed',
      () => a.snapshot().filter((s) => s.state === 'success').length === opts.vmis * 2,
    );
    await settled();
    process.stderr.write(`agent: ${opts.vmis * 2} probes succeeding, reporter idle\n`);

    const samples: Sample[] = [];
    const perTransition: {
      failure: Failure;
      recover: boolean;
      requests: number;
      transitions: number;
      byKey: Record<string, number>;
    }[] = [];
    const missing: string[] = [];
    let maxChangeMs = 0;
    for (let round = 0; round < opts.rounds; round++) {
      const failure: Failure = round % 2 === 0 ? 'status500' : 'refuse';
      for (const recover of [false, true]) {
        process.stderr.write(
          `round ${round + 1}/${opts.rounds}: ${recover ? 'recover from' : 'fail with'} ${failure}…\n`,
        );
        const transitionsBefore = transitionCount;
        const { report } = await ask({ type: 'phase', failure, recover, spreadMs: opts.spreadMs }, 'phase');
        await settled();
        const until = Date.now();
        const counts = await ask({ type: 'count', since: report.startedAt, until }, 'counts');
        const conditionTransitions = transitionCount - transitionsBefore;
        perTransition.push({
          failure,
          recover,
          requests: counts.total,
          transitions: conditionTransitions,
          byKey: counts.byKey,
        });
        missing.push(...report.missing.map((m) => `${failure}${recover ? ' recovery' : ''}: ${m}`));
        maxChangeMs = Math.max(maxChangeMs, report.maxChangeMs);
        for (const w of report.written) {
          const changed = report.changedAt[w.vmi] as number;
          const kind = w.what === 'LivenessProbe' ? 'liveness' : 'readiness';
          const t = w.what === 'gate' ? undefined : transitions.get(`${w.vmi}/${kind}`);
          const expected = recover ? 'success' : 'failure';
          const agentAt = t && t.state === expected && t.time >= changed ? t.time : undefined;
          samples.push({
            what: w.what,
            failure,
            recover,
            latencyMs: w.time - changed,
            detectMs: agentAt === undefined ? undefined : agentAt - changed,
            reportMs: agentAt === undefined ? undefined : w.time - agentAt,
          });
        }
      }
    }

    const budgetMs = PERIOD_S * FAILURE_THRESHOLD * 1000;
    const boundMs = budgetMs + BOUND_SLACK_MS;
    const stats = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return {
        n: s.length,
        p50: quantile(s, 0.5),
        p99: quantile(s, 0.99),
        max: s[s.length - 1] ?? Number.NaN,
      };
    };
    const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}`.padStart(6) : '     —');
    const out: string[] = [
      `vmprobe detection latency: ${opts.vmis} VMIs × (readiness http + liveness tcp), periodSeconds ${PERIOD_S}, ` +
        `failureThreshold ${FAILURE_THRESHOLD}, ${opts.rounds} rounds, failures spread over ${opts.spreadMs} ms, ` +
        `reporter write limit ${opts.writeQps}/s`,
      `bound: written within period × failureThreshold + ${BOUND_SLACK_MS} ms = ${boundMs} ms of the VM failing ` +
        `(failure time = setBehaviour resolved; longest setBehaviour ${maxChangeMs} ms)`,
      '',
      'failure detection (ms)                    n  written−failed: p50    p99    max   −period×threshold: p50    p99    max   over bound',
    ];
    const failRows: [string, (s: Sample) => boolean][] = [
      ['VMIProbeStatus ReadinessProbe', (s) => s.what === 'ReadinessProbe'],
      ['launcher pod gate condition', (s) => s.what === 'gate'],
      ['VMIProbeStatus LivenessProbe (refuse)', (s) => s.what === 'LivenessProbe'],
    ];
    for (const [label, pick] of failRows) {
      const xs = samples.filter((s) => !s.recover && pick(s)).map((s) => s.latencyMs);
      const st = stats(xs);
      const over = xs.filter((x) => x > boundMs).length;
      out.push(
        `  ${label.padEnd(38)} ${String(st.n).padStart(4)}  ${' '.repeat(14)}${ms(st.p50)} ${ms(st.p99)} ${ms(st.max)}  ` +
          `${' '.repeat(18)}${ms(st.p50 - budgetMs)} ${ms(st.p99 - budgetMs)} ${ms(st.max - budgetMs)}   ${over}/${st.n}`,
      );
    }
    const split = (pick: (s: Sample) => boolean) => {
      const sel = samples.filter(pick);
      const d = stats(sel.flatMap((s) => (s.detectMs === undefined ? [] : [s.detectMs])));
      const r = stats(sel.flatMap((s) => (s.reportMs === undefined ? [] : [s.reportMs])));
      return (
        `probing (agent transition − failed) p50 ${ms(d.p50).trim()} p99 ${ms(d.p99).trim()} max ${ms(d.max).trim()}; ` +
        `reporting (written − transition) p50 ${ms(r.p50).trim()} p99 ${ms(r.p99).trim()} max ${ms(r.max).trim()}`
      );
    };
    out.push(`  split, conditions on failure: ${split((s) => !s.recover && s.what !== 'gate')}`);
    const rec = stats(samples.filter((s) => s.recover && s.what !== 'LivenessProbe').map((s) => s.latencyMs));
    out.push(
      `recovery (successThreshold 1, VMIProbeStatus + gate, n ${rec.n}): written − restored p50 ${ms(rec.p50).trim()} ` +
        `p99 ${ms(rec.p99).trim()} max ${ms(rec.max).trim()} ms (one period + reporting)`,
    );
    out.push(
      '',
      'API requests per transition (agent identity, from the first change until the reporter is idle; design ≤ 3):',
    );
    for (const p of perTransition) {
      out.push(
        `  ${`${p.recover ? 'recover' : 'fail'} ${p.failure}`.padEnd(18)} ${String(p.requests).padStart(4)} requests / ` +
          `${String(p.transitions).padStart(3)} transitions = ${(p.requests / Math.max(1, p.transitions)).toFixed(2)}  ${JSON.stringify(p.byKey)}`,
      );
    }
    const totalReq = perTransition.reduce((s, p) => s + p.requests, 0);
    const totalTr = perTransition.reduce((s, p) => s + p.transitions, 0);
    out.push(
      `  overall            ${totalReq} / ${totalTr} = ${(totalReq / Math.max(1, totalTr)).toFixed(2)} requests per transition`,
    );
    if (missing.length > 0)
      out.push(`not written within 30 s: ${missing.length} (${missing.slice(0, 10).join(', ')})`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await agent?.stop(5_000).catch(() => undefined);
    if (testbed.exitCode === null && testbed.connected) {
      testbed.send({ type: 'stop' } satisfies ToChild);
      await new Promise((r) => testbed.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    vmis: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '4' },
    'spread-ms': { type: 'string', default: '5000' },
    'write-qps': { type: 'string', default: '20' },
    dir: { type: 'string' },
  },
});
const vmis = Number(values.vmis);
const rounds = Number(values.rounds);
const spreadMs = Number(values['spread-ms']);
const writeQps = Number(values['write-qps']);
if (
  !(Number.isInteger(vmis) && vmis > 0) ||
  !(Number.isInteger(rounds) && rounds > 0) ||
  !(spreadMs >= 0) ||
  !(writeQps > 0)
) {
  process.stderr.write('usage: bench-detection [--vmis N] [--rounds R] [--spread-ms MS] [--write-qps Q]\n');
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
  parent({ vmis, rounds, spreadMs, writeQps }).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(
        `bench-detection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
