// Benchmark of the probers (not a test): how many tcp and http probes/s one core sustains against
// a local server, CPU-seconds per 1,000 probes, and the TIME_WAIT count after N s of tcp probes at
// a fixed rate. The target servers run in a child process so only the prober side is measured.
//
//   npm run bench:probes -- [--throughput-seconds 5] [--concurrency 32] [--tw-seconds 60] [--tw-rate 1000] [--compare-fin]
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ProbeOutcome, type ProbeTarget, runProbe } from '@vmprobe/agent';
import { probeTcp } from '@vmprobe/agent/probers/tcp';
import { cpuSeconds } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    'throughput-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    'tw-seconds': { type: 'string', default: '60' },
    'tw-rate': { type: 'string', default: '1000' },
    'compare-fin': { type: 'boolean', default: false },
  },
});
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
    await throughput('tcp', () => runProbe(tcpTarget, { timeoutMs: 1000 }));
    await throughput('http', () => runProbe(httpTarget, { timeoutMs: 1000 }));
    await timeWaitRun(servers.tcp, 'reset');
    if (args['compare-fin']) await timeWaitRun(servers.tcp, 'end');
  } finally {
    servers.child.kill();
  }
}

await main();
