// exec and guestAgentPing: a command run in the guest, or a ping of the QEMU guest agent, through
// the virt-launcher's command socket — the calls KubeVirt's virt-probe makes, with the kubelet's
// verdicts: exit code 0 → success; any other exit code, a timeout or an unreachable guest agent →
// failure with a message; a socket that cannot be reached (absent, refused, wrong protocol
// version), a response over our receive cap, or an abort → unknown (ProbeError / ProbeAborted):
// none of those says anything about the guest.
//
// Deadlines: the request's timeoutSeconds is clamped to ≥ 1 (the launcher builds a ticker from it
// and panics on ≤ 0, killing the VM); the call's deadline is that plus GRACE_MS, as KubeVirt adds
// 1 s for the extra hop. GuestPing ignores its timeoutSeconds (libvirt's agent timeout rules), so
// our deadline is what bounds it.
import { status } from '@grpc/grpc-js';
import { REASON } from '@vmprobe/shared';
import { type CallResult, type LauncherClientPool, launcherClients } from './launcher-client.js';
import { codecs, type LauncherResponse, METHOD } from './launcher-proto.js';
import { AttemptTimer } from './outcome.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type ExecTarget = Extract<ProbeTarget, { type: 'exec' }>;
export type GuestPingTarget = Extract<ProbeTarget, { type: 'guestAgentPing' }>;

/** Extra time for the launcher hop on top of the guest-side timeout. */
export const GRACE_MS = 1000;
/** Characters of an exec's stdout carried into the message. */
const STDOUT_IN_MESSAGE = 256;

/** Whole seconds for the request, never below 1 (see the header). */
export function clampTimeoutSeconds(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs)) return 1;
  return Math.min(2_147_483_647, Math.max(1, Math.ceil(timeoutMs / 1000)));
}

function describeCommand(t: ExecTarget): string {
  return [t.command, ...t.args].join(' ');
}

/** The outcome for a call that did not return a response. */
function outcomeOfStatus(
  attempt: AttemptTimer,
  r: Extract<CallResult<unknown>, { ok: false }>,
  what: string,
  socketPath: string,
  seconds: number,
): ProbeOutcome {
  switch (r.code) {
    case status.CANCELLED:
      return attempt.aborted();
    case status.DEADLINE_EXCEEDED:
      return attempt.finish('failure', REASON.ProbeTimeout, `${what}: timed out after ${seconds}s`);
    case status.UNAVAILABLE:
      return attempt.finish(
        'unknown',
        REASON.ProbeError,
        `cannot reach the launcher command socket ${socketPath}: ${r.details.replace(/\s*Resolution note:\s*$/, '')}`,
      );
    case status.UNIMPLEMENTED:
      return attempt.finish(
        'unknown',
        REASON.ProbeError,
        `launcher at ${socketPath} does not serve ${what}: ${r.details}`,
      );
    case status.RESOURCE_EXHAUSTED:
      return attempt.finish(
        'unknown',
        REASON.ProbeError,
        `${what}: the launcher's response is over vmprobe's receive limit: ${r.details}`,
      );
    default:
      // The launcher ran the call and it failed (guest agent not responding, exec error…).
      return attempt.finish('failure', REASON.ProbeFailed, `${what}: ${r.details}`);
  }
}

/** A response carrying success=false with a message (older launchers put errors there). */
function serverError(r: LauncherResponse | null): string | undefined {
  return r && !r.success && r.message !== '' ? r.message : undefined;
}

export async function probeExec(
  target: ExecTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
  pool: LauncherClientPool = launcherClients,
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return attempt.aborted();
  const seconds = clampTimeoutSeconds(options.timeoutMs);
  const what = `exec ${describeCommand(target)}`;
  const r = await pool.call(
    target.socketPath,
    METHOD.Exec,
    codecs.ExecRequest,
    codecs.ExecResponse,
    { domainName: target.domainName, Command: target.command, Args: target.args, timeoutSeconds: seconds },
    Date.now() + seconds * 1000 + GRACE_MS,
    signal,
  );
  if (signal?.aborted) return attempt.aborted();
  if (!r.ok) return outcomeOfStatus(attempt, r, what, target.socketPath, seconds);
  const error = serverError(r.value.response);
  if (error !== undefined) return attempt.finish('failure', REASON.ProbeFailed, `${what}: ${error}`);
  const out = r.value.stdOut.trim();
  const shown = out.length > STDOUT_IN_MESSAGE ? `${out.slice(0, STDOUT_IN_MESSAGE)}...` : out;
  if (r.value.exitCode === 0) {
    return attempt.finish('success', REASON.ProbeSucceeded, shown === '' ? `${what}: exit code 0` : shown);
  }
  return attempt.finish(
    'failure',
    REASON.ProbeFailed,
    `${what}: exit code ${r.value.exitCode}${shown === '' ? '' : `: ${shown}`}`,
  );
}

export async function probeGuestPing(
  target: GuestPingTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
  pool: LauncherClientPool = launcherClients,
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return attempt.aborted();
  const seconds = clampTimeoutSeconds(options.timeoutMs);
  const what = 'guest agent ping';
  const r = await pool.call(
    target.socketPath,
    METHOD.GuestPing,
    codecs.GuestPingRequest,
    codecs.GuestPingResponse,
    { domainName: target.domainName, timeoutSeconds: seconds },
    Date.now() + seconds * 1000 + GRACE_MS,
    signal,
  );
  if (signal?.aborted) return attempt.aborted();
  if (!r.ok) return outcomeOfStatus(attempt, r, what, target.socketPath, seconds);
  const error = serverError(r.value.response);
  if (error !== undefined) return attempt.finish('failure', REASON.ProbeFailed, `${what}: ${error}`);
  return attempt.finish('success', REASON.ProbeSucceeded, `guest agent of ${target.domainName} answered`);
}
