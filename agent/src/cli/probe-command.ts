// `vmprobe probe <http|https|tcp|icmp>://host[:port][/path] [--timeout S] [--header 'K: V'] [--json]`:
// one probe through the agent's own probers (same redirects, headers, body cap, timeout), a one-line
// result or JSON. Exit 0 success (warning included), 1 failure or unknown, 2 bad usage. Unlike the
// agent, the CLI resolves a host name (e.g. localhost) to its first address.
// Guest probes against a virt-launcher command socket, for debugging on a node:
//   vmprobe probe exec:///pods/<podUID>/volumes/kubernetes.io~empty-dir/sockets/launcher-sock \
//     --domain <namespace>/<name> -- cat /tmp/ready
//   vmprobe probe guest-ping:///…/launcher-sock --domain <namespace>/<name>
// The URL's path is the socket path; the command after `--` is checked like exec.command.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { checkExecCommand, formatProblem, type HTTPHeader, type ProbeProblem } from '@vmprobe/shared';
import { type Command, InvalidArgumentError } from 'commander';
import { closeIcmpSessions, closeLauncherClients, runProbe } from '../probers/index.js';
import type { ProbeOutcome, ProbeTarget } from '../probers/types.js';
import { MAX_UNIX_SOCKET_PATH_BYTES } from '../targets/guest.js';

/** Bad command-line input; the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export interface ParsedProbeUrl {
  scheme: 'http' | 'https' | 'tcp' | 'icmp';
  /** As written (a name or an IP literal, brackets removed). */
  host: string;
  port?: number;
  path: string;
}

const URL_SHAPE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:?#[\]]*)(?::([^/?#]*))?([/?#].*)?$/;
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseProbeUrl(raw: string): ParsedProbeUrl {
  const m = URL_SHAPE.exec(raw);
  if (!m)
    throw new UsageError(
      `cannot parse ${JSON.stringify(raw)}: expected <http|https|tcp|icmp>://host[:port][/path]`,
    );
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'tcp' && scheme !== 'icmp') {
    throw new UsageError(
      `unknown scheme "${m[1]}": use http, https, tcp or icmp (or exec, guest-ping with a launcher socket path)`,
    );
  }
  const host = (m[2] ?? '').replace(/^\[|\]$/g, '');
  if (host === '') throw new UsageError(`missing host in ${JSON.stringify(raw)}`);
  if (m[2]?.startsWith('[') && isIP(host) !== 6) throw new UsageError(`"${host}" is not an IPv6 address`);
  let port: number | undefined;
  if (m[3] !== undefined) {
    if (!/^\d+$/.test(m[3]))
      throw new UsageError(`invalid port "${m[3]}": must be a number between 1 and 65535`);
    port = Number(m[3]);
    if (port < 1 || port > 65535)
      throw new UsageError(`port ${m[3]} out of range: must be between 1 and 65535`);
  }
  const path = m[4] ?? '';
  if (scheme === 'icmp' && (port !== undefined || path !== '')) {
    throw new UsageError('icmp:// takes a host only, no port or path');
  }
  if (scheme === 'tcp') {
    if (port === undefined) throw new UsageError('tcp:// needs a port, e.g. tcp://10.0.0.5:22');
    if (path !== '' && path !== '/') throw new UsageError('tcp:// takes no path');
  }
  if (path.startsWith('#')) throw new UsageError('a fragment (#...) is not sent to the server');
  return {
    scheme,
    host,
    ...(port !== undefined ? { port } : {}),
    path: path === '' || path.startsWith('?') ? `/${path}` : path,
  };
}

export interface ParsedGuestUrl {
  scheme: 'exec' | 'guest-ping';
  socketPath: string;
}

