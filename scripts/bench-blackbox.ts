// Benchmark (numbers printed, never asserted): vmprobe's probers against Debian's
// prometheus-blackbox-exporter on the same loopback targets, at the same fixed rate and
// concurrency, one handler at a time (http, tcp, icmp). Reports CPU-seconds per 1,000 probes for
// each side and their ratio.
//
//   npm run bench:blackbox -- [--targets 100] [--rate 500] [--concurrency 100] [--seconds 6] [--warmup-seconds 3]
//     [--handlers http,tcp,icmp] [--vmprobe-node-args '--cpu-prof --cpu-prof-dir=DIR']  (profiling that child)
//
// Processes, so that each number is one side's alone:
// - targets: the VM simulator (loopback mode) with N VMs, each an HTTP server on :1500 and a TCP
//   listener on :1501 at its own 127.x address; the kernel answers ICMP. Neither side pays for them.
// - vmprobe: a child that calls `runProbe` (the built agent: `npm run build` first) at the rate
//   (round-robin over the targets) and measures itself with process.cpuUsage — its probes plus its
//   own rate loop.
// - blackbox: the exporter with a config written here, driven by this process through
//   `/probe?module=…&target=…` (keep-alive connections, as Prometheus scrapes). Its CPU is read from
//   /proc/<pid>/stat (all threads) before and after: its probes plus answering each /probe request
//   (parse, registry, text exposition). The driver's own CPU (this process) is reported separately,
//   and so is the exporter's cost of serving a trivial request (`/-/healthy` at the same rate), so
//   the probe cost net of HTTP serving can be read off too.
// - floor (tcp): scripts/floor/probe-floor.c paced at the same rate in 10 ms ticks against the same
//   targets (one probe at a time): the kernel's work plus a wake-up per tick, for vmprobe ÷ floor and
//   blackbox ÷ floor. The vmprobe child also reports its rate loop alone (a task that resolves at
//   once), which is counted in its CPU: the agent's own timers cost the same kind of wake-ups.
// Both sides use 1 s timeouts, IPv4 only, a fresh connection per HTTP probe (vmprobe sends
// `Connection: close`; the exporter's module sets the same header). Differences that remain: the
// exporter closes TCP probes with FIN (client TIME_WAIT), vmprobe with RST; the exporter opens an ICMP
// socket per probe, vmprobe shares one raw socket; the exporter keeps a debug log of every probe.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileFloor, type FloorProgram, type FloorRun } from './lib/floor.js';
import { nextMessage } from './lib/ipc.js';
import { type RateOptions, type RateResult, runAtRate } from './lib/rate.js';
import { cpuSeconds, procCpuSeconds, quantile } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);
const EXPORTER = '/usr/bin/prometheus-blackbox-exporter';
const HTTP_PORT = 1500;
const TCP_PORT = 1501;
const TIMEOUT_MS = 1000;

type Handler = 'http' | 'tcp' | 'icmp';
const HANDLERS: Handler[] = ['http', 'tcp', 'icmp'];

interface PhaseResult {
  probes: number;
  skipped: number;
  failed: number;
  failures: Record<string, number>;
  /** Probe duration p50 / p99 in ms (vmprobe: the outcome's; blackbox: probe_duration_seconds). */
  p50Ms: number;
  p99Ms: number;
  wallSeconds: number;
  cpuSeconds: number;
  /** vmprobe only: CPU µs per start of the rate loop alone (a task that resolves at once). */
  rateLoopUs?: number;
}

type ToChild =
  | { type: 'run'; handler: Handler; ips: string[]; rate: RateOptions; warmupSeconds: number }
  | { type: 'stop' };
type FromChild =
  | { type: 'targets'; ips: string[] }
  | { type: 'result'; result: PhaseResult }
  | { type: 'error'; message: string };

const send = (m: FromChild) => process.send?.(m);

// ---------------------------------------------------------------------------------------------
// Child roles.

async function targetsRole(count: number): Promise<void> {
  const { startVmSimulator } = await import('../test/src/vmsim/index.js');
  const sim = await startVmSimulator({ mode: 'loopback' });
  const ips: string[] = [];
  for (let i = 0; i < count; i++) {
    const vm = await sim.createVm(`t${i}`, { httpPorts: [HTTP_PORT], tcpPorts: [TCP_PORT] });
    ips.push(vm.ip);
  }
  process.on('message', async (m: ToChild) => {
    if (m.type === 'stop') {
      await sim.stop().catch(() => undefined);
      process.exit(0);
    }
  });
  process.on('disconnect', () => {
    void sim.stop().finally(() => process.exit(0));
  });
  send({ type: 'targets', ips });
}

