// Profiling helper: records a CPU profile and a sampling heap profile of a running node process
// for a window of N seconds, through its inspector (the process must run with --inspect=HOST:PORT).
// Unlike `--cpu-prof` / `--heap-prof` (whole life, and the heap profile keeps only objects still
// alive at exit), this measures just the window and counts every allocation, including the objects
// the scavenger already collected — the allocation rate per call site, which is what drives GC.
//
//   NODE_OPTIONS=--experimental-websocket npx tsx scripts/profile-window.ts --port 9339 --seconds 20 --out DIR [--interval 4096] [--attempts N]
//
// With bench:agent: `npm run bench:agent -- --vmis 1000 --seconds 30 --node-args='--inspect=127.0.0.1:9339'`
// and start this once the bench prints "measuring". Writes DIR/window.cpuprofile and
// DIR/window.heapprofile (open both in Chrome DevTools) and prints the top self-time and
// allocation sites; --attempts divides the sampled bytes by that many probe attempts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9339' },
    seconds: { type: 'string', default: '20' },
    out: { type: 'string', default: '/tmp/profile-window' },
    interval: { type: 'string', default: '4096' },
    attempts: { type: 'string' },
    top: { type: 'string', default: '30' },
  },
});

interface WsLike {
  addEventListener(type: string, listener: (ev: { data?: unknown }) => void, opts?: { once: boolean }): void;
  send(data: string): void;
  close(): void;
}
type WsConstructor = new (url: string) => WsLike;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface CpuNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples: { size: number; nodeId: number; ordinal: number }[];
}

const where = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(agent|node_modules)\//, '$1/').replace(/^node:/, '')}:${f.lineNumber + 1}`;

async function main(): Promise<void> {
  const port = Number(values.port);
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  // Node 20's WebSocket is behind --experimental-websocket (global from Node 22).
  const Ws = (globalThis as unknown as { WebSocket?: WsConstructor }).WebSocket;
  if (!Ws) throw new Error('no global WebSocket: run with NODE_OPTIONS=--experimental-websocket on Node 20');
  const ws = new Ws(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  });
  const send = <T>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });

  await send('Profiler.enable');
  await send('HeapProfiler.enable');
  await send('HeapProfiler.startSampling', {
    samplingInterval: Number(values.interval),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await send('Profiler.start');
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  const { profile: cpu } = await send<{ profile: CpuProfile }>('Profiler.stop');
  const { profile: heap } = await send<{ profile: HeapProfile }>('HeapProfiler.stopSampling');
  const elapsed = (performance.now() - t0) / 1000;
  ws.close();

  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'window.cpuprofile'), JSON.stringify(cpu));
  writeFileSync(join(values.out, 'window.heapprofile'), JSON.stringify(heap));

  const top = Number(values.top);
  // CPU: self time per call frame, as a share of the busy (non-idle) samples.
  const byId = new Map(cpu.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < cpu.samples.length; i++) {
    const n = byId.get(cpu.samples[i] as number);
    if (!n) continue;
    const dt = cpu.timeDeltas[i] ?? 0;
    if (n.callFrame.functionName === '(idle)') continue;
    busy += dt;
    const k = where(n.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
  }
  console.log(
    `window ${elapsed.toFixed(1)} s; main thread busy ${((busy / 1e6 / elapsed) * 100).toFixed(1)} % (profiled)`,
  );
  console.log('CPU self time, share of busy samples:');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);

  // Heap: bytes per allocating frame (self) over the window. A node's selfSize is V8's estimate of
  // the bytes allocated there (each sample scaled up by the sampling rate); samples give counts.
  const alloc = new Map<string, { bytes: number; count: number }>();
  const counts = new Map<number, number>();
  for (const s of heap.samples) counts.set(s.nodeId, (counts.get(s.nodeId) ?? 0) + 1);
  let total = 0;
  const walk = (n: HeapNode, parent: HeapNode | undefined) => {
    if (n.selfSize > 0) {
      total += n.selfSize;
      const k = `${where(n.callFrame)}  ← ${parent ? parent.callFrame.functionName || '(anonymous)' : ''}`;
      const e = alloc.get(k) ?? { bytes: 0, count: 0 };
      e.bytes += n.selfSize;
      e.count += counts.get(n.id) ?? 0;
      alloc.set(k, e);
    }
    for (const c of n.children) walk(c, n);
  };
  walk(heap.head, undefined);
  const attempts = values.attempts ? Number(values.attempts) : undefined;
  console.log(
    `allocated (sampled, every ~${values.interval} B): ${(total / 1024 / 1024 / elapsed).toFixed(2)} MiB/s` +
      (attempts ? `, ${(total / attempts).toFixed(0)} B per attempt over ${attempts} attempts` : ''),
  );
  for (const [k, v] of [...alloc].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top))
    console.log(
      `  ${((v.bytes / total) * 100).toFixed(1).padStart(5)} %  ${attempts ? `${(v.bytes / attempts).toFixed(0).padStart(5)} B/attempt  ` : ''}${k}`,
    );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