/** `exec:///abs/socket` or `guest-ping:///abs/socket` → the socket path; undefined for other schemes. */
export function parseGuestUrl(raw: string): ParsedGuestUrl | undefined {
  const m = /^(exec|guest-ping):\/\/(.*)$/i.exec(raw);
  if (!m) return undefined;
  const scheme = (m[1] ?? '').toLowerCase() as ParsedGuestUrl['scheme'];
  const socketPath = m[2] ?? '';
  if (!socketPath.startsWith('/'))
    throw new UsageError(`${scheme}:// takes an absolute socket path: ${scheme}:///path/to/launcher-sock`);
  if (Buffer.byteLength(socketPath) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new UsageError(
      `socket path is ${Buffer.byteLength(socketPath)} bytes, a unix socket path may have ${MAX_UNIX_SOCKET_PATH_BYTES}: use a shorter mount of the kubelet pods directory (or a symlink to the socket's directory)`,
    );
  }
  return { scheme, socketPath };
}

/** `namespace/name` or `namespace_name` → libvirt's domain name `namespace_name`. */
export function parseDomain(raw: string): string {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)[/_]([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(raw);
  if (!m) throw new UsageError(`invalid --domain ${JSON.stringify(raw)}: expected <namespace>/<name>`);
  return `${m[1]}_${m[3]}`;
}

/** The agent's target for a guest URL; the command is validated as exec.command is. */
export function guestTargetOf(
  url: ParsedGuestUrl,
  domain: string | undefined,
  command: string[],
): ProbeTarget {
  if (domain === undefined) throw new UsageError(`${url.scheme}:// needs --domain <namespace>/<name>`);
  const domainName = parseDomain(domain);
  if (url.scheme === 'guest-ping') {
    if (command.length > 0) throw new UsageError('guest-ping:// takes no command');
    return { type: 'guestAgentPing', socketPath: url.socketPath, domainName };
  }
  const problems: ProbeProblem[] = [];
  checkExecCommand(command.length > 0 ? command : undefined, 'command', problems);
  if (problems.length > 0) {
    const hint = command.length === 0 ? ' (give it after --, e.g. -- cat /tmp/ready)' : '';
    throw new UsageError(`${problems.map(formatProblem).join('; ')}${hint}`);
  }
  return {
    type: 'exec',
    socketPath: url.socketPath,
    domainName,
    command: command[0] as string,
    args: command.slice(1),
  };
}

/** 'Name: value' → header; the name must be an HTTP token. */
export function parseHeader(raw: string): HTTPHeader {
  const i = raw.indexOf(':');
  if (i <= 0) throw new UsageError(`malformed header ${JSON.stringify(raw)}: expected 'Name: value'`);
  const name = raw.slice(0, i).trim();
  const value = raw.slice(i + 1).trim();
  if (!HTTP_TOKEN.test(name))
    throw new UsageError(
      `malformed header ${JSON.stringify(raw)}: invalid header name ${JSON.stringify(name)}`,
    );
  if (/[\r\n\0]/.test(value))
    throw new UsageError(`malformed header ${JSON.stringify(raw)}: value contains CR, LF or NUL`);
  return { name, value };
}

export function parseTimeoutSeconds(raw: string): number {
  const s = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(s) || s <= 0 || s > 3600) {
    throw new UsageError(
      `invalid --timeout ${JSON.stringify(raw)}: must be a number of seconds > 0 and <= 3600`,
    );
  }
  return s;
}

/** The agent's ProbeTarget for a parsed URL and an already-resolved IP. */
export function targetOf(url: ParsedProbeUrl, ip: string, headers: HTTPHeader[]): ProbeTarget {
  if (url.scheme === 'icmp') return { type: 'icmp', host: ip };
  if (url.scheme === 'tcp') return { type: 'tcp', host: ip, port: url.port as number };
  return {
    type: 'http',
    scheme: url.scheme,
    host: ip,
    port: url.port ?? (url.scheme === 'https' ? 443 : 80),
    path: url.path,
    headers,
  };
}

export interface ProbeCommandResult {
  url: string;
  target: ProbeTarget;
  outcome: ProbeOutcome;
}

export function exitCodeOf(outcome: ProbeOutcome): number {
  return outcome.result === 'success' || outcome.result === 'warning' ? 0 : 1;
}

export function formatHuman(r: ProbeCommandResult): string {
  const o = r.outcome;
  return `${o.result}: ${o.message} [${o.reason}, ${r.url}, ${o.timings.durationMs.toFixed(1)} ms]`;
}

