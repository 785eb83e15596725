// bench:probes and bench:agent on the machine's Node and on Node 24 (the runtime the image ships),
// one after the other, then one side-by-side table. Node 24 comes from scripts/node24.sh (the npm
// registry's `node` package) unless --node24 names a binary. Each benchmark's own output goes to
// stderr as it runs; the table goes to stdout.
//
//   npm run bench:runtimes -- [--node24 PATH] [--sizes 1000] [--seconds 20] [--floor-rounds 5]
//                             [--floor-probes 3000] [--throughput-seconds 5] [--skip-agent]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const { values: args } = parseArgs({
  options: {
    node24: { type: 'string' },
    sizes: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    'floor-rounds': { type: 'string', default: '5' },
    'floor-probes': { type: 'string', default: '3000' },
    'throughput-seconds': { type: 'string', default: '5' },
    'skip-agent': { type: 'boolean', default: false },
  },
});

/** Runs `node --import tsx script args` with its output on our stderr; rejects on a non-zero exit. */
function runScript(node: string, script: string, scriptArgs: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['--import', 'tsx', join(ROOT, 'scripts', script), ...scriptArgs], {
      cwd: ROOT,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    child.once('error', reject);
    child.once('exit', (code, sig) =>
      code === 0 ? resolve() : reject(new Error(`${script} under ${node} exited (${code ?? sig})`)),
    );
  });
}

type Json = Record<string, Record<string, number> | string | unknown>;
interface Runtime {
  name: string;
  version: string;
  probes: Json;
  agent: { sizes: Record<string, number>[] } | undefined;
}

async function measure(node: string, dir: string): Promise<Runtime> {
  const version = execFileSync(node, ['-v'], { encoding: 'utf8' }).trim();
  const probesJson = join(dir, `probes-${version}.json`);
  const agentJson = join(dir, `agent-${version}.json`);
  process.stderr.write(`\n=== ${version}: bench:probes\n`);
  await runScript(node, 'bench-probes.ts', [
    '--only',
    'floor,throughput',
    '--floor-rounds',
    args['floor-rounds'] ?? '5',
    '--floor-probes',
    args['floor-probes'] ?? '3000',
    '--throughput-seconds',
    args['throughput-seconds'] ?? '5',
    '--json',
    probesJson,
  ]);
  let agent: Runtime['agent'];
  if (!args['skip-agent']) {
    process.stderr.write(`\n=== ${version}: bench:agent\n`);
    await runScript(node, 'bench-agent.ts', [
      '--sizes',
      args.sizes ?? '1000',
      '--seconds',
      args.seconds ?? '20',
      '--json',
      agentJson,
    ]);
    agent = JSON.parse(readFileSync(agentJson, 'utf8'));
  }
  return { name: node, version, probes: JSON.parse(readFileSync(probesJson, 'utf8')), agent };
}

function table(runtimes: Runtime[]): string {
  const rows: [string, (r: Runtime) => string][] = [];
  const probe =
    (key: string, field: string, digits: number, suffix = '') =>
    (r: Runtime): string => {
      const v = (r.probes[key] as Record<string, number> | undefined)?.[field];
      return v === undefined ? '—' : `${v.toFixed(digits)}${suffix}`;
    };
  for (const h of ['tcp', 'http']) {
    for (const t of ['handle', 'socket']) {
      const label = `${h} ${t === 'handle' ? '(shipped)' : '(net.Socket)'}`;
      rows.push([`${label}: vmprobe ÷ floor`, probe(`floor.${h}.${t}`, 'ratio', 2, '×')]);
      rows.push([
        `${label}: spread`,
        (r) => `${probe(`floor.${h}.${t}`, 'ratioMin', 2)(r)}–${probe(`floor.${h}.${t}`, 'ratioMax', 2)(r)}`,
      ]);
      rows.push([`${label}: µs CPU/probe`, probe(`floor.${h}.${t}`, 'vmprobeUs', 1)]);
    }
    rows.push([`${h}: floor µs CPU/probe`, probe(`floor.${h}.handle`, 'floorUs', 1)]);
    rows.push([`${h}: probes/s (concurrency 32)`, probe(`throughput.${h}`, 'probesPerSecond', 0)]);
    rows.push([`${h}: CPU ms per 1,000 probes`, probe(`throughput.${h}`, 'cpuMsPer1000', 1)]);
  }
  const sizes = runtimes[0]?.agent?.sizes.map((s) => s.vmis) ?? [];
  for (const vmis of sizes) {
    const agent = (field: string, digits: number) => (r: Runtime) => {
      const v = r.agent?.sizes.find((s) => s.vmis === vmis)?.[field];
      return v === undefined ? '—' : v.toFixed(digits);
    };
    rows.push([`agent ${vmis} VMIs: CPU % of a core`, agent('cpuPercent', 1)]);
    rows.push([`agent ${vmis} VMIs: CPU µs/probe`, agent('cpuUsPerProbe', 0)]);
    rows.push([
      `agent ${vmis} VMIs: RSS MiB (max)`,
      (r) => `${agent('rssMiB', 0)(r)} (${agent('rssMaxMiB', 0)(r)})`,
    ]);
    rows.push([`agent ${vmis} VMIs: lag p99 ms`, agent('lagP99Ms', 1)]);
    rows.push([`agent ${vmis} VMIs: false failures`, agent('falseFailures', 0)]);
    rows.push([`agent ${vmis} VMIs: machine busy %`, agent('machineBusyPercent', 0)]);
  }
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const out = [`${'runtime'.padEnd(width)}${runtimes.map((r) => r.version.padEnd(16)).join('')}`];
  for (const [label, f] of rows)
    out.push(`${label.padEnd(width)}${runtimes.map((r) => f(r).padEnd(16)).join('')}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const node24 =
    args.node24 ?? execFileSync(join(ROOT, 'scripts/node24.sh'), ['install'], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-runtimes-'));
  try {
    const runtimes = [await measure(process.execPath, dir), await measure(node24, dir)];
    process.stdout.write(
      `\nNode side by side (same machine, one after the other: read ratios; the machine is shared)\n${table(runtimes)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
