// The threshold state machine, pure: the kubelet's rules for turning attempt results into a state.
// - success and warning count as success (the kubelet maps a probe Warning to Success);
// - a state flips to success after successThreshold consecutive successes, to failure after
//   failureThreshold consecutive failures; an opposite result resets the other run;
// - unknown (the probe could not be run: no CAP_NET_RAW, unsupported, aborted) says nothing about
//   the target: it neither moves nor breaks a run, and never changes the state. Whoever reports
//   sees unknown outcomes through onResult and can show them (reason ProbeError/UnsupportedProbe).
import type { ProbeKind } from '@vmprobe/shared';
import type { ProbeResult } from '../probers/types.js';

export type ProbeState = 'success' | 'failure' | 'unknown';

export interface ThresholdState {
  state: ProbeState;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
}

export interface Thresholds {
  successThreshold: number;
  failureThreshold: number;
}

/** The kubelet's starting states: liveness success, readiness failure, startup unknown. */
export function initialProbeState(kind: ProbeKind): ProbeState {
  return kind === 'liveness' ? 'success' : kind === 'readiness' ? 'failure' : 'unknown';
}

export function thresholdStart(state: ProbeState): ThresholdState {
  return { state, consecutiveSuccesses: 0, consecutiveFailures: 0 };
}

/** Applies one result. `changed` is true only when `next.state` differs from `current.state`. */
export function applyResult(
  current: ThresholdState,
  result: ProbeResult,
  thresholds: Thresholds,
): { next: ThresholdState; changed: boolean } {
  if (result === 'unknown') return { next: current, changed: false };
  let { state, consecutiveSuccesses, consecutiveFailures } = current;
  if (result === 'success' || result === 'warning') {
    consecutiveSuccesses++;
    consecutiveFailures = 0;
    if (consecutiveSuccesses >= thresholds.successThreshold) state = 'success';
  } else {
    consecutiveFailures++;
    consecutiveSuccesses = 0;
    if (consecutiveFailures >= thresholds.failureThreshold) state = 'failure';
  }
  return { next: { state, consecutiveSuccesses, consecutiveFailures }, changed: state !== current.state };
}
