// The bundle `npm run build` makes (agent/build-bundle.mjs) is what the image and agent/bin/vmprobe.js
// run, so it must stay correct on its own: it keeps only the client-node API groups agent/src/kube/
// uses (the reason it exists: V8 keeps every loaded script's source), it loads gRPC only for guest
// probes and YAML only for `vmprobe check`, it answers --help and --version, and `vmprobe agent`
// from it syncs against the emulator, probes a VM, reports it Ready, logs through pino-pretty (an
// external resolved from the bundle) and stops on SIGTERM with exit 0.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES, startTestCluster, type TestCluster } from '../src/cluster.js';
import { REPO_ROOT, VMPROBE_AGENT_USER } from '../src/emulator/index.js';
import { loopbackVmCidr } from '../src/vmsim/index.js';
import { agentRbacFiles, seedVmi, waitForCondition } from './agent-helpers.js';
import { freePort, spawnNode } from './cli-process.js';

const BIN = join(REPO_ROOT, 'agent/bin/vmprobe.js');
const BUNDLE_DIR = join(REPO_ROOT, 'agent/bundle');
const BUNDLE = join(BUNDLE_DIR, 'vmprobe.js');

function vmprobe(args: string[], env: Record<string, string> = {}) {
  return spawnNode([BIN, ...args], { NO_COLOR: '1', ...env });
}

beforeAll(() => {
  if (!existsSync(BUNDLE)) execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
}, 180_000);

describe('the agent bundle', () => {
  it('holds the request factories of exactly the client-node API groups agent/src/kube/ imports', () => {
    const kubeDir = join(REPO_ROOT, 'agent/src/kube');
    const imported = new Set<string>();
    for (const file of readdirSync(kubeDir).filter((f) => f.endsWith('.ts'))) {
      const src = readFileSync(join(kubeDir, file), 'utf8');
      for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@kubernetes\/client-node'/g)) {
        for (const name of m[1]!.split(',').map((s) => s.trim())) {
          if (/^[A-Z]\w*Api$/.test(name)) imported.add(name);
        }
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    const bundled = new Set<string>();
    for (const file of readdirSync(BUNDLE_DIR).filter((f) => f.endsWith('.js'))) {
      const src = readFileSync(join(BUNDLE_DIR, file), 'utf8');
      for (const m of src.matchAll(
        /\b(\w+Api)RequestFactory\s*=\s*class\b|\bclass (\w+Api)RequestFactory\b/g,
      ))
        bundled.add((m[1] ?? m[2])!);
    }
    expect([...bundled].sort()).toEqual([...imported].sort());
  });

  it('imports pino from node_modules; gRPC, protobufjs and yaml only in chunks loaded on use', () => {
    // pino starts pino-pretty as a worker thread from files next to pino; protobufjs finds its
    // optional modules with an eval'd require (agent/build-bundle.mjs). probers/index.ts imports the
    // guest probers with import(), so the files the entry loads statically never import gRPC.
    const files = new Map(
      readdirSync(BUNDLE_DIR)
        .filter((f) => f.endsWith('.js'))
        .map((f) => [f, readFileSync(join(BUNDLE_DIR, f), 'utf8')]),
    );
    const imports = (src: string, dep: string) => new RegExp(`(from|import)\\s*"${dep}"`).test(src);
    const staticLoad = new Set<string>();
    const visit = (f: string) => {
      if (staticLoad.has(f)) return;
      staticLoad.add(f);
      for (const m of files.get(f)!.matchAll(/(?:from|import)\s*"\.\/([^"]+)"/g)) visit(m[1]!);
    };
    visit('vmprobe.js');
    expect(imports(files.get('vmprobe.js')!, 'pino')).toBe(true);
    expect(files.get('vmprobe.js')!).not.toMatch(/class ThreadStream\b/);
    for (const dep of ['@grpc/grpc-js', 'protobufjs']) {
      expect(
        [...files].some(([, src]) => imports(src, dep)),
        `${dep} imported by some chunk`,
      ).toBe(true);
      for (const f of staticLoad) expect(imports(files.get(f)!, dep), `${f} imports ${dep}`).toBe(false);
    }
    expect(files.get('vmprobe.js')!).toMatch(/import\("\.\/guest-[\w-]+\.js"\)/);
    // `vmprobe check`'s YAML parser likewise (cli/check-command.ts imports cli/check.ts on use).
    expect([...files].some(([, src]) => /\bparseAllDocuments\b/.test(src))).toBe(true);
    for (const f of staticLoad) expect(files.get(f)!, f).not.toMatch(/\bparseAllDocuments\b/);
  });

  it('answers --help with every command and --version with agent/package.json', async () => {
    const help = vmprobe(['--help']);
    expect(await help.exited).toBe(0);
    for (const cmd of ['probe', 'agent', 'status', 'check', 'webhook'])
      expect(help.out()).toMatch(new RegExp(`\\n\\s+${cmd}\\b`));
    const version = vmprobe(['--version']);
    expect(await version.exited).toBe(0);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'agent/package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.out().trim()).toBe(pkg.version);
  });
});

describe('vmprobe agent from the bundle against the test bed', () => {
  let cluster: TestCluster;
  let dir: string;
  beforeAll(async () => {
    const rbacFiles = agentRbacFiles();
    cluster = await startTestCluster({ ...(rbacFiles ? { rbacFiles } : {}) });
    dir = mkdtempSync(join(tmpdir(), 'vmprobe-bundle-'));
  });
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('syncs, reports a probed VM Ready, logs in the pretty format and exits 0 on SIGTERM', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await cluster.emu.writeKubeconfig(VMPROBE_AGENT_USER, kubeconfig);
    await cluster.createVmi(
      await seedVmi(SEED_VMI_FILES.readiness, 'bundle-vm', { initialDelaySeconds: 0, periodSeconds: 1 }),
    );
    await cluster.waitForRunning('default', 'bundle-vm');
    const port = await freePort();
    const p = vmprobe([
      'agent',
      '--node-name=node-a',
      `--kubeconfig=${kubeconfig}`,
      `--listen=127.0.0.1:${port}`,
      '--log-format=pretty',
      `--unsafe-probe-cidr=${loopbackVmCidr()}`,
    ]);
    try {
      await cluster.waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        { timeoutMs: 20_000, description: '/readyz 200' },
      );
      await waitForCondition(cluster, 'default', 'bundle-vm', 'ReadinessProbe', 'True');
      const admin = { Authorization: `Bearer ${cluster.emu.tokenFor('admin')}` };
      const probes = (await (
        await fetch(`http://127.0.0.1:${port}/debug/probes`, { headers: admin })
      ).json()) as {
        vmi: string;
        probe: string;
        state: string;
      }[];
      expect(probes).toEqual([
        expect.objectContaining({ vmi: 'bundle-vm', probe: 'readiness', state: 'success' }),
      ]);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      // pino-pretty's lines: "[HH:MM:ss.l] INFO (…): message", not JSON.
      expect(p.out()).toMatch(/INFO.*vmprobe agent starting/);
      expect(p.out()).toMatch(/INFO.*agent stopped/);
      expect(p.out()).not.toMatch(/^\{/m);
      // Node (22+) warns about url.parse() and the built-in punycode only for code outside
      // node_modules: bundled, client-node's node-fetch would print both on every start.
      expect(p.err()).not.toMatch(/DeprecationWarning/);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  }, 60_000);
});
