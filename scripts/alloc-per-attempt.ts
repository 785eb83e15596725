// Profiling helper: bytes allocated per probe attempt by the agent's own code, item by item.
// Runs W probe workers (half tcpSocket, half httpGet, period 1 s) on the agent's real path —
// probeWorkerFactory → ProbeWorker → runProbeThen → the probers, results into AgentMetrics — against
// loopback servers in this process, and after a warm-up samples every allocation for S seconds
// (V8's sampling heap profiler keeping the objects the scavenger already collected). Each sample is
// charged to the nearest frame of agent/dist on its stack; what has none (the test servers, Node
// internals called from the event loop, native callbacks' own objects) is shown apart.
//
//   npm run build && npx tsx scripts/alloc-per-attempt.ts [--seconds 6] [--workers 200] [--interval 512]
//
// Load-independent (bytes, not time), light (~W/2 × 2 attempts/s), so it can run beside other work.
// At this rate V8 optimises less than in the agent at 2,000 attempts/s, so doubles boxed by the
// interpreter show up here that the agent's optimised code does not allocate: read the ranking,
// then confirm in the agent with scripts/profile-window.ts.
import { createServer as createHttpServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { type AddressInfo, createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { systemClock } from '@vmprobe/agent';
import { probeWorkerFactory } from '@vmprobe/agent/manager/worker-factory';
import { AgentMetrics } from '@vmprobe/agent/metrics/agent-metrics';
import type { ProbeTarget } from '@vmprobe/agent/probers/types';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    workers: { type: 'string', default: '200' },
    interval: { type: 'string', default: '512' },
    top: { type: 'string', default: '25' },
  },
});

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

const where = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/agent\/dist\//, '').replace(/^node:/, '')}:${f.lineNumber + 1}`;

async function main(): Promise<void> {
  const tcpServer = createServer((s) => {
    s.on('error', () => {});
    s.resume();
    s.on('end', () => s.end());
  });
  const httpServer = createHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
  });
  httpServer.on('connection', (s) => s.on('error', () => {}));
  await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const metrics = new AgentMetrics({ node: 'n', version: 'v', processMetrics: false });
  const factory = probeWorkerFactory({ logger: { error() {} } as never });
  let attempts = 0;
  let notSuccess = 0;
  const workers = [];
  for (let i = 0; i < Number(values.workers); i++) {
    const http = i % 2 === 1;
    const target: ProbeTarget = http
      ? {
          type: 'http',
          scheme: 'http',
          host: '127.0.0.1',
          port: (httpServer.address() as AddressInfo).port,
          path: '/healthz',
          headers: [],
        }
      : { type: 'tcp', host: '127.0.0.1', port: (tcpServer.address() as AddressInfo).port };
    const kind = http ? 'readiness' : 'liveness';
    const id = {
      namespace: 'ns',
      vmi: `vm-${i >> 1}`,
      probe: kind,
      handler: http ? 'http' : 'tcp',
    } as const;
    const w = factory({
      probe: { kind, timeoutSeconds: 1, periodSeconds: 1, successThreshold: 1, failureThreshold: 3 } as never,
      target,
      initialState: 'success',
      initialDelayMs: 0,
      clock: systemClock,
      onResult: (o, state, lag) => {
        attempts++;
        if (o.result !== 'success') notSuccess++;
        metrics.probeResult(id, o, state, lag);
      },
      onTransition: () => {},
    });
    workers.push(w);
    w.start();
  }
  await new Promise((r) => setTimeout(r, 3000));
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: Number(values.interval),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  const a0 = attempts;
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
    profile: { head: HeapNode };
  };
  const n = attempts - a0;
  for (const w of workers) w.stop();
  session.disconnect();
  tcpServer.close();
  httpServer.closeAllConnections();
  httpServer.close();

  const ours = new Map<string, number>();
  let total = 0;
  let elsewhere = 0;
  const walk = (node: HeapNode, nearest: CallFrame | undefined) => {
    const here = node.callFrame.url.includes('/agent/dist/') ? node.callFrame : nearest;
    if (node.selfSize > 0) {
      total += node.selfSize;
      if (here) ours.set(where(here), (ours.get(where(here)) ?? 0) + node.selfSize);
      else elsewhere += node.selfSize;
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, undefined);
  const perAttempt = (b: number) => (b / n).toFixed(0).padStart(6);
  console.log(
    `${n} attempts (${notSuccess} not success) in ${values.seconds} s: agent code ${perAttempt(total - elsewhere).trim()} B per attempt; ` +
      `not under agent code ${perAttempt(elsewhere).trim()} B (test servers, Node internals)`,
  );
  console.log('B per attempt, by the nearest agent/dist frame:');
  for (const [k, v] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top)))
    console.log(`  ${perAttempt(v)}  ${k}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
