// Dispatch by target type. Every prober resolves with an outcome and never throws for anything the
// target does; an aborted attempt resolves `unknown` with reason ProbeAborted.
import { probeExec, probeGuestPing } from './guest.js';
import { probeHttp, probeHttpThen } from './http.js';
import { probeIcmp } from './icmp.js';
import { probeTcp, probeTcpThen } from './tcp.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export function runProbe(
  target: ProbeTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  switch (target.type) {
    case 'http':
      return probeHttp(target, options, signal);
    case 'tcp':
      return probeTcp(target, options, signal);
    case 'icmp':
      return probeIcmp(target, options, signal);
    case 'exec':
      return probeExec(target, options, signal);
    case 'guestAgentPing':
      return probeGuestPing(target, options, signal);
  }
}

/**
 * runProbe for the worker's hot path, without a promise where the handler has a callback form:
 * httpGet and tcpSocket call `done` exactly once (possibly synchronously) and this returns
 * undefined; the other handlers return their promise (and never call `done`) — the caller chains its own handlers, so
 * no closure is built here per attempt.
 */
export function runProbeThen(
  target: ProbeTarget,
  options: ProbeOptions,
  signal: AbortSignal | undefined,
  done: (outcome: ProbeOutcome) => void,
): Promise<ProbeOutcome> | undefined {
  if (target.type === 'http') {
    probeHttpThen(target, options, signal, done);
    return undefined;
  }
  if (target.type === 'tcp') {
    probeTcpThen(target, options, signal, done);
    return undefined;
  }
  return runProbe(target, options, signal);
}

export { clampTimeoutSeconds, GRACE_MS, probeExec, probeGuestPing } from './guest.js';
export { MAX_BODY_BYTES, MAX_HTTP_REQUESTS, probeHttp, USER_AGENT } from './http.js';
export { closeIcmpSessions, openIcmpSessionCount, probeIcmp } from './icmp.js';
export {
  closeLauncherClients,
  LauncherClientPool,
  launcherClients,
  MAX_LAUNCHER_RESPONSE_BYTES,
} from './launcher-client.js';
export { probeTcp } from './tcp.js';
export * from './types.js';
