// Benchmark of the guest probers (not a test): CPU per exec and per guestAgentPing probe at
// 1,000 VMIs × 1 probe every 10 s, against 1,000 fake virt-launcher command servers (one unix
// socket each, test/src/launcher) in a child process, so only the prober side is measured here.
// Per kind: one warm-up round (opens the 1,000 gRPC clients and negotiates versions; its CPU is
// reported apart), then the measured window at the steady rate. The third row, `floor`, is the same
// GuestPing through a bare @grpc/grpc-js client (what the library alone costs).
//
//   npm run bench:exec -- [--vmis 1000] [--period 10] [--seconds 30]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { LauncherClientPool, type ProbeOutcome, probeExec, probeGuestPing } from '@vmprobe/agent';
import { codecs, METHOD } from '@vmprobe/agent/probers/launcher-proto';
import { runAtRate } from './lib/rate.js';
import { cpuSeconds, procCpuSeconds, quantile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    vmis: { type: 'string', default: '1000' },
    period: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '30' },
    child: { type: 'string' },
  },
});
const vmis = Number(args.vmis);
const period = Number(args.period);
const seconds = Number(args.seconds);

const podUid = (i: number) => `pod-${String(i).padStart(5, '0')}`;
const domainName = (i: number) => `bench_vm${i}`;

/** Child: N fake launchers under the given root; prints "ready" once all listen. */
async function child(root: string): Promise<void> {
  const { startFakeLauncher } = await import('../test/src/launcher/index.js');
  const launchers: Awaited<ReturnType<typeof startFakeLauncher>>[] = [];
  for (let i = 0; i < vmis; i++) {
    launchers.push(
      await startFakeLauncher({
        podsRoot: root,
        podUid: podUid(i),
        domainName: domainName(i),
        guest: { guest: 'answers', stdOut: 'ok' },
        recordLimit: 1,
      }),
    );
  }
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    void Promise.all(launchers.map((l) => l.stop())).then(() => process.exit(0));
  });
}

function startChild(root: string): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', self, '--vmis', String(vmis), '--child', root], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    c.once('error', reject);
    c.once('exit', (code) => reject(new Error(`launcher child exited ${code}`)));
    c.stdout?.once('data', () => resolve(c));
  });
}

interface Window {
  probes: number;
  cpuS: number;
  serverCpuS: number;
  wallS: number;
  results: ProbeOutcome[];
  skipped: number;
}

/** The library's floor: the same GuestPing through a bare @grpc/grpc-js Client per socket, no
 *  pool, no negotiation, no outcome building — what any gRPC caller in Node pays. */
const floorClients = new Map<string, grpc.Client>();
function floorPing(socketPath: string, domain: string): Promise<ProbeOutcome> {
  let client = floorClients.get(socketPath);
  if (!client) {
    client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
    floorClients.set(socketPath, client);
  }
  const t0 = performance.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      METHOD.GuestPing,
      codecs.GuestPingRequest.encode,
      codecs.GuestPingResponse.decode,
      { domainName: domain, timeoutSeconds: 1 },
      new grpc.Metadata(),
      { deadline: Date.now() + 2000 },
      (err) =>
        resolve({
          result: err ? 'failure' : 'success',
          reason: '',
          message: '',
          timings: { startedAt: 0, durationMs: performance.now() - t0 },
        }),
    );
  });
}

async function window(
  kind: 'exec' | 'guestAgentPing' | 'floor',
  root: string,
  pool: LauncherClientPool,
  serverPid: number,
  windowSeconds: number,
): Promise<Window> {
  const socket = (i: number) =>
    join(root, podUid(i), 'volumes/kubernetes.io~empty-dir/sockets/launcher-sock');
  const cpu0 = process.cpuUsage();
  const srv0 = procCpuSeconds(serverPid);
  const r = await runAtRate({ rate: vmis / period, concurrency: vmis, seconds: windowSeconds }, (n) => {
    const i = n % vmis;
    if (kind === 'floor') return floorPing(socket(i), domainName(i));
    return kind === 'exec'
      ? probeExec(
          {
            type: 'exec',
            socketPath: socket(i),
            domainName: domainName(i),
            command: 'cat',
            args: ['/tmp/ready'],
          },
          { timeoutMs: 1000 },
          undefined,
          pool,
        )
      : probeGuestPing(
          { type: 'guestAgentPing', socketPath: socket(i), domainName: domainName(i) },
          { timeoutMs: 1000 },
          undefined,
          pool,
        );
  });
  return {
    probes: r.results.length,
    cpuS: cpuSeconds(process.cpuUsage(cpu0)),
    serverCpuS: procCpuSeconds(serverPid) - srv0,
    wallS: r.wallSeconds,
    results: r.results,
    skipped: r.skipped,
  };
}

function report(kind: string, phase: string, w: Window): void {
  const ok = w.results.filter((o) => o.result === 'success').length;
  const lat = w.results.map((o) => o.timings.durationMs).sort((a, b) => a - b);
  console.log(
    `${kind.padEnd(14)} ${phase.padEnd(7)} probes ${String(w.probes).padStart(6)} (${ok} success, ${w.skipped} skipped)  ` +
      `CPU ${(w.cpuS * 1000).toFixed(0)} ms = ${((w.cpuS / w.wallS) * 100).toFixed(2)} % of a core  ` +
      `${((w.cpuS / Math.max(1, w.probes)) * 1e6).toFixed(0)} µs/probe  ` +
      `latency p50 ${quantile(lat, 0.5).toFixed(1)} ms p99 ${quantile(lat, 0.99).toFixed(1)} ms  ` +
      `(launchers' CPU ${((w.serverCpuS / Math.max(1, w.probes)) * 1e6).toFixed(0)} µs/probe)`,
  );
}

async function main(): Promise<void> {
  if (args.child) return child(args.child);
  const root = await mkdtemp(join(tmpdir(), 'vb-'));
  const c = await startChild(root);
  c.removeAllListeners('exit');
  try {
    console.log(
      `bench-exec: ${vmis} VMIs × 1 probe @ ${period} s (${vmis / period} probes/s), ${seconds} s measured per kind; ` +
        `load avg ${(await import('node:os'))
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
    );
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    for (const kind of ['exec', 'guestAgentPing', 'floor'] as const) {
      const pool = new LauncherClientPool();
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      // Warm-up: one full round, so every client is open and negotiated.
      report(kind, 'warm-up', await window(kind, root, pool, c.pid as number, period));
      const rss0 = process.memoryUsage().rss;
      report(kind, 'steady', await window(kind, root, pool, c.pid as number, seconds));
      global.gc?.();
      const m = process.memoryUsage();
      const clients = kind === 'floor' ? floorClients.size : pool.size;
      console.log(
        `${' '.repeat(23)}clients open ${clients}: RSS ${mib(rssBefore)} before the clients, ${mib(m.rss)} after the window ` +
          `(${((m.rss - rssBefore) / Math.max(1, clients) / 1024).toFixed(0)} KiB per client; growth in the steady window ${mib(m.rss - rss0)}; heap used ${mib(m.heapUsed)})`,
      );
      pool.close();
      if (kind === 'floor') {
        for (const f of floorClients.values()) f.close();
        floorClients.clear();
      }
    }
  } finally {
    c.stdin?.end();
    await new Promise((r) => c.once('exit', r));
    await rm(root, { recursive: true, force: true });
  }
}

await main();
