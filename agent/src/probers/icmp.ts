// icmp: one echo per attempt through net-ping. One session (raw socket) per address family, created
// lazily on first use and shared by every target; net-ping matches replies by request id, so many
// concurrent attempts share a session safely. The attempt's own timer is the deadline (net-ping's
// per-session timeout is set longer and only cleans up). Without CAP_NET_RAW the socket cannot be
// opened: the outcome is `unknown` (reason ProbeError) and the process keeps running. A socket-level
// error of the session (closed, ENOBUFS, …) is the agent's, not the VM's: `unknown`, never `failure`.
// `closeIcmpSessions()` closes the sockets (call it when the agent stops); a later attempt reopens.
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { clearLongTimeout, setLongTimeout } from '../clock.js';
import { unwatchAbort, watchAbort } from './abort-watch.js';
import { AttemptTimer, boundMessage } from './outcome.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type IcmpTarget = Extract<ProbeTarget, { type: 'icmp' }>;

type PingCallback = (error: Error | null, target: string, sent?: Date, rcvd?: Date) => void;

/** The part of net-ping's Session this module uses (the package ships no types). */
interface NetPingSession {
  timeout: number;
  nextId: number;
  reqs: Record<number, { callback: PingCallback } | undefined>;
  pingHost(target: string, callback: PingCallback): unknown;
  reqRemove(id: number): unknown;
  close(): unknown;
  on(event: 'error' | 'close', listener: (err?: Error) => void): unknown;
}
interface NetPingModule {
  createSession(options: {
    networkProtocol: number;
    retries: number;
    timeout: number;
    packetSize?: number;
  }): NetPingSession;
  NetworkProtocol: { IPv4: number; IPv6: number };
}

/** net-ping's errors that describe the target or the path to it (an ICMP error reply, no reply in
 *  time) and the send errors that do; any other error is the agent's own socket failing. */
const TARGET_ERROR_NAMES = new Set([
  'DestinationUnreachableError',
  'PacketTooBigError',
  'ParameterProblemError',
  'RedirectReceivedError',
  'RequestTimedOutError',
  'SourceQuenchError',
  'TimeExceededError',
]);
const TARGET_SEND_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

export function isTargetError(error: Error): boolean {
  return (
    TARGET_ERROR_NAMES.has(error.name) || TARGET_SEND_CODES.has((error as NodeJS.ErrnoException).code ?? '')
  );
}

/** Loaded on first use so the raw-socket addon is only loaded by agents that ping. */
let netPing: NetPingModule | undefined;
function loadNetPing(): NetPingModule {
  netPing ??= createRequire(import.meta.url)('net-ping') as NetPingModule;
  return netPing;
}

type Family = 'ipv4' | 'ipv6';
const sessions = new Map<Family, NetPingSession>();
/** net-ping cleans a request up this long after our deadline if nothing else did. */
const CLEANUP_SLACK_MS = 1000;

/** Thrown by session creation; carries why ICMP cannot run here. */
class IcmpUnavailableError extends Error {
  readonly code = 'ERR_ICMP_UNAVAILABLE';
}

function sessionFor(family: Family): NetPingSession {
  const existing = sessions.get(family);
  if (existing) return existing;
  const ping = loadNetPing();
  let session: NetPingSession;
  try {
    session = ping.createSession({
      networkProtocol: family === 'ipv6' ? ping.NetworkProtocol.IPv6 : ping.NetworkProtocol.IPv4,
      retries: 0,
      timeout: 2000,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const privilege = /not permitted|EPERM|EACCES|permission/i.test(why);
    throw new IcmpUnavailableError(
      privilege
        ? `ICMP needs CAP_NET_RAW: cannot open a raw ${family} socket (${why})`
        : `cannot open a raw ${family} socket for ICMP: ${why}`,
    );
  }
  // A socket error or close retires the session; the next attempt opens a fresh one.
  const retire = (): void => {
    if (sessions.get(family) === session) sessions.delete(family);
  };
  session.on('error', () => {
    retire();
    session.close();
  });
  session.on('close', retire);
  sessions.set(family, session);
  return session;
}

/** Closes every ICMP session; pending attempts resolve as failures. Idempotent. */
export function closeIcmpSessions(): void {
  const open = [...sessions.values()];
  sessions.clear();
  for (const s of open) s.close();
}

/** How many sessions are open (for tests and /debug). */
export function openIcmpSessionCount(): number {
  return sessions.size;
}

/** The success message per target object, built once (the same text every period). */
const replyMessages = new WeakMap<IcmpTarget, string>();
function replyMessage(target: IcmpTarget): string {
  let m = replyMessages.get(target);
  if (m === undefined) {
    m = boundMessage(`ICMP echo reply from ${target.host}`);
    replyMessages.set(target, m);
  }
  return m;
}

export function probeIcmp(
  target: IcmpTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return Promise.resolve(attempt.aborted());
  let session: NetPingSession;
  try {
    session = sessionFor(isIPv6(target.host) ? 'ipv6' : 'ipv4');
  } catch (err) {
    return Promise.resolve(attempt.finish('unknown', REASON.ProbeError, (err as Error).message));
  }
  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    let id: number | undefined;
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      if (signal) unwatchAbort(signal, onAbort);
      // Drop our request from the session if it is still pending (timeout or abort).
      if (id !== undefined && session.reqs[id]?.callback === onReply) session.reqRemove(id);
      resolve(outcome);
    };
    const onReply: PingCallback = (error) => {
      if (!error) {
        finish(attempt.finishBounded('success', REASON.ProbeSucceeded, replyMessage(target)));
      } else if (!isTargetError(error)) {
        // The agent's own socket failed (closed, ENOBUFS, …): nothing is known about the target.
        finish(
          attempt.finish(
            'unknown',
            REASON.ProbeError,
            `not counted: ICMP echo to ${target.host} could not run: the agent's ICMP socket failed: ${error.message}`,
          ),
        );
      } else {
        finish(
          attempt.finish(
            'failure',
            REASON.ProbeFailed,
            `ICMP echo to ${target.host} failed: ${error.message}`,
          ),
        );
      }
    };
    const onAbort = (): void => finish(attempt.aborted());
    const timer = setLongTimeout(() => {
      finish(
        attempt.finish(
          'failure',
          REASON.ProbeTimeout,
          `ICMP echo to ${target.host}: no reply within ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    if (signal) watchAbort(signal, onAbort);
    try {
      // net-ping copies the session timeout into the request synchronously; its id is nextId after.
      session.timeout = options.timeoutMs + CLEANUP_SLACK_MS;
      session.pingHost(target.host, onReply);
      id = session.reqs[session.nextId]?.callback === onReply ? session.nextId : undefined;
    } catch (err) {
      // pingHost throws only for the agent's side (a closed session, a bad argument).
      finish(
        attempt.finish(
          'unknown',
          REASON.ProbeError,
          `not counted: ICMP echo to ${target.host} could not run: ${(err as Error).message}`,
        ),
      );
    }
  });
}
