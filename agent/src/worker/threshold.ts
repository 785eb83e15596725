// The threshold state machine, pure: the kubelet's rules for turning attempt results into a state.
// - success and warning count as success (the kubelet maps a probe Warning to Success);
// - a state flips to success after successThreshold consecutive successes, to failure after
//   failureThreshold consecutive failures; an opposite result resets the other run;
// - unknown (the probe could not be run: no CAP_NET_RAW, unsupported, aborted) says nothing about
//   the target: it neither moves nor breaks a run, and never changes the state. Whoever reports
//   sees unknown outcomes through onResult and can show them (reason ProbeError/UnsupportedProbe).
// - the starting state is provisional: the first time a threshold is reached (the first confirmed
//   verdict) is reported even when it equals the starting state (failure -> failure for a readiness
//   probe that never succeeds, or a liveness probe resumed as failed), as the kubelet's worker
//   reports its first result whatever the initial value.

import type { ProbeState } from '../model/conditions.js';
import type { ProbeResult } from '../probers/types.js';

export type { ProbeState };

export interface ThresholdState {
  state: ProbeState;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** A threshold has been reached at least once (the state is a verdict, not the starting guess). */
  confirmed: boolean;
}

export interface Thresholds {
  successThreshold: number;
  failureThreshold: number;
}

export function thresholdStart(state: ProbeState): ThresholdState {
  return { state, consecutiveSuccesses: 0, consecutiveFailures: 0, confirmed: false };
}

/** Applies one result. `changed` is true when `next.state` differs from `current.state`, and for the
 *  first confirmed verdict (the result that first reaches a threshold), whatever the starting state. */
export function applyResult(
  current: ThresholdState,
  result: ProbeResult,
  thresholds: Thresholds,
): { next: ThresholdState; changed: boolean } {
  if (result === 'unknown') return { next: current, changed: false };
  const next = { ...current };
  const changed = applyResultInPlace(next, result, thresholds);
  return { next, changed };
}

/** applyResult on the caller's own state object, which it updates (the worker's hot path: no
 *  allocation per attempt). Returns `changed` as applyResult does. */
export function applyResultInPlace(
  state: ThresholdState,
  result: ProbeResult,
  thresholds: Thresholds,
): boolean {
  if (result === 'unknown') return false;
  const before = state.state;
  let reached = false;
  if (result === 'success' || result === 'warning') {
    state.consecutiveSuccesses++;
    state.consecutiveFailures = 0;
    if (state.consecutiveSuccesses >= thresholds.successThreshold) {
      state.state = 'success';
      reached = true;
    }
  } else {
    state.consecutiveFailures++;
    state.consecutiveSuccesses = 0;
    if (state.consecutiveFailures >= thresholds.failureThreshold) {
      state.state = 'failure';
      reached = true;
    }
  }
  const firstVerdict = reached && !state.confirmed;
  if (reached) state.confirmed = true;
  return state.state !== before || firstVerdict;
}
