// Dispatch by target type. Every prober resolves with an outcome and never throws for anything the
// target does; an aborted attempt resolves `unknown` with reason ProbeAborted.
//
// The guest probers (exec, guestAgentPing: guest.ts → launcher-client.ts → @grpc/grpc-js,
// launcher-proto.ts → protobufjs) are imported on the first such probe, not with this module: an
// agent or CLI that never runs one never loads gRPC (~1 MiB of source V8 would keep for the
// process's life, plus its module code). The library entry (src/index.ts) exports them directly.
import { probeHttp, probeHttpThen } from './http.js';
import { probeIcmp } from './icmp.js';
import { probeTcp, probeTcpThen } from './tcp.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

type GuestProbers = typeof import('./guest.js');
/** Set once the guest modules are loaded (then the dispatch is synchronous). */
let guest: GuestProbers | undefined;
let launcher: typeof import('./launcher-client.js') | undefined;
let guestLoading: Promise<GuestProbers> | undefined;

/** Loads the guest probers once; a failed import rejects every guest attempt (the worker's onThrow). */
function loadGuest(): Promise<GuestProbers> {
  guestLoading ??= Promise.all([import('./guest.js'), import('./launcher-client.js')]).then(([g, l]) => {
    launcher = l;
    guest = g;
    return g;
  });
  return guestLoading;
}

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
      if (guest) return guest.probeExec(target, options, signal);
      return loadGuest().then((g) => g.probeExec(target, options, signal));
    case 'guestAgentPing':
      if (guest) return guest.probeGuestPing(target, options, signal);
      return loadGuest().then((g) => g.probeGuestPing(target, options, signal));
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

/** Closes the agent's launcher clients (agent stop, CLI exit); nothing to do if none was loaded. */
export function closeLauncherClients(): void {
  launcher?.closeLauncherClients();
}

export { MAX_BODY_BYTES, MAX_HTTP_REQUESTS, probeHttp, USER_AGENT } from './http.js';
export { closeIcmpSessions, openIcmpSessionCount, probeIcmp } from './icmp.js';
export { probeTcp } from './tcp.js';
export * from './types.js';
