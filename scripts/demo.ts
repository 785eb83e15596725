// The Quick start demo: the vmprobe agent against an embedded emulated Kubernetes + KubeVirt and a
// VM simulator (loopback, no root), loaded with the seed document's three VMIs. It prints a live
// table of VMIs and probe states, then plays a script: one VM's HTTP server dies (liveness fails, the
// agent stops it, its VirtualMachine brings it back as a fresh VMI), and a readiness flip takes a VMI
// out of its Service's endpoints and back. Time is scaled (the seed's 120 s delays and 20 s periods
// would make a long demo); the screen says so. Ctrl-C exits cleanly.
//
//   npx tsx scripts/demo.ts [--listen 127.0.0.1:9470] [--scale 20] [--exit-when-done] [--plain]
//
// --exit-when-done: stop after the script (CI, smoke tests); --plain: no screen redraw, print the
// table on every change (also the default when stdout is not a terminal).
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:9470' },
    scale: { type: 'string', default: '20' },
    'exit-when-done': { type: 'boolean', default: false },
    plain: { type: 'boolean', default: false },
  },
});
const SCALE = Number(args.scale);
if (!Number.isFinite(SCALE) || SCALE < 1) {
  console.error(`demo: --scale must be a number ≥ 1, got ${args.scale}`);
  process.exit(2);
}
const LIVE = process.stdout.isTTY && !args.plain;
const NS = 'default';

// The test bed and the agent run from the built workspaces; build them first (incremental: quick
// when nothing changed).
process.stdout.write('building (tsc -b)… ');
const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (build.status !== 0) {
  console.error(`\ndemo: the build failed:\n${build.stdout}${build.stderr}`);
  process.exit(1);
}
process.stdout.write('done\n');

const { startTestCluster, SEED_VMI_FILES, readManifest } = await import('../test/src/cluster.js');
const { VMPROBE_AGENT_USER } = await import('../test/src/emulator/index.js');
const { loopbackVmCidr } = await import('../test/src/vmsim/index.js');
const { Agent } = await import('../agent/src/agent.js');
const { createLivenessHandler } = await import('../agent/src/liveness/index.js');
const { createLogger } = await import('../agent/src/log.js');
const { formatProbeTable } = await import('../agent/src/cli/status-command.js');
type Vmi = import('../test/src/kubevirt/index.js').Vmi;

// --- logs: JSON lines to a file; the last transitions are shown under the table ----------------
const LOG_FILE = join(tmpdir(), `vmprobe-demo-${process.pid}.log`);
const logFile = createWriteStream(LOG_FILE);
const recent: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logFile.write(chunk);
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if ((o.level as number) < 30) continue;
        const who = o.vmi ? ` ${o.namespace}/${o.vmi}${o.probe ? ` ${o.probe}` : ''}` : '';
        const extra = o.reason ? ` (${o.reason})` : '';
        const t = new Date(o.time as number).toISOString().slice(11, 23);
        recent.push(`${t} ${levelName(o.level as number)}${who}: ${o.msg}${extra}`);
        if (recent.length > 8) recent.shift();
      } catch {
        // not JSON: ignore
      }
    }
    done();
  },
});
function levelName(l: number): string {
  return l >= 50 ? 'ERROR' : l >= 40 ? 'WARN ' : 'INFO ';
}
const logger = createLogger({
  level: 'debug',
  format: 'json',
  base: { node: 'node-a' },
  destination: logSink,
});

// --- the cluster and the agent -------------------------------------------------------------------
const cluster = await startTestCluster({
  tls: true, // kubectl sends the demo.kubeconfig bearer token over https only
  vmprobeReadinessGate: true,
  rbacFiles: [join(ROOT, 'manifests/base/rbac.yaml')],
  timing: { bootMs: 300, terminateMs: 300 },
});
// The demo as a cluster: an admin kubeconfig at the repo root while the demo runs (gitignored),
// removed on exit however the process ends.
const DEMO_KUBECONFIG = join(ROOT, 'demo.kubeconfig');
await cluster.emu.writeKubeconfig('admin', DEMO_KUBECONFIG);
process.on('exit', () => rmSync(DEMO_KUBECONFIG, { force: true }));
const KUBECTL_HINT =
  'kubectl works against this cluster: try `kubectl --kubeconfig demo.kubeconfig get vmis,vmiprobestatuses`';
console.log(KUBECTL_HINT);

const agentOptions = {
  nodeName: 'node-a',
  kubeConfig: cluster.emu.kubeConfig(VMPROBE_AGENT_USER),
  logger,
  // the simulated VMs live on loopback addresses, which the agent otherwise never probes
  unsafeProbeCidrs: [loopbackVmCidr()],
  liveness: (deps: Parameters<typeof createLivenessHandler>[1]) =>
    createLivenessHandler('stop-launcher', deps, { settleMs: 1_000 }),
};
let agent = new Agent({ ...agentOptions, listen: args.listen });
try {
  await agent.start();
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  await agent.stop(0);
  agent = new Agent({ ...agentOptions, listen: '127.0.0.1:0' }); // 9470 taken: any free port
  await agent.start();
}
const agentUrl = agent.address()?.url ?? '(no HTTP server)';
// /metrics and /debug/probes want a bearer token the emulated cluster accepts (TokenReview +
// SubjectAccessReview); the demo hands out its admin token in a file.
const TOKEN_FILE = join(tmpdir(), `vmprobe-demo-${process.pid}.token`);
writeFileSync(TOKEN_FILE, cluster.emu.tokenFor('admin'), { mode: 0o600 });

