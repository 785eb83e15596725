// Building ProbeOutcomes: bounded messages, timings, and Go-style network error text so messages
// read like the kubelet's ("dial tcp 10.0.0.5:80: connect: connection refused").
import { isIPv6 } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { boundMessage } from '../model/message.js';
import type { ProbeOutcome, ProbeResult } from './types.js';

export { boundMessage };

/** Measures one attempt; `finish` stamps the outcome with the attempt's start and duration. */
export class AttemptTimer {
  readonly startedAt = Date.now();
  private readonly t0 = performance.now();

  finish(result: ProbeResult, reason: string, message: string): ProbeOutcome {
    return {
      result,
      reason,
      message: boundMessage(message),
      timings: { startedAt: this.startedAt, durationMs: performance.now() - this.t0 },
    };
  }

  /** As finish, for a message already printable and bounded (built once and checked by the caller). */
  finishBounded(result: ProbeResult, reason: string, message: string): ProbeOutcome {
    return {
      result,
      reason,
      message,
      timings: { startedAt: this.startedAt, durationMs: performance.now() - this.t0 },
    };
  }

  aborted(): ProbeOutcome {
    return this.finish('unknown', REASON.ProbeAborted, 'probe aborted before it completed');
  }
}

/** host:port as Go prints it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

const DIAL_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
  EACCES: 'connect: permission denied',
  EPERM: 'connect: operation not permitted',
};

export function isDialErrorCode(code: string | undefined): boolean {
  return code !== undefined && code in DIAL_ERRORS;
}

/** Text for an error while connecting to host:port, in Go's net.Dial words where they exist. */
export function dialErrorText(err: unknown, host: string, port: number): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = code ? DIAL_ERRORS[code] : undefined;
  return `dial tcp ${hostPort(host, port)}: ${known ?? (err instanceof Error ? err.message : String(err))}`;
}

/** Socket errors that are the agent's own resource problem, not the target's (errno → what). */
const AGENT_FAULTS: Record<string, string> = {
  EMFILE: 'the agent is out of file descriptors (EMFILE)',
  ENFILE: 'the node is out of file descriptors (ENFILE)',
  ENOBUFS: 'the node is out of socket buffer space (ENOBUFS)',
  ENOMEM: 'the node is out of kernel memory (ENOMEM)',
};

/**
 * When `err` is the agent's own fault (out of descriptors or buffers), the text of an `unknown`
 * outcome (reason ProbeError) naming it; undefined when the error says something about the target.
 * Such an attempt never counts as the VM's failure (design §7 "Verdicts").
 */
export function agentFaultText(err: unknown, what: string): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const fault = code ? AGENT_FAULTS[code] : undefined;
  return fault ? `not counted: ${what} could not run: ${fault}` : undefined;
}
