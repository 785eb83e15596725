// What every prober takes and returns. A target's failure is a value, never a thrown error:
// probers resolve with an outcome for refused, timed-out, garbled or aborted attempts alike.
import type { HTTPHeader } from '@vmprobe/shared';

/** success: the target is healthy; warning: healthy but noteworthy (e.g. a final 3xx);
 *  failure: the target answered wrongly or not in time; unknown: the probe could not be run
 *  (no privilege for ICMP, unsupported handler) — says nothing about the target. */
export type ProbeResult = 'success' | 'warning' | 'failure' | 'unknown';

export interface ProbeTimings {
  /** Epoch milliseconds when the attempt started (from the injected clock where there is one). */
  startedAt: number;
  /** Wall time of the whole attempt. */
  durationMs: number;
}

export interface ProbeOutcome {
  result: ProbeResult;
  /** A REASON from @vmprobe/shared (ProbeSucceeded, ProbeFailed, ProbeTimeout, ProbeWarning, UnsupportedProbe…). */
  reason: string;
  /** Human message in the kubelet's words where one exists, bounded to MAX_MESSAGE_LENGTH. */
  message: string;
  timings: ProbeTimings;
}

export { MAX_MESSAGE_LENGTH } from '../model/message.js';

/** A fully resolved address to probe: host is an IP literal (v4 or v6), never a name; guest probes
 *  name the launcher's unix socket and the libvirt domain (`<namespace>_<name>`) instead. */
export type ProbeTarget =
  | {
      type: 'http';
      scheme: 'http' | 'https';
      host: string;
      port: number;
      path: string;
      headers: HTTPHeader[];
    }
  | { type: 'tcp'; host: string; port: number }
  | { type: 'icmp'; host: string }
  /** A command run in the guest through the virt-launcher's command socket (guest.ts). */
  | { type: 'exec'; socketPath: string; domainName: string; command: string; args: string[] }
  /** A ping of the QEMU guest agent through the virt-launcher's command socket (guest.ts). */
  | { type: 'guestAgentPing'; socketPath: string; domainName: string };

export interface ProbeOptions {
  /** One deadline for the whole attempt (connect + headers + body), in milliseconds. */
  timeoutMs: number;
}

export type Prober<T extends ProbeTarget = ProbeTarget> = (
  target: T,
  options: ProbeOptions,
  signal?: AbortSignal,
) => Promise<ProbeOutcome>;
