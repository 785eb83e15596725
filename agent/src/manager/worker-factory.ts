// Adapter from the manager's WorkerFactory to the probe engine's ProbeWorker + runProbe.

import type { Logger } from '../log.js';
import { runProbe } from '../probers/index.js';
import type { Prober } from '../probers/types.js';
import { ProbeWorker } from '../worker/index.js';
import type { WorkerFactory } from './types.js';

export interface ProbeWorkerFactoryOptions {
  logger: Logger;
  /** Spread first attempts over one period (default true; tests turn it off). */
  jitter?: boolean;
  random?: () => number;
  /** The prober (default runProbe; tests script outcomes through the real ProbeWorker with it). */
  prober?: Prober;
}

export function probeWorkerFactory(opts: ProbeWorkerFactoryOptions): WorkerFactory {
  return (req) => {
    const timeoutMs = req.probe.timeoutSeconds * 1000;
    const prober = opts.prober ?? runProbe;
    return new ProbeWorker({
      kind: req.probe.kind,
      attempt: (signal) => prober(req.target, { timeoutMs }, signal),
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
