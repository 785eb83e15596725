// Benchmark: `vmprobe webhook` as shipped — the built CLI in its own process, with the Deployment's
// NODE_OPTIONS — answering admission calls for launcher pods, each with its real VMI GET against
// the API emulator (this process) as the webhook's service account.
//
//   npm run bench:webhook -- [--calls 2000] [--concurrency 16] [--vmis 200] [--creates 300]
//
// Three measurements:
// 1. sequential: one caller on one keep-alive TLS connection (what one kube-apiserver does for a
//    trickle of VM starts): latency per call (p50 / p99 / max), measured by the caller;
// 2. concurrent: `--concurrency` callers, each on its own keep-alive connection (a burst of VM
//    starts): latency and calls per second;
// 3. through the admission chain: launcher pods created through the emulator's HTTP API, which calls
//    the webhook as kube-apiserver does (fresh TLS connection per call, caBundle verified): the
//    emulator's own per-call duration (ms resolution).
// For the webhook process: CPU per call (/proc/<pid>/stat over phases 1+2) and RSS (VmRSS, VmHWM).
// Half the VMIs have a readiness probe (→ patch), half do not (→ no patch). Needs `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { procCpuSeconds, quantile } from './lib/stats.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BIN = join(ROOT, 'agent/bin/vmprobe.js');
const DEPLOYMENT = join(ROOT, 'manifests/webhook/deployment.yaml');
const NS = 'bench';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    vmis: { type: 'string', default: '200' },
    creates: { type: 'string', default: '300' },
  },
});
const CALLS = Number(args.calls);
const CONC = Number(args.concurrency);
const VMIS = Number(args.vmis);
const CREATES = Number(args.creates);
if (![CALLS, CONC, VMIS, CREATES].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('bench-webhook: --calls, --concurrency, --vmis and --creates must be positive integers');
  process.exit(2);
}
if (!existsSync(join(ROOT, 'agent/bundle/vmprobe.js'))) {
  console.error('bench-webhook: build first (npm run build)');
  process.exit(2);
}

const { startEmulator, ADMIN_USER } = await import('../test/src/emulator/index.js');
const { WEBHOOK_USER, WEBHOOK_SERVICE, WEBHOOK_DNS_NAMES, WEBHOOK_MANIFEST } = await import(
  '../test/src/webhook.js'
);
const { makeCa, issueServing } = await import('../test/src/webhook-certs.js');

function nodeOptions(): string {
  const dep = parseAllDocuments(readFileSync(DEPLOYMENT, 'utf8'))[0]!.toJS() as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  return dep.spec.template.spec.containers[0]!.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof a === 'object' && a ? a.port : 0;
}

function memOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
const dir = mkdtempSync(join(tmpdir(), 'vmprobe-bench-webhook-'));
const emu = await startEmulator({ namespaces: ['default', NS] });
let child: ReturnType<typeof spawn> | undefined;
try {
  // VMIs: half with a readiness probe.
  for (let i = 0; i < VMIS; i++) {
    emu.store.create({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { name: `vmi-${i}`, namespace: NS },
      spec: {
        domain: { devices: {} },
        ...(i % 2 === 0 ? { readinessProbe: { httpGet: { port: 80 }, periodSeconds: 10 } } : {}),
      },
    });
  }
  const ca = makeCa();
  const pair = issueServing(ca, WEBHOOK_DNS_NAMES);
  writeFileSync(join(dir, 'tls.crt'), pair.certPem);
  writeFileSync(join(dir, 'tls.key'), pair.keyPem);
  const kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(WEBHOOK_USER, kubeconfig);
  const port = await freePort();
  const nodeOpts = nodeOptions();
  child = spawn(
    process.execPath,
    [
      BIN,
      'webhook',
      `--tls-cert-file=${join(dir, 'tls.crt')}`,
      `--tls-private-key-file=${join(dir, 'tls.key')}`,
      `--listen=127.0.0.1:${port}`,
      `--kubeconfig=${kubeconfig}`,
      '--log-level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: nodeOpts } },
  );
  const pid = child.pid!;

  const call = (agent: Agent, path: string, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: body ? 'POST' : 'GET',
          ca: ca.pem,
          servername: WEBHOOK_DNS_NAMES[0],
          agent,
          headers: body
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
            : {},
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const probeAgent = new Agent({ keepAlive: false });
  for (let i = 0; ; i++) {
    const ok = await call(probeAgent, '/readyz').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (i > 400) throw new Error('the webhook did not become ready');
    await new Promise((r) => setTimeout(r, 25));
  }

  let n = 0;
  const review = () => {
    const i = n++ % VMIS;
    return JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `uid-${n}`,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: NS,
        operation: 'CREATE',
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            generateName: `virt-launcher-vmi-${i}-`,
            namespace: NS,
            labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': `u-${i}` },
            ownerReferences: [
              {
                apiVersion: 'kubevirt.io/v1',
                kind: 'VirtualMachineInstance',
                name: `vmi-${i}`,
                uid: `u-${i}`,
                controller: true,
              },
            ],
          },
          spec: {
            containers: [{ name: 'compute', image: 'virt-launcher' }],
            readinessGates: [{ conditionType: 'kubevirt.io/virtual-machine-unpaused' }],
          },
        },
      },
    });
  };
  const runPhase = async (total: number, workers: number) => {
    const lat: number[] = [];
    let patched = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        while (lat.length < total) {
          const s = performance.now();
          const r = await call(agent, '/mutate-v1-pod?timeout=5s', review());
          lat.push(performance.now() - s);
          if (r.status !== 200) throw new Error(`admission call answered ${r.status}: ${r.text}`);
          if (JSON.parse(r.text).response.patch) patched++;
        }
        agent.destroy();
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return { lat, secs, patched };
  };

  // Warm-up (JIT, connections), not measured.
  await runPhase(200, 4);
  const cpu0 = procCpuSeconds(pid);
  const seq = await runPhase(CALLS, 1);
  const par = await runPhase(CALLS * 2, CONC);
  const cpu1 = procCpuSeconds(pid);
  const mem = memOf(pid);

  // Through the emulator's admission chain.
  emu.webhooks.mapService(WEBHOOK_SERVICE, { host: '127.0.0.1', port });
  const mwc = parseAllDocuments(readFileSync(WEBHOOK_MANIFEST, 'utf8'))[0]!.toJS() as {
    webhooks: { clientConfig: Record<string, unknown> }[];
  };
  mwc.webhooks[0]!.clientConfig.caBundle = Buffer.from(ca.pem).toString('base64');
  emu.store.create(mwc);
  const token = emu.tokenFor(ADMIN_USER);
  const createLat: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const body = JSON.parse(review()).request.object;
    const s = performance.now();
    const res = await fetch(`${emu.url}/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    createLat.push(performance.now() - s);
    if (res.status !== 201) throw new Error(`pod create answered ${res.status}`);
  }
  createLat.sort((a, b) => a - b);
  const chain = emu.webhooks.calls
    .filter((c) => c.webhook === 'readiness-gate.vmprobe.io')
    .map((c) => c.durationMs)
    .sort((a, b) => a - b);

  const line = (name: string, r: { lat: number[]; secs: number; patched: number }) =>
    `${name.padEnd(24)} calls ${String(r.lat.length).padStart(5)}  p50 ${fmt(quantile(r.lat, 0.5))}  p99 ${fmt(quantile(r.lat, 0.99))}  max ${fmt(r.lat.at(-1) ?? Number.NaN)}  ${(r.lat.length / r.secs).toFixed(0)} calls/s  (${r.patched} patched)`;
  console.log(
    `bench:webhook — ${VMIS} VMIs (half with a readiness probe), webhook NODE_OPTIONS="${nodeOpts}"`,
  );
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (shared: numbers vary with load)`,
  );
  console.log(line('sequential (1 conn)', seq));
  console.log(line(`concurrent (${CONC} conns)`, par));
  console.log(
    `through the emulator     calls ${String(chain.length).padStart(5)}  webhook call p50 ${chain.length ? `${quantile(chain, 0.5)} ms` : 'n/a'}  p99 ${chain.length ? `${quantile(chain, 0.99)} ms` : 'n/a'} (ms resolution, new TLS connection each)  pod create p50 ${fmt(quantile(createLat, 0.5))}  p99 ${fmt(quantile(createLat, 0.99))}`,
  );
  const callsMeasured = seq.lat.length + par.lat.length;
  console.log(
    `webhook process: CPU ${(((cpu1 - cpu0) / callsMeasured) * 1e6).toFixed(0)} µs per call (${(cpu1 - cpu0).toFixed(2)} s for ${callsMeasured}), RSS ${(mem.rss / 2 ** 20).toFixed(0)} MiB, peak ${(mem.hwm / 2 ** 20).toFixed(0)} MiB`,
  );
} finally {
  child?.kill('SIGTERM');
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