// --- shutdown ---------------------------------------------------------------------------------------
let stopping = false;
let redraw: NodeJS.Timeout | undefined;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (redraw) clearInterval(redraw);
    if (LIVE) process.stdout.write('\x1b[?25h');
    console.log('\nstopping the agent and the emulated cluster…');
    await agent.stop(2_000);
    await cluster.stop();
    rmSync(DEMO_KUBECONFIG, { force: true });
    logFile.end();
    console.log(`bye (agent log: ${LOG_FILE})`);
  }
  process.exit(code);
}
process.on('SIGINT', () => {
  if (stopping) process.exit(130); // a second Ctrl-C: no more waiting
  void shutdown(0);
});
process.on('SIGTERM', () => void shutdown(0));

// --- the screen ------------------------------------------------------------------------------------
let step = 'starting';
const history: string[] = [];
function say(s: string): void {
  step = s;
  history.push(`${new Date().toISOString().slice(11, 19)} ${s}`);
  if (!LIVE) console.log(`\n== ${s}`);
}

async function vmiTable(): Promise<string> {
  const list = (await cluster.custom.listNamespacedCustomObject({
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachineinstances',
    namespace: NS,
  })) as { items: Vmi[] };
  const slices = await cluster.discovery.listNamespacedEndpointSlice({ namespace: NS });
  const rows = [['VMI', 'UID', 'PHASE', 'READY', 'OWNER', 'SERVICE ENDPOINT']]; // READY: the VMI's Ready condition
  for (const v of list.items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
    const ready = v.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '-';
    const owner = v.metadata?.ownerReferences?.[0];
    const podIp = v.status?.interfaces?.[0]?.ipAddress;
    const ep = slices.items
      .filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === v.metadata?.name)
      .flatMap((s) => s.endpoints ?? [])
      .find((e) => podIp === undefined || e.addresses.includes(podIp));
    rows.push([
      v.metadata?.name ?? '',
      (v.metadata?.uid ?? '').slice(0, 8),
      v.status?.phase ?? 'Pending',
      ready,
      owner ? `${owner.kind}/${owner.name}` : '-',
      ep ? (ep.conditions?.ready ? 'ready' : 'NOT ready') : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

let lastPlain = '';
async function render(): Promise<void> {
  const probes = agent.manager.snapshot();
  const vmis = await vmiTable().catch((e: unknown) => `(cluster: ${(e as Error).message})`);
  const head = [
    `vmprobe demo — agent on node-a, emulated Kubernetes + KubeVirt, simulated VMs on loopback`,
    `time is scaled ${SCALE}×: the seed's 120 s initial delays and 20 s periods run as ${Math.max(1, Math.round(120 / SCALE))} s and ${Math.max(1, Math.round(20 / SCALE))} s`,
    `metrics: ${agentUrl}/metrics   probes: npx vmprobe status --agent ${agentUrl} --token-file ${TOKEN_FILE}   log: ${LOG_FILE}`,
    ...(LIVE ? [KUBECTL_HINT] : []),
  ].join('\n');
  const body = `VMIs (namespace ${NS})\n${vmis}\n\nProbes\n${probes.length ? formatProbeTable(probes, Date.now()) : '(none yet)\n'}`;
  if (LIVE) {
    const screen = `${head}\n\n${body}\nNow: ${step}\n${history.slice(-6).join('\n')}\n\nAgent log (info and above)\n${recent.join('\n')}\n\n${args['exit-when-done'] ? '' : 'Ctrl-C to exit'}`;
    process.stdout.write(`\x1b[H\x1b[2J\x1b[?25l${screen}\n`);
  } else {
    if (lastPlain === '') console.log(head);
    if (body !== lastPlain) console.log(body);
    lastPlain = body;
  }
}

// --- the script --------------------------------------------------------------------------------------
function scaled(vmi: Vmi, name: string): Vmi {
  vmi.metadata = { ...vmi.metadata, name, namespace: NS, labels: { ...vmi.metadata?.labels, app: name } };
  const spec = vmi.spec as Record<string, Record<string, number> | undefined>;
  for (const field of ['livenessProbe', 'readinessProbe']) {
    const p = spec[field];
    if (!p) continue;
    for (const k of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds'] as const) {
      if (p[k] !== undefined) p[k] = Math.max(1, Math.round(p[k]! / SCALE));
    }
  }
  return vmi;
}

function probeOf(vmi: string, kind: string) {
  return agent.manager.snapshot().find((p) => p.vmi === vmi && p.probe === kind);
}

async function waitUntil(
  what: string,
  pred: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  await cluster.waitFor(async () => (await pred()) || undefined, {
    timeoutMs,
    intervalMs: 100,
    description: what,
  });
}

async function endpointReady(service: string): Promise<boolean | undefined> {
  const slices = await cluster.discovery.listNamespacedEndpointSlice({
    namespace: NS,
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  const eps = slices.items.flatMap((s) => s.endpoints ?? []);
  return eps.length === 0 ? undefined : eps.some((e) => e.conditions?.ready === true);
}

if (LIVE) redraw = setInterval(() => void render(), 250);
else redraw = setInterval(() => void render(), 1_000);

async function script(): Promise<void> {
  say("loading the seed's three VMIs (HTTP liveness one wrapped in a VirtualMachine, runStrategy Always)");
  const http = scaled(await readManifest<Vmi>(SEED_VMI_FILES.httpLiveness), 'fedora-http');
  await cluster.custom.createNamespacedCustomObject({
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachines',
    namespace: NS,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'fedora-http', namespace: NS },
      spec: {
        runStrategy: 'Always',
        template: { metadata: { labels: http.metadata?.labels }, spec: http.spec },
      },
    },
  });
  await cluster.createVmi(scaled(await readManifest<Vmi>(SEED_VMI_FILES.tcpLiveness), 'fedora-tcp'));
  await cluster.core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name: 'fedora-ready' },
      spec: { selector: { app: 'fedora-ready' }, ports: [{ port: 80, targetPort: 1500 }] },
    },
  });
  await cluster.createVmi(scaled(await readManifest<Vmi>(SEED_VMI_FILES.readiness), 'fedora-ready'));
  const gated = await cluster.waitFor(
    async () =>
      (await cluster.launcherPods(NS, 'fedora-ready'))[0]?.spec?.readinessGates
        ?.map((g) => g.conditionType)
        .join(', '),
    { timeoutMs: 60_000, intervalMs: 100, description: 'fedora-ready launcher pod' },
  );
  say(
    `vmprobe webhook injected its readiness gate into fedora-ready's launcher pod at creation (readinessGates: ${gated}); ` +
      'fedora-tcp (no readiness probe) got none',
  );

  say('waiting for the initial delays, then for every probe to succeed');
  await waitUntil('all probes succeeding', async () => {
    return (
      probeOf('fedora-http', 'liveness')?.state === 'success' &&
      probeOf('fedora-tcp', 'liveness')?.state === 'success' &&
      probeOf('fedora-ready', 'readiness')?.state === 'success' &&
      (await endpointReady('fedora-ready')) === true
    );
  });
  say('all healthy: fedora-ready is in its Service endpoints');
  await pause(3_000);

  const firstUid = (await cluster.getVmi(NS, 'fedora-http'))?.metadata?.uid;
  say("fedora-http's HTTP server dies (port 1500 refuses): its liveness probe fails 3 times…");
  await cluster.kubevirt.vmFor(NS, 'fedora-http')?.setBehaviour({ kind: 'refuse' });
  await waitUntil('liveness failure', () => probeOf('fedora-http', 'liveness')?.state === 'failure');
  say('liveness failed: the agent stops the launcher pod; KubeVirt marks the VMI Failed');
  await waitUntil('a fresh fedora-http VMI', async () => {
    const v = await cluster.getVmi(NS, 'fedora-http');
    return v?.metadata?.uid !== undefined && v.metadata.uid !== firstUid;
  });
  say('the VirtualMachine started a fresh fedora-http VMI (new UID); waiting for its probe');
  await waitUntil('fresh VMI live', () => probeOf('fedora-http', 'liveness')?.state === 'success');
  say('fedora-http is back and live');
  await pause(3_000);

  say('fedora-ready starts answering HTTP 500: readiness needs 3 failures in a row…');
  await cluster.kubevirt.vmFor(NS, 'fedora-ready')?.setBehaviour({ kind: 'status', code: 500 });
  await waitUntil('endpoint not ready', async () => (await endpointReady('fedora-ready')) === false);
  say('readiness False: the launcher pod is not Ready, fedora-ready left its Service endpoints');
  say(
    '(the agent wrote the pod condition vmprobe.io/ReadinessProbe=False; the injected gate made it decide Ready)',
  );
  await pause(3_000);
  say('fedora-ready answers 200 again: readiness needs 3 successes in a row…');
  await cluster.kubevirt.vmFor(NS, 'fedora-ready')?.setBehaviour({ kind: 'healthy' });
  await waitUntil('endpoint ready', async () => (await endpointReady('fedora-ready')) === true);
  say('readiness True: fedora-ready is back in its Service endpoints');
  await pause(2_000);
  say(
    args['exit-when-done']
      ? 'demo script done'
      : `demo script done; the agent keeps running — try: npx vmprobe status --agent ${agentUrl} --token-file ${TOKEN_FILE}`,
  );
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

try {
  await script();
  await render();
  if (args['exit-when-done']) await shutdown(0);
} catch (err) {
  if (!stopping) {
    if (redraw) clearInterval(redraw);
    await render().catch(() => undefined);
    console.error(`\ndemo failed: ${(err as Error).message}`);
    await shutdown(1);
  }
}
if (!existsSync(LOG_FILE)) console.error('no log file');
