// `vmprobe status [--agent URL] [--token T | --token-file F] [--json] [--wide]`: every probe on a
// node, from the agent's /debug/probes (sent with `Authorization: Bearer <token>` when one is given:
// the agent checks it with TokenReview + SubjectAccessReview). Exit 0 with the table, 1 when the
// agent cannot be reached, refuses the token or answers wrongly, 2 on bad usage.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ProbeSnapshot } from '../snapshot.js';

export const DEFAULT_AGENT_URL = 'http://127.0.0.1:9470';

export class AgentUnreachableError extends Error {
  readonly code = 'AGENT_UNREACHABLE';
  constructor(message: string) {
    super(message);
    this.name = 'AgentUnreachableError';
  }
}

/** GETs `<agent>/debug/probes`; throws AgentUnreachableError with a message fit for the terminal. */
export async function fetchProbes(
  agentUrl: string,
  timeoutMs: number,
  token?: string,
): Promise<ProbeSnapshot[]> {
  const url = new URL('/debug/probes', agentUrl);
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
    throw new AgentUnreachableError(
      `cannot reach the vmprobe agent at ${url.origin}: ${why}\n` +
        'Is the agent running on this node? Point at it with --agent URL (the DaemonSet listens on port 9470 of the node).',
    );
  }
  const text = await res.text();
  if (res.status === 401 || res.status === 403) {
    throw new AgentUnreachableError(
      `the agent at ${url.origin} refused ${token ? 'the token' : 'a request without a token'} on /debug/probes (${res.status}): ${text.trim().slice(0, 200)}\n` +
        'Pass --token or --token-file with the token of an identity bound to the ClusterRole vmprobe-debug-reader ' +
        '(e.g. kubectl create token <service-account>).',
    );
  }
  if (!res.ok) {
    throw new AgentUnreachableError(
      `the agent at ${url.origin} answered ${res.status} on /debug/probes: ${text.trim().slice(0, 200)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AgentUnreachableError(
      `the agent at ${url.origin} sent something that is not JSON on /debug/probes`,
    );
  }
  if (!Array.isArray(parsed))
    throw new AgentUnreachableError(`the agent at ${url.origin} sent no probe list on /debug/probes`);
  return parsed as ProbeSnapshot[];
}

/** kubectl-style age: 42s, 5m, 3h, 2d (floor). */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const KIND_ORDER: Record<string, number> = { startup: 0, liveness: 1, readiness: 2 };

function since(iso: string | null, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '?' : formatAge(now - t);
}

/** The table `vmprobe status` prints: one row per probe, sorted by namespace, VMI, kind. */
export function formatProbeTable(probes: readonly ProbeSnapshot[], now: number, wide = false): string {
  const header = [
    'NAMESPACE',
    'VMI',
    'PROBE',
    'HANDLER',
    'TARGET',
    'STATE',
    'REASON',
    'SUCCESSES',
    'FAILURES',
    'LAST-PROBE',
    'SINCE',
  ];
  if (wide) header.push('MESSAGE');
  const sorted = [...probes].sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) ||
      a.vmi.localeCompare(b.vmi) ||
      (KIND_ORDER[a.probe] ?? 9) - (KIND_ORDER[b.probe] ?? 9),
  );
  const rows = sorted.map((p) => {
    const row = [
      p.namespace,
      p.vmi,
      p.probe,
      p.handler,
      p.target ?? '<none>',
      p.suspended ? `${p.state} (suspended)` : p.state,
      p.reason || '-',
      String(p.consecutiveSuccesses),
      String(p.consecutiveFailures),
      since(p.lastProbeTime, now),
      since(p.lastTransitionTime, now),
    ];
    if (wide) row.push((p.message ?? '').replace(/\s+/g, ' ').slice(0, 120));
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/**
 * The VMIs whose readiness probe decides nothing because their launcher pod has no
 * vmprobe.io/ReadinessProbe gate (created before `vmprobe webhook` ran), with the remedy; '' if none.
 */
export function formatNotEnforced(probes: readonly ProbeSnapshot[]): string {
  const vmis = probes
    .filter((p) => p.probe === 'readiness' && p.readinessGate === 'not-enforced')
    .map((p) => `${p.namespace}/${p.vmi}`);
  if (vmis.length === 0) return '';
  return (
    `\nReadiness NOT ENFORCED for ${vmis.length} VMI(s): the launcher pod was created without the ` +
    'vmprobe.io/ReadinessProbe readiness gate (before vmprobe webhook was installed or while it was down), ' +
    "so the probe does not decide the pod's Ready or Service endpoints. Remedy: restart or live-migrate the VMI.\n" +
    vmis.map((v) => `  ${v}\n`).join('')
  );
}

export interface StatusOptions {
  agent: string;
  json?: boolean;
  wide?: boolean;
  timeout: string;
  /** Bearer token for /debug/probes. */
  token?: string;
  /** File holding the bearer token (e.g. a service account's projected token). */
  tokenFile?: string;
}

/** Runs the command; returns the exit code. */
export async function runStatus(
  opts: StatusOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const timeoutSeconds = Number(opts.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    err(
      `vmprobe status: --timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}\n`,
    );
    return 2;
  }
  if (!URL.canParse(opts.agent) || !/^https?:$/.test(new URL(opts.agent).protocol)) {
    err(
      `vmprobe status: --agent must be an http(s) URL like ${DEFAULT_AGENT_URL}, got ${JSON.stringify(opts.agent)}\n`,
    );
    return 2;
  }
  if (opts.token !== undefined && opts.tokenFile !== undefined) {
    err('vmprobe status: --token and --token-file are mutually exclusive\n');
    return 2;
  }
  let token = opts.token;
  if (opts.tokenFile !== undefined) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (e) {
      err(`vmprobe status: cannot read --token-file: ${e instanceof Error ? e.message : String(e)}\n`);
      return 2;
    }
  }
  if (token !== undefined && !/^\S+$/.test(token)) {
    err('vmprobe status: the token is empty or contains whitespace\n');
    return 2;
  }
  let probes: ProbeSnapshot[];
  try {
    probes = await fetchProbes(opts.agent, timeoutSeconds * 1000, token);
  } catch (e) {
    err(`vmprobe status: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (opts.json) out(`${JSON.stringify(probes, null, 2)}\n`);
  else if (probes.length === 0) out('No probes on this node.\n');
  else out(formatProbeTable(probes, Date.now(), opts.wide) + formatNotEnforced(probes));
  return 0;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("print every probe on a node, from the agent's /debug/probes")
    .option('--agent <url>', 'base URL of the agent', DEFAULT_AGENT_URL)
    .option('--json', 'print the probes as JSON')
    .option('--wide', 'add the last probe message')
    .option('--timeout <seconds>', 'give up after this long', '5')
    .option('--token <token>', 'bearer token for /debug/probes (an identity bound to vmprobe-debug-reader)')
    .option('--token-file <file>', 'read the bearer token from this file')
    .action(async (opts: StatusOptions) => {
      process.exitCode = await runStatus(
        opts,
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    });
}
