// Building ProbeOutcomes: bounded messages, timings, and Go-style network error text so messages
// read like the kubelet's ("dial tcp 10.0.0.5:80: connect: connection refused").
import { isIPv6 } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { MAX_MESSAGE_LENGTH, type ProbeOutcome, type ProbeResult } from './types.js';

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

/** Printable, single-line and at most MAX_MESSAGE_LENGTH characters. */
export function boundMessage(message: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = message.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length <= MAX_MESSAGE_LENGTH ? clean : `${clean.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
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
