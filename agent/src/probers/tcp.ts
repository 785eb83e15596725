// tcpSocket: connect within the timeout, then close with a RST (SO_LINGER 0) so that the agent's
// side never sits in TIME_WAIT: at 1,000 probes/s a FIN close would pile up ~60k sockets and
// exhaust ephemeral ports (kubernetes#89898). Resolves with an outcome, never throws.
// The connection is a bare libuv handle (tcp-handle.ts) where this Node has one — a probe that
// neither reads nor writes needs no stream — and a net.Socket otherwise; both behave the same.
import { connect, isIPv6 } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { clearLongTimeout, setLongTimeout } from '../clock.js';
import { unwatchAbort, watchAbort } from './abort-watch.js';
import { AttemptTimer, agentFaultText, boundMessage, dialErrorText, hostPort } from './outcome.js';
import { type TcpHandle, type TcpHandles, tcpHandles, uvError } from './tcp-handle.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type TcpTarget = Extract<ProbeTarget, { type: 'tcp' }>;

/** How the socket is closed after connecting; 'end' (FIN) exists only so a test can show the difference. */
export type TcpCloseMode = 'reset' | 'end';

/** Which connection the prober uses; 'socket' (net.Socket) is forced only by tests and benchmarks. */
export type TcpTransport = 'handle' | 'socket';

/** The same for every attempt at a target object: built once per target. */
interface TargetTexts {
  ipv6: boolean;
  succeeded: string;
  timedOut: string;
}
const texts = new WeakMap<TcpTarget, TargetTexts>();
function textsFor(target: TcpTarget): TargetTexts {
  let t = texts.get(target);
  if (!t) {
    const hp = hostPort(target.host, target.port);
    t = {
      ipv6: isIPv6(target.host),
      succeeded: boundMessage(`TCP connect to ${hp} succeeded`),
      timedOut: boundMessage(`dial tcp ${hp}: i/o timeout`),
    };
    texts.set(target, t);
  }
  return t;
}

export function probeTcp(
  target: TcpTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
  closeMode: TcpCloseMode = 'reset',
  transport: TcpTransport = 'handle',
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return Promise.resolve(attempt.aborted());
  if (transport === 'handle' && tcpHandles)
    return probeWithHandle(tcpHandles, target, options, signal, closeMode, attempt) as Promise<ProbeOutcome>;
  return probeWithSocket(target, options, signal, closeMode, attempt);
}

/** probeTcp in callback form (the worker's hot path, shipped transport): `done` gets the outcome
 *  exactly once, possibly synchronously; no promise. */
export function probeTcpThen(
  target: TcpTarget,
  options: ProbeOptions,
  signal: AbortSignal | undefined,
  done: (outcome: ProbeOutcome) => void,
): void {
  const attempt = new AttemptTimer();
  if (signal?.aborted) done(attempt.aborted());
  else if (tcpHandles) probeWithHandle(tcpHandles, target, options, signal, 'reset', attempt, done);
  else probeWithSocket(target, options, signal, 'reset', attempt).then(done);
}

/** One attempt over a bare handle: one handle, one request, one timer — and one promise, unless
 *  `onDone` is given (then it gets the outcome and this returns undefined). */
function probeWithHandle(
  handles: TcpHandles,
  target: TcpTarget,
  options: ProbeOptions,
  signal: AbortSignal | undefined,
  closeMode: TcpCloseMode,
  attempt: AttemptTimer,
  onDone?: (outcome: ProbeOutcome) => void,
): Promise<ProbeOutcome> | undefined {
  const t = textsFor(target);
  const run = (resolve: (outcome: ProbeOutcome) => void): void => {
    const handle: TcpHandle = handles.open();
    const req = handles.request();
    let done = false;
    const finish = (outcome: ProbeOutcome): void => {
      done = true;
      clearLongTimeout(timer);
      if (signal) unwatchAbort(signal, onAbort);
      resolve(outcome);
    };
    const fail = (status: number): void => {
      handle.close();
      const err = uvError(status, 'connect', `${target.host}:${target.port}`);
      // EMFILE, ENOBUFS…: the agent's shortage, not the VM's (outcome.ts agentFaultText).
      const fault = agentFaultText(err, `TCP connect to ${hostPort(target.host, target.port)}`);
      finish(
        fault
          ? attempt.finish('unknown', REASON.ProbeError, fault)
          : attempt.finish('failure', REASON.ProbeFailed, dialErrorText(err, target.host, target.port)),
      );
    };
    // After a timeout or an abort the handle is already closed; its request then completes with
    // UV_ECANCELED, which is ignored here.
    req.oncomplete = (status: number): void => {
      if (done) return;
      if (status !== 0) {
        fail(status);
        return;
      }
      // No close callback: the tcp_wrap then calls nothing in JS when libuv has closed the handle.
      if (closeMode === 'reset') handle.reset();
      else handle.close();
      finish(attempt.finishBounded('success', REASON.ProbeSucceeded, t.succeeded));
    };
    const onAbort = (): void => {
      if (done) return;
      handle.close();
      finish(attempt.aborted());
    };
    const timer = setLongTimeout(() => {
      if (done) return;
      handle.close();
      finish(attempt.finishBounded('failure', REASON.ProbeTimeout, t.timedOut));
    }, options.timeoutMs);
    req.address = target.host;
    req.port = target.port;
    const err = t.ipv6
      ? handle.connect6(req, target.host, target.port)
      : handle.connect(req, target.host, target.port);
    if (err !== 0) {
      fail(err);
      return;
    }
    if (signal) watchAbort(signal, onAbort);
  };
  if (onDone === undefined) return new Promise<ProbeOutcome>(run);
  run(onDone);
  return undefined;
}

/** One attempt over a net.Socket: where there is no bare handle (and for comparison). */
function probeWithSocket(
  target: TcpTarget,
  options: ProbeOptions,
  signal: AbortSignal | undefined,
  closeMode: TcpCloseMode,
  attempt: AttemptTimer,
): Promise<ProbeOutcome> {
  const t = textsFor(target);
  return new Promise<ProbeOutcome>((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    let done = false;
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      if (signal) unwatchAbort(signal, onAbort);
      socket.removeListener('connect', onConnect);
      resolve(outcome);
    };
    const onConnect = (): void => {
      if (closeMode === 'reset') socket.resetAndDestroy();
      else socket.end();
      finish(attempt.finishBounded('success', REASON.ProbeSucceeded, t.succeeded));
    };
    const onAbort = (): void => {
      socket.destroy();
      finish(attempt.aborted());
    };
    const timer = setLongTimeout(() => {
      socket.destroy();
      finish(attempt.finishBounded('failure', REASON.ProbeTimeout, t.timedOut));
    }, options.timeoutMs);
    socket.once('connect', onConnect);
    // Errors after a settled attempt (e.g. an RST echo) are swallowed by this listener; it stays
    // attached until the socket is garbage, which is what keeps them from becoming uncaught.
    socket.on('error', (err) => {
      socket.destroy();
      const fault = agentFaultText(err, `TCP connect to ${hostPort(target.host, target.port)}`);
      finish(
        fault
          ? attempt.finish('unknown', REASON.ProbeError, fault)
          : attempt.finish('failure', REASON.ProbeFailed, dialErrorText(err, target.host, target.port)),
      );
    });
    if (signal) watchAbort(signal, onAbort);
  });
}
