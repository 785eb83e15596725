// tcpSocket: connect within the timeout, then close with a RST (resetAndDestroy) so that the
// agent's side never sits in TIME_WAIT: at 1,000 probes/s a FIN close would pile up ~60k sockets
// and exhaust ephemeral ports (kubernetes#89898). Resolves with an outcome, never throws.
import { connect } from 'node:net';
import { REASON } from '@vmprobe/shared';
import { clearLongTimeout, setLongTimeout } from '../clock.js';
import { AttemptTimer, agentFaultText, dialErrorText, hostPort } from './outcome.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export type TcpTarget = Extract<ProbeTarget, { type: 'tcp' }>;

/** How the socket is closed after connecting; 'end' (FIN) exists only so a test can show the difference. */
export type TcpCloseMode = 'reset' | 'end';

export function probeTcp(
  target: TcpTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
  closeMode: TcpCloseMode = 'reset',
): Promise<ProbeOutcome> {
  const attempt = new AttemptTimer();
  if (signal?.aborted) return Promise.resolve(attempt.aborted());
  return new Promise<ProbeOutcome>((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    let done = false;
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      resolve(outcome);
    };
    const onConnect = (): void => {
      if (closeMode === 'reset') socket.resetAndDestroy();
      else socket.end();
      finish(
        attempt.finish(
          'success',
          REASON.ProbeSucceeded,
          `TCP connect to ${hostPort(target.host, target.port)} succeeded`,
        ),
      );
    };
    const onAbort = (): void => {
      socket.destroy();
      finish(attempt.aborted());
    };
    const timer = setLongTimeout(() => {
      socket.destroy();
      finish(
        attempt.finish(
          'failure',
          REASON.ProbeTimeout,
          `dial tcp ${hostPort(target.host, target.port)}: i/o timeout`,
        ),
      );
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
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
