// What the agent's core tells the outside about its work. Metrics (and anything else that counts)
// implement this; the core never imports prom-client. Every method must be cheap and never throw:
// probeResult runs on the probe hot path.
import type { ProbeKind } from '@vmprobe/shared';
import type { ProbeState } from './model/conditions.js';
import type { ProbeOutcome } from './probers/types.js';

export type { ProbeState };
export type HandlerType = 'http' | 'tcp' | 'icmp' | 'exec' | 'guestAgentPing';

export interface ProbeIdentity {
  namespace: string;
  vmi: string;
  probe: ProbeKind;
  handler: HandlerType;
}

export interface AgentObserver {
  /** Every finished attempt. scheduleLagMs = actual start − due time. */
  probeResult(id: ProbeIdentity, outcome: ProbeOutcome, state: ProbeState, scheduleLagMs: number): void;
  /** The threshold state changed (also called once with the starting state when a worker starts). */
  probeState(id: ProbeIdentity, state: ProbeState, reason: string): void;
  /** A VMI's probe is gone (VMI deleted, stopped, left the node, probe removed): drop its series. */
  probeRemoved(id: Omit<ProbeIdentity, 'handler'> & { handler?: HandlerType }): void;
  /** One API request made by the agent (verb: get|list|watch|create|patch|delete…; code 0 = network error). */
  apiRequest(verb: string, resource: string, code: number, durationSeconds: number): void;
  /** A reporter write: what it wrote and how it ended. */
  reporterWrite(target: 'probestatus' | 'pod' | 'event', result: 'ok' | 'conflict' | 'error' | 'retry'): void;
  /** An informer's watch restarted (reason: error | gone | closed). */
  watchRestart(resource: string, reason: string): void;
  /** Liveness action taken or held back by the kill budget. */
  kill(
    namespace: string,
    vmi: string,
    action: string,
    outcome: 'done' | 'held_back' | 'failed',
    reason: string,
  ): void;
}

export const noopObserver: AgentObserver = {
  probeResult() {},
  probeState() {},
  probeRemoved() {},
  apiRequest() {},
  reporterWrite() {},
  watchRestart() {},
  kill() {},
};
