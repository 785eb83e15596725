// Benchmark of the probers (not a test), against local servers run in a child process so only the
// prober side is measured:
//  - floor: CPU per probe of vmprobe's tcp and http probers ÷ the floor, a minimal native loop
//    (scripts/floor/probe-floor.c, compiled now with the machine's cc) doing the same connection
//    against the same server; both one attempt at a time, back to back, in rounds that alternate
//    floor and vmprobe, so a shared machine's load hits both alike: read the ratio and its spread;
//  - throughput: how many tcp and http probes/s one core sustains, CPU-seconds per 1,000 probes;
//  - the TIME_WAIT count after N s of tcp probes at a fixed rate (RST close vs FIN close).
//
//   npm run bench:probes -- [--only floor,throughput,timewait] [--floor-probes 3000] [--floor-rounds 5]
//     [--throughput-seconds 5] [--concurrency 32] [--tw-seconds 60] [--tw-rate 1000] [--compare-fin]
//     [--json FILE]  (also write the numbers as JSON, for scripts/bench-runtimes.ts)
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ProbeOutcome, type ProbeTarget, runProbe } from '@vmprobe/agent';
import { probeHttp, requestHead } from '@vmprobe/agent/probers/http';
import { probeTcp } from '@vmprobe/agent/probers/tcp';
import { compileFloor, type FloorProgram } from './lib/floor.js';
import { cpuSeconds, quantile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    'throughput-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    'tw-seconds': { type: 'string', default: '60' },
    'tw-rate': { type: 'string', default: '1000' },
    'compare-fin': { type: 'boolean', default: false },
    only: { type: 'string', default: 'floor,throughput,timewait' },
    'floor-probes': { type: 'string', default: '3000' },
    'floor-rounds': { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const sections = new Set((args.only ?? '').split(','));
const floorProbes = Number(args['floor-probes']);
const floorRounds = Number(args['floor-rounds']);
/** What --json writes: per section, the numbers printed. */
const report: Record<string, unknown> = { node: process.version };
const throughputSeconds = Number(args['throughput-seconds']);
const concurrency = Number(args.concurrency);
const twSeconds = Number(args['tw-seconds']);
const twRate = Number(args['tw-rate']);

// A deep accept backlog: on a loaded machine a starved server child would otherwise overflow the
// default queue (RST-closed connections wait there until accepted) and SYNs would be dropped.
const SERVER = `
const http = require('node:http'); const net = require('node:net');
const h = http.createServer((req, res) => res.end('ok'));
h.on('connection', (s) => s.on('error', () => {}));
const t = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
h.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => t.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
  process.stdout.write(JSON.stringify({ http: h.address().port, tcp: t.address().port }) + '\\n')));
`;

function startServers(): Promise<{ child: ChildProcess; http: number; tcp: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.stdout?.once('data', (d: Buffer) => {
      const ports = JSON.parse(d.toString()) as { http: number; tcp: number };
      resolve({ child, ...ports });
    });
  });
}

function countTimeWait(port: number): number {
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '06') continue;
      const local = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
      const remote = Number.parseInt(f[2]?.split(':')[1] ?? '', 16);
      if (local === port || remote === port) n++;
    }
  }
  return n;
}