async function vmprobeRole(): Promise<void> {
  // The built agent (agent/dist, as shipped: tsc output), not its sources through tsx: tsx compiles
  // with esbuild's keepNames, which wraps every named closure in a __name() defineProperty call —
  // several per tcp attempt that the shipped agent does not make (seen in this child's CPU profile).
  const { runProbe, closeIcmpSessions } = await import('@vmprobe/agent/probers/index');
  type Target = Parameters<typeof runProbe>[0];
  const targetOf = (handler: Handler, ip: string): Target =>
    handler === 'http'
      ? { type: 'http', scheme: 'http', host: ip, port: HTTP_PORT, path: '/', headers: [] }
      : handler === 'tcp'
        ? { type: 'tcp', host: ip, port: TCP_PORT }
        : { type: 'icmp', host: ip };
  process.on('message', async (m: ToChild) => {
    if (m.type === 'stop') {
      closeIcmpSessions();
      process.exit(0);
    }
    try {
      const targets = m.ips.map((ip) => targetOf(m.handler, ip));
      const probe = (i: number) => runProbe(targets[i % targets.length] as Target, { timeoutMs: TIMEOUT_MS });
      await runAtRate({ ...m.rate, seconds: m.warmupSeconds }, probe);
      const cpu0 = process.cpuUsage();
      const run = await runAtRate(m.rate, probe);
      const cpu = cpuSeconds(process.cpuUsage(cpu0));
      const failures: Record<string, number> = {};
      const durations: number[] = [];
      let failed = 0;
      for (const o of run.results) {
        durations.push(o.timings.durationMs);
        if (o.result === 'success') continue;
        failed++;
        failures[o.message] = (failures[o.message] ?? 0) + 1;
      }
      // The rate loop alone, same rate, 3 s: what of the numbers above is the driver's (counted in).
      const loop0 = process.cpuUsage();
      const loop = await runAtRate({ ...m.rate, seconds: Math.min(3, m.rate.seconds) }, () =>
        Promise.resolve(0),
      );
      const rateLoopUs = (cpuSeconds(process.cpuUsage(loop0)) * 1e6) / Math.max(1, loop.started);
      send({ type: 'result', result: { ...summary(run, failed, failures, cpu, durations), rateLoopUs } });
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

function summary<R>(
  run: RateResult<R>,
  failed: number,
  failures: Record<string, number>,
  cpu: number,
  durationsMs: number[],
): PhaseResult {
  const sorted = [...durationsMs].sort((a, b) => a - b);
  return {
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    probes: run.results.length,
    skipped: run.skipped,
    failed: failed + run.rejected,
    failures,
    wallSeconds: run.wallSeconds,
    cpuSeconds: cpu,
  };
}

// ---------------------------------------------------------------------------------------------
// Parent: the exporter, its driver, the table.

const BLACKBOX_CONFIG = `modules:
  http_2xx:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      headers:
        Connection: close
  tcp_connect:
    prober: tcp
    timeout: 1s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  icmp:
    prober: icmp
    timeout: 1s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
`;

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

/** GET on the keep-alive agent; resolves with status and body, rejects on a network error. */
function get(agent: http.Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function startExporter(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  const config = join(dir, 'blackbox.yml');
  writeFileSync(config, BLACKBOX_CONFIG);
  const port = await freePort();
  const proc = spawn(
    EXPORTER,
    [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    proc.once('error', (err) => reject(new Error(`cannot start ${EXPORTER}: ${err.message}`)));
    proc.once('spawn', () => resolve());
  });
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${EXPORTER} exited (${proc.exitCode})`);
    const ok = await get(agent, port, '/-/healthy').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${EXPORTER} not healthy on port ${port} after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  agent.destroy();
  return { proc, port };
}

function probePath(handler: Handler, ip: string): string {
  const [module, target] =
    handler === 'http'
      ? ['http_2xx', `http://${ip}:${HTTP_PORT}/`]
      : handler === 'tcp'
        ? ['tcp_connect', `${ip}:${TCP_PORT}`]
        : ['icmp', ip];
  return `/probe?module=${module}&target=${encodeURIComponent(target)}`;
}

interface ExporterPhase {
  exporter: PhaseResult;
  /** This process: the driver's requests (and its rate loop). */
  driverCpuSeconds: number;
}

/** Drives `path(i)` on the exporter at the rate; `ok(body)` tells a successful answer. */
async function driveExporter(
  exporter: { proc: ChildProcess; port: number },
  rate: RateOptions,
  warmupSeconds: number,
  path: (i: number) => string,
  ok: (body: string) => boolean,
): Promise<ExporterPhase> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: rate.concurrency });
  const pid = exporter.proc.pid as number;
  /** ms: the exporter's probe_duration_seconds (NaN when absent, e.g. /-/healthy). */
  type Answer = { ok: boolean; why: string; ms: number };
  const durationOf = (body: string) => Number(/^probe_duration_seconds (\S+)$/m.exec(body)?.[1]) * 1000;
  const task = (i: number): Promise<Answer> =>
    get(agent, exporter.port, path(i)).then(
      (r) =>
        r.status === 200 && ok(r.body)
          ? { ok: true, why: '', ms: durationOf(r.body) }
          : {
              ok: false,
              why: r.status === 200 ? 'probe_success 0' : `HTTP ${r.status}`,
              ms: durationOf(r.body),
            },
      (err: Error) => ({ ok: false, why: `driver: ${err.message}`, ms: Number.NaN }),
    );
  try {
    await runAtRate({ ...rate, seconds: warmupSeconds }, task);
    const ex0 = procCpuSeconds(pid);
    const me0 = process.cpuUsage();
    const run = await runAtRate(rate, task);
    const driverCpuSeconds = cpuSeconds(process.cpuUsage(me0));
    const exCpu = procCpuSeconds(pid) - ex0;
    const failures: Record<string, number> = {};
    const durations: number[] = [];
    let failed = 0;
    for (const a of run.results) {
      if (!Number.isNaN(a.ms)) durations.push(a.ms);
      if (a.ok) continue;
      failed++;
      failures[a.why] = (failures[a.why] ?? 0) + 1;
    }
    return { exporter: summary(run, failed, failures, exCpu, durations), driverCpuSeconds };
  } finally {
    agent.destroy();
  }
}

const perThousand = (cpu: number, n: number) => (n > 0 ? (cpu / n) * 1000 : Number.NaN);
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');

async function parent(opts: {
  targets: number;
  rate: RateOptions;
  warmupSeconds: number;
  handlers: Handler[];
  vmprobeNodeArgs: string[];
}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-bench-blackbox-'));
  const children: ChildProcess[] = [];
  const forkRole = (role: string, nodeArgs: string[] = []) => {
    const c = fork(SELF, ['--role', role, '--targets', String(opts.targets)], {
      execArgv: ['--import', 'tsx', ...nodeArgs],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(c);
    return c;
  };
  let exporter: { proc: ChildProcess; port: number } | undefined;
  try {
    const targetsChild = forkRole('targets');
    const vmprobeChild = forkRole('vmprobe', opts.vmprobeNodeArgs);
    const { ips } = await nextMessage<FromChild, 'targets'>(targetsChild, 'targets', 'targets');
    exporter = await startExporter(dir);
    process.stderr.write(
      `targets: ${ips.length} simulated VMs (${ips[0]}…${ips[ips.length - 1]}) in pid ${targetsChild.pid}; ` +
        `vmprobe in pid ${vmprobeChild.pid}; exporter in pid ${exporter.proc.pid}\n`,
    );

    let floor: FloorProgram | undefined;
    try {
      floor = compileFloor();
    } catch (err) {
      process.stderr.write(`floor: SKIPPED — ${(err as Error).message}\n`);
    }
    const rows: { handler: Handler; vm: PhaseResult; bb: ExporterPhase; floor?: FloorRun }[] = [];
    for (const handler of opts.handlers) {
      process.stderr.write(`${handler}: blackbox exporter…\n`);
      const bb = await driveExporter(
        exporter,
        opts.rate,
        opts.warmupSeconds,
        (i) => probePath(handler, ips[i % ips.length] as string),
        (body) => /^probe_success 1$/m.test(body),
      );
      process.stderr.write(`${handler}: vmprobe…\n`);
      vmprobeChild.send({
        type: 'run',
        handler,
        ips,
        rate: opts.rate,
        warmupSeconds: opts.warmupSeconds,
      } satisfies ToChild);
      const vm = (await nextMessage<FromChild, 'result'>(vmprobeChild, 'result', 'vmprobe')).result;
      let floorRun: FloorRun | undefined;
      if (floor && handler === 'tcp') {
        // The paced C loop (probe-floor --rate): same targets, same rate and 10 ms ticks, one probe at
        // a time; what a tcp probe costs at this rate when nothing but the kernel's work is done.
        process.stderr.write(`${handler}: floor (C loop at the same rate)…\n`);
        const hosts = ips.join(',');
        floor.run(
          'tcp',
          hosts,
          TCP_PORT,
          Math.round(opts.rate.rate * opts.warmupSeconds),
          undefined,
          opts.rate.rate,
        );
        floorRun = floor.run(
          'tcp',
          hosts,
          TCP_PORT,
          Math.round(opts.rate.rate * opts.rate.seconds),
          undefined,
          opts.rate.rate,
        );
      }
      rows.push({ handler, vm, bb, floor: floorRun });
    }
    floor?.dispose();
    process.stderr.write('exporter HTTP serving baseline: /-/healthy at the same rate…\n');
    const base = await driveExporter(
      exporter,
      opts.rate,
      opts.warmupSeconds,
      () => '/-/healthy',
      () => true,
    );
    const servingPerK = perThousand(base.exporter.cpuSeconds, base.exporter.probes);

    const { rate, concurrency, seconds } = opts.rate;
    const out: string[] = [
      `vmprobe probers vs prometheus-blackbox-exporter: ${ips.length} loopback targets, offered ${rate}/s, ` +
        `concurrency ${concurrency}, ${seconds} s per side and handler (after ${opts.warmupSeconds} s warm-up), timeout 1 s`,
      '',
      'handler  side      probes  probes/s  skipped  failed  p50/p99 ms  CPU-s   % core  CPU-s/1k probes  ratio bb/vmprobe',
    ];
    const line = (handler: string, side: string, r: PhaseResult, ratio: string) =>
      `${handler.padEnd(8)} ${side.padEnd(9)} ${String(r.probes).padStart(6)}  ${(r.probes / r.wallSeconds).toFixed(0).padStart(8)}  ` +
      `${String(r.skipped).padStart(7)}  ${String(r.failed).padStart(6)}  ${`${r.p50Ms.toFixed(1)}/${r.p99Ms.toFixed(1)}`.padStart(10)}  ${r.cpuSeconds.toFixed(2).padStart(5)}  ` +
      `${((r.cpuSeconds / r.wallSeconds) * 100).toFixed(1).padStart(6)}  ${f3(perThousand(r.cpuSeconds, r.probes)).padStart(15)}  ${ratio}`;
    const floorLines: string[] = [];
    for (const { handler, vm, bb, floor: fl } of rows) {
      const vmK = perThousand(vm.cpuSeconds, vm.probes);
      const bbK = perThousand(bb.exporter.cpuSeconds, bb.exporter.probes);
      const netK = bbK - servingPerK;
      out.push(line(handler, 'vmprobe', vm, ''));
      out.push(
        line(
          '',
          'blackbox',
          bb.exporter,
          `${(bbK / vmK).toFixed(2)}× (net of serving: ${f3(netK)} CPU-s/1k, ${(netK / vmK).toFixed(2)}×)`,
        ),
      );
      if (fl) {
        const flK = (fl.userUs + fl.sysUs) / 1000 / fl.probes;
        floorLines.push(
          `${handler} floor (C loop, same targets, paced at the same rate, one probe at a time): ${f3(flK)} CPU-s/1k probes ` +
            `(user ${(fl.userUs / fl.probes) | 0} + sys ${(fl.sysUs / fl.probes) | 0} µs/probe, ${fl.failed} failed, ${fl.wallS.toFixed(1)} s); ` +
            `vmprobe ÷ floor ${(vmK / flK).toFixed(2)}×, blackbox ÷ floor ${(bbK / flK).toFixed(2)}× (net ${(netK / flK).toFixed(2)}×)`,
        );
      }
    }
    if (floorLines.length > 0) out.push('', ...floorLines);
    out.push(
      `vmprobe's rate loop alone (same rate, a task that resolves at once; counted in vmprobe's CPU above): ` +
        rows
          .map(({ handler, vm }) => `${handler} ${(vm.rateLoopUs ?? Number.NaN).toFixed(1)} µs per start`)
          .join(', '),
    );
    out.push('');
    out.push(
      `exporter serving /-/healthy at the same rate: ${f3(servingPerK)} CPU-s per 1,000 requests ` +
        `(${base.exporter.probes} requests, ${base.exporter.failed} failed) — subtracted for "net of serving"`,
    );
    const driverPerK = rows.map(
      ({ handler, bb }) => `${handler} ${f3(perThousand(bb.driverCpuSeconds, bb.exporter.probes))}`,
    );
    out.push(
      `driver (this process: HTTP client + rate loop, not counted on either side): CPU-s per 1,000 /probe requests: ${driverPerK.join(', ')}; ` +
        `/-/healthy ${f3(perThousand(base.driverCpuSeconds, base.exporter.probes))}`,
    );
    out.push(
      'counted: vmprobe = its child process (probes + rate loop, process.cpuUsage); blackbox = the exporter process, ' +
        'all threads (/proc/<pid>/stat utime+stime, 10 ms ticks): probes + answering /probe (metrics text, per-probe debug log)',
    );
    const failureLines: string[] = [];
    for (const { handler, vm, bb } of rows) {
      for (const [why, n] of Object.entries(vm.failures))
        failureLines.push(`  ${handler} vmprobe: ${n} × ${why}`);
      for (const [why, n] of Object.entries(bb.exporter.failures))
        failureLines.push(`  ${handler} blackbox: ${n} × ${why}`);
    }
    if (failureLines.length > 0) out.push('failures:', ...failureLines);
    if (rows.some(({ vm, bb }) => vm.skipped + bb.exporter.skipped > 0))
      out.push(
        'skipped: starts dropped because `concurrency` probes were in flight (the side could not keep up with the ' +
          'offered rate on this machine at that moment); CPU per probe counts only the probes made',
      );
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    exporter?.proc.kill('SIGTERM');
    for (const c of children) {
      if (c.exitCode === null && c.connected) {
        c.send({ type: 'stop' } satisfies ToChild);
        await new Promise((r) => c.once('exit', r));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    targets: { type: 'string', default: '100' },
    rate: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '6' },
    // 3 s: a perf profile of the vmprobe child after a 1 s warm-up had ~18 % of its window in V8's
    // JIT compiler and ~13 % in a major GC of start-up garbage — start-up, not per-probe, costs.
    'warmup-seconds': { type: 'string', default: '3' },
    handlers: { type: 'string', default: HANDLERS.join(',') },
    'vmprobe-node-args': { type: 'string', default: '' },
  },
});
const handlers = (values.handlers ?? '').split(',').filter((h) => h !== '') as Handler[];
const vmprobeNodeArgs = (values['vmprobe-node-args'] ?? '').split(' ').filter((a) => a !== '');
const targets = Number(values.targets);
const rate = Number(values.rate);
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values['warmup-seconds']);
if (
  !(Number.isInteger(targets) && targets > 0) ||
  !(rate > 0) ||
  !(Number.isInteger(concurrency) && concurrency > 0) ||
  !(seconds > 0) ||
  !(warmupSeconds >= 0) ||
  handlers.length === 0 ||
  !handlers.every((h) => HANDLERS.includes(h))
) {
  process.stderr.write(
    'usage: bench-blackbox [--targets N] [--rate PER_S] [--concurrency C] [--seconds S] [--warmup-seconds S] ' +
      '[--handlers http,tcp,icmp] [--vmprobe-node-args ARGS]\n',
  );
  process.exit(2);
}
const fail = (err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (values.role) send({ type: 'error', message });
  else process.stderr.write(`bench-blackbox: ${message}\n`);
  process.exit(1);
};
if (values.role === 'targets') targetsRole(targets).catch(fail);
else if (values.role === 'vmprobe') vmprobeRole().catch(fail);
else
  parent({ targets, rate: { rate, concurrency, seconds }, warmupSeconds, handlers, vmprobeNodeArgs }).then(
    () => process.exit(0),
    fail,
  );
