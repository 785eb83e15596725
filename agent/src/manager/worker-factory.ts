// Adapter from the manager's WorkerFactory to the probe engine's ProbeWorker + runProbe.

import type { Logger } from '../log.js';
import { runProbeThen } from '../probers/index.js';
import type { Prober } from '../probers/types.js';
import { type AttemptDone, ProbeWorker } from '../worker/index.js';
import type { WorkerFactory } from './types.js';

export interface ProbeWorkerFactoryOptions {
  logger: Logger;
  /** Spread first attempts over one period (default true; tests turn it off). */
  jitter?: boolean;
  random?: () => number;
  /** The prober (default: runProbeThen, the callback form of runProbe; tests script outcomes
   *  through the real ProbeWorker with a promise-returning one). */
  prober?: Prober;
}

export function probeWorkerFactory(opts: ProbeWorkerFactoryOptions): WorkerFactory {
  return (req) => {
    const timeoutMs = req.probe.timeoutSeconds * 1000;
    // Built once per worker: the same target and options object for every attempt.
    const options = { timeoutMs };
    const { target } = req;
    const prober = opts.prober;
    return new ProbeWorker({
      kind: req.probe.kind,
      ...(prober
        ? { attempt: (signal: AbortSignal) => prober(target, options, signal) }
        : { run: (signal: AbortSignal, done: AttemptDone) => runProbeThen(target, options, signal, done) }),
      periodMs: req.probe.periodSeconds * 1000,
      timeoutMs,
      successThreshold: req.probe.successThreshold,
      failureThreshold: req.probe.failureThreshold,
      initialDelayMs: req.initialDelayMs,
      jitter: req.probeAtOnce ? false : (opts.jitter ?? true),
      ...(opts.random ? { random: opts.random } : {}),
      clock: req.clock,
      initialState: req.initialState,
      onResult: (outcome, info) => req.onResult(outcome, info.state.state, info.lagMs),
      onTransition: (_prev, next, outcome) => req.onTransition(next, outcome),
      onError: (err) =>
        opts.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'probe callback threw'),
    });
  };
}
