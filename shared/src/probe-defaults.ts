// Defaulting, exactly as the kubelet / KubeVirt default a Probe: timeoutSeconds 1, periodSeconds 10,
// successThreshold 1, failureThreshold 3, initialDelaySeconds 0; httpGet path '/', scheme HTTP.
// `ResolvedProbe` is what the agent runs: a handler union plus every timing field filled in.
import type { HTTPHeader, IntOrString, Probe, ProbeKind } from './probe.js';
import { formatProblem, type ProbeProblem, validateProbe } from './probe-validation.js';

export const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  timeoutSeconds: 1,
  periodSeconds: 10,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

/** A port number, or a named port the agent resolves against the VMI's interface ports. */
export type ResolvedHandler =
  | {
      type: 'http';
      port: IntOrString;
      path: string;
      host?: string;
      scheme: 'HTTP' | 'HTTPS';
      headers: HTTPHeader[];
    }
  | { type: 'tcp'; port: IntOrString; host?: string }
  | { type: 'icmp' }
  /** command[0] is what the guest runs, the rest its arguments (validated: no ", \\, controls). */
  | { type: 'exec'; command: string[] }
  | { type: 'guestAgentPing' };

export interface ResolvedProbe {
  kind: ProbeKind;
  handler: ResolvedHandler;
  initialDelaySeconds: number;
  timeoutSeconds: number;
  periodSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** Thrown by resolveProbe for an invalid spec; `problems` holds every problem. */
export class InvalidProbeError extends Error {
  override readonly name = 'InvalidProbeError';
  readonly code = 'ERR_INVALID_PROBE';
  constructor(readonly problems: ProbeProblem[]) {
    super(problems.map(formatProblem).join('; '));
  }
}

function resolveHandler(probe: Probe): ResolvedHandler {
  if (probe.httpGet) {
    const h = probe.httpGet;
    return {
      type: 'http',
      port: h.port,
      path: h.path ? h.path : '/',
      ...(h.host ? { host: h.host } : {}),
      scheme: h.scheme ?? 'HTTP',
      headers: (h.httpHeaders ?? []).map((x) => ({ name: x.name, value: x.value })),
    };
  }
  if (probe.tcpSocket) {
    const t = probe.tcpSocket;
    return { type: 'tcp', port: t.port, ...(t.host ? { host: t.host } : {}) };
  }
  if (probe.icmp) return { type: 'icmp' };
  if (probe.exec) return { type: 'exec', command: [...(probe.exec.command ?? [])] };
  return { type: 'guestAgentPing' };
}

/** Defaults a probe. Throws InvalidProbeError (with every problem) unless validateProbe accepts it;
 *  use parseProbe for a non-throwing form. */
export function resolveProbe(probe: Probe, kind: ProbeKind, fieldPath = `spec.${kind}Probe`): ResolvedProbe {
  const problems = validateProbe(probe, kind, fieldPath);
  if (problems.length > 0) throw new InvalidProbeError(problems);
  return {
    kind,
    handler: resolveHandler(probe),
    initialDelaySeconds: probe.initialDelaySeconds ?? PROBE_DEFAULTS.initialDelaySeconds,
    timeoutSeconds: probe.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds,
    periodSeconds: probe.periodSeconds ?? PROBE_DEFAULTS.periodSeconds,
    successThreshold: probe.successThreshold ?? PROBE_DEFAULTS.successThreshold,
    failureThreshold: probe.failureThreshold ?? PROBE_DEFAULTS.failureThreshold,
  };
}

export type ParsedProbe = { ok: true; probe: ResolvedProbe } | { ok: false; problems: ProbeProblem[] };

/** Validate and default any JSON value in one step; never throws. */
export function parseProbe(probe: unknown, kind: ProbeKind, fieldPath: string): ParsedProbe {
  const problems = validateProbe(probe, kind, fieldPath);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, probe: resolveProbe(probe as Probe, kind, fieldPath) };
}