async function throughput(name: string, probe: () => Promise<ProbeOutcome>): Promise<void> {
  // Warm up (JIT, first sockets), then measure.
  for (let i = 0; i < 200; i++) await probe();
  let ok = 0;
  let failed = 0;
  const failures = new Map<string, number>();
  const stopAt = performance.now() + throughputSeconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        const o = await probe();
        if (o.result === 'success') ok++;
        else {
          failed++;
          failures.set(o.message, (failures.get(o.message) ?? 0) + 1);
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  const n = ok + failed;
  console.log(
    `${name.padEnd(5)} ${n} probes in ${wall.toFixed(2)} s (concurrency ${concurrency}): ${(n / wall).toFixed(0)} probes/s at ` +
      `${((cpu / wall) * 100).toFixed(0)} % of a core → ${(n / cpu).toFixed(0)} probes per CPU-second; ` +
      `${((cpu / n) * 1000).toFixed(3)} CPU-s per 1,000 probes; failures ${failed}`,
  );
  for (const [message, count] of failures) console.log(`      ${count} × ${message}`);
  report[`throughput.${name}`] = { probesPerSecond: n / wall, cpuMsPer1000: (cpu / n) * 1e6, failed };
}

// ---------------------------------------------------------------------------------------------
// The floor: vmprobe ÷ a minimal native loop, same server, same run.

/** CPU microseconds per probe of `count` sequential probes in this process (after a warm-up). */
async function vmprobeSequential(
  probe: () => Promise<ProbeOutcome>,
  count: number,
): Promise<{ us: number; failed: number }> {
  let failed = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) if ((await probe()).result !== 'success') failed++;
  return { us: (cpuSeconds(process.cpuUsage(cpu0)) * 1e6) / count, failed };
}

interface FloorRow {
  handler: 'tcp' | 'http';
  /** 'handle': the shipped path (bare libuv handle); 'socket': the net.Socket fallback. */
  transport: 'handle' | 'socket';
  floorUs: number[];
  vmprobeUs: number[];
  ratios: number[];
  failed: number;
}

async function floorRatios(floor: FloorProgram, tcpPort: number, httpPort: number): Promise<void> {
  const tcpTarget = { type: 'tcp' as const, host: '127.0.0.1', port: tcpPort };
  const httpTarget = {
    type: 'http' as const,
    scheme: 'http' as const,
    host: '127.0.0.1',
    port: httpPort,
    path: '/',
    headers: [],
  };
  // The floor sends the very bytes vmprobe sends.
  const head = requestHead(new URL(`http://127.0.0.1:${httpPort}/`), []).toString('latin1');
  const rows: FloorRow[] = (['tcp', 'http'] as const).flatMap((handler) =>
    (['handle', 'socket'] as const).map((transport) => ({
      handler,
      transport,
      floorUs: [],
      vmprobeUs: [],
      ratios: [],
      failed: 0,
    })),
  );
  const probeOf = (row: FloorRow) =>
    row.handler === 'tcp'
      ? () => probeTcp(tcpTarget, { timeoutMs: 1000 }, undefined, 'reset', row.transport)
      : () => probeHttp(httpTarget, { timeoutMs: 1000 }, undefined, row.transport);
  const portOf = (row: FloorRow) => (row.handler === 'tcp' ? tcpPort : httpPort);
  // Warm-up: JIT and the first sockets of both.
  for (const row of rows) {
    await vmprobeSequential(probeOf(row), 500);
    floor.run(row.handler, '127.0.0.1', portOf(row), 200, head);
  }
  // Each vmprobe measurement is paired with a floor measurement just before it.
  for (let round = 0; round < floorRounds; round++) {
    for (const row of rows) {
      const f = floor.run(row.handler, '127.0.0.1', portOf(row), floorProbes, head);
      const v = await vmprobeSequential(probeOf(row), floorProbes);
      const fUs = (f.userUs + f.sysUs) / f.probes;
      row.floorUs.push(fUs);
      row.vmprobeUs.push(v.us);
      row.ratios.push(v.us / fUs);
      row.failed += f.failed + v.failed;
    }
  }
  const med = (xs: number[]) =>
    quantile(
      [...xs].sort((a, b) => a - b),
      0.5,
    );
  const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  console.log(
    `floor: ${floorRounds} rounds × ${floorProbes} probes each, one at a time, back to back; CPU = user+sys ` +
      '(getrusage: the C loop around itself, vmprobe process.cpuUsage around its loop)',
  );
  console.log(
    `  ${'handler'.padEnd(8)} ${'vmprobe path'.padEnd(22)} ${'floor µs/probe'.padEnd(15)} ${'vmprobe µs/probe'.padEnd(17)} ` +
      `${'vmprobe ÷ floor'.padEnd(16)} ${'spread'.padEnd(11)} goal`,
  );
  for (const row of rows) {
    const goal = row.handler === 'tcp' ? 1.5 : 2;
    const ratio = med(row.ratios);
    const path = row.transport === 'handle' ? 'bare handle (shipped)' : 'net.Socket (fallback)';
    console.log(
      `  ${row.handler.padEnd(8)} ${path.padEnd(22)} ${med(row.floorUs).toFixed(1).padEnd(15)} ${med(row.vmprobeUs).toFixed(1).padEnd(17)} ` +
        `${`${ratio.toFixed(2)}×`.padEnd(16)} ${spread(row.ratios).padEnd(11)} ≤ ${goal}× ${ratio <= goal ? 'met' : 'NOT met'}` +
        (row.failed ? `  (${row.failed} failed probes!)` : ''),
    );
    report[`floor.${row.handler}.${row.transport}`] = {
      floorUs: med(row.floorUs),
      vmprobeUs: med(row.vmprobeUs),
      ratio,
      ratioMin: Math.min(...row.ratios),
      ratioMax: Math.max(...row.ratios),
      failed: row.failed,
    };
  }
}