interface ProbeCommandOptions {
  timeout: number;
  header: HTTPHeader[];
  json?: boolean;
  /** exec:// and guest-ping:// only. */
  domain?: string;
}

/** Runs the command; returns the exit code (0, 1 or 2). Writes only through `out`/`err`. */
export async function runProbeCommand(
  rawUrl: string,
  opts: ProbeCommandOptions,
  out: (line: string) => void,
  err: (line: string) => void,
  command: string[] = [],
): Promise<number> {
  let guest: ProbeTarget | undefined;
  try {
    const g = parseGuestUrl(rawUrl);
    if (g) {
      if (opts.header.length > 0) throw new UsageError('--header applies to http:// and https:// only');
      guest = guestTargetOf(g, opts.domain, command);
    } else if (command.length > 0) {
      throw new UsageError(
        `unexpected arguments ${JSON.stringify(command)}: a command goes with exec:// only`,
      );
    } else if (opts.domain !== undefined) {
      throw new UsageError('--domain applies to exec:// and guest-ping:// only');
    }
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 2;
  }
  if (guest) {
    try {
      const outcome = await runProbe(guest, { timeoutMs: Math.round(opts.timeout * 1000) });
      const result: ProbeCommandResult = { url: rawUrl, target: guest, outcome };
      out(opts.json ? JSON.stringify(result) : formatHuman(result));
      return exitCodeOf(outcome);
    } finally {
      closeLauncherClients();
    }
  }
  let url: ParsedProbeUrl;
  try {
    url = parseProbeUrl(rawUrl);
    if (opts.header.length > 0 && url.scheme !== 'http' && url.scheme !== 'https') {
      throw new UsageError('--header applies to http:// and https:// only');
    }
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 2;
  }
  let ip = url.host;
  if (isIP(ip) === 0) {
    try {
      ip = (await lookup(url.host)).address;
    } catch (e) {
      err(
        `error: cannot resolve host "${url.host}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
      return 1;
    }
  }
  const target = targetOf(url, ip, opts.header);
  try {
    const outcome = await runProbe(target, { timeoutMs: Math.round(opts.timeout * 1000) });
    const result: ProbeCommandResult = { url: rawUrl, target, outcome };
    out(opts.json ? JSON.stringify(result) : formatHuman(result));
    return exitCodeOf(outcome);
  } finally {
    closeIcmpSessions();
  }
}

function usage(fn: (raw: string) => unknown) {
  return (raw: string, prev?: unknown) => {
    try {
      const v = fn(raw);
      return Array.isArray(prev) ? [...prev, v] : v;
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function registerProbeCommand(program: Command): void {
  program
    .command('probe')
    .description(
      'Run one probe with the agent semantics: <http|https|tcp|icmp>://host[:port][/path], or exec:// / guest-ping:// on a virt-launcher command socket',
    )
    .argument(
      '<url>',
      'what to probe, e.g. http://10.0.0.5:8080/healthz, tcp://10.0.0.5:22, icmp://10.0.0.5, guest-ping:///pods/<podUID>/volumes/kubernetes.io~empty-dir/sockets/launcher-sock',
    )
    .argument('[command...]', 'exec:// only: the command to run in the guest, after --')
    .option('--timeout <seconds>', 'one deadline for the whole attempt', usage(parseTimeoutSeconds), 1)
    .option('--header <header>', "HTTP header 'Name: value' (repeatable)", usage(parseHeader), [])
    .option('--json', 'print the result as JSON')
    .option(
      '--domain <namespace/name>',
      'exec:// and guest-ping:// only: the VMI (libvirt domain <namespace>_<name>)',
    )
    .addHelpText(
      'after',
      '\nGuest probes: vmprobe probe exec:///<socket> --domain ns/vm -- cat /tmp/ready\n' +
        '              vmprobe probe guest-ping:///<socket> --domain ns/vm\n' +
        '\nExit status: 0 success (warning included), 1 failure or unknown, 2 bad usage.',
    )
    .action(async (rawUrl: string, command: string[], opts: ProbeCommandOptions) => {
      process.exitCode = await runProbeCommand(
        rawUrl,
        opts,
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
        command,
      );
    });
}