async function timeWaitRun(port: number, mode: 'reset' | 'end'): Promise<void> {
  const target = { type: 'tcp' as const, host: '127.0.0.1', port };
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((twRate * tickMs) / 1000));
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let maxTw = 0;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let nextTick = t0;
  while (performance.now() - t0 < twSeconds * 1000) {
    for (let i = 0; i < perTick; i++) {
      sent++;
      const p: Promise<void> = probeTcp(target, { timeoutMs: 1000 }, undefined, mode).then((o) => {
        if (o.result === 'success') ok++;
        else failed++;
        inflight.delete(p);
      });
      inflight.add(p);
    }
    if (sent % (twRate * 5) < perTick) maxTw = Math.max(maxTw, countTimeWait(port));
    nextTick += tickMs;
    const wait = nextTick - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  const tw = countTimeWait(port);
  console.log(
    `tcp ${mode === 'reset' ? 'RST close' : 'FIN close'}: ${sent} probes in ${wall.toFixed(1)} s (${(sent / wall).toFixed(0)}/s, ` +
      `${((cpu / wall) * 100).toFixed(0)} % of a core), successes ${ok}, failures ${failed}; TIME_WAIT toward the port at the end: ${tw} ` +
      `(max sampled ${Math.max(maxTw, tw)})`,
  );
  report[`timewait.${mode}`] = { probes: sent, cpuPercent: (cpu / wall) * 100, failed, timeWait: tw };
}

async function main(): Promise<void> {
  const servers = await startServers();
  try {
    console.log(`node ${process.version}, servers in child pid ${servers.child.pid}`);
    const tcpTarget: ProbeTarget = { type: 'tcp', host: '127.0.0.1', port: servers.tcp };
    const httpTarget: ProbeTarget = {
      type: 'http',
      scheme: 'http',
      host: '127.0.0.1',
      port: servers.http,
      path: '/',
      headers: [],
    };
    if (sections.has('floor')) {
      let floor: FloorProgram | undefined;
      try {
        floor = compileFloor();
      } catch (err) {
        console.log(`floor: SKIPPED — ${(err as Error).message}`);
      }
      if (floor) {
        try {
          await floorRatios(floor, servers.tcp, servers.http);
        } finally {
          floor.dispose();
        }
      }
    }
    if (sections.has('throughput')) {
      await throughput('tcp', () => runProbe(tcpTarget, { timeoutMs: 1000 }));
      await throughput('http', () => runProbe(httpTarget, { timeoutMs: 1000 }));
    }
    if (sections.has('timewait')) {
      await timeWaitRun(servers.tcp, 'reset');
      if (args['compare-fin']) await timeWaitRun(servers.tcp, 'end');
    }
  } finally {
    servers.child.kill();
  }
  if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}

await main();
