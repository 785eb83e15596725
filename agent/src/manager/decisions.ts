// The manager's decisions about one probe, as pure functions (table-tested in
// agent/test/manager-decisions.test.ts): what a new worker starts as, what condition a worker's
// result shows, and when the liveness action is armed. The manager (manager.ts) only applies them.
import { type ProbeKind, REASON } from '@vmprobe/shared';
import type { ConditionStatus } from '../report/types.js';
import type { ProbeState } from '../worker/threshold.js';

export const STATUS_OF: Readonly<Record<ProbeState, ConditionStatus>> = {
  success: 'True',
  failure: 'False',
  unknown: 'Unknown',
};
export const STATE_OF: Readonly<Record<ConditionStatus, ProbeState>> = {
  True: 'success',
  False: 'failure',
  Unknown: 'unknown',
};

export interface StartingState {
  state: ProbeState;
  reason: string;
  /** The message carried with a verdict reason ('' otherwise). */
  message: string;
}

/** The reason and message a condition showed: the previous worker's (`lastRun`) or the stored one's
 *  (`lastReported`), carried with the state taken from it. */
export interface CarriedCondition {
  reason: string;
  message: string;
}

/** Reasons a verdict of each state shows (only these are carried into a starting state). */
const VERDICT_REASONS: Readonly<Record<'success' | 'failure', readonly string[]>> = {
  success: [REASON.ProbeSucceeded, REASON.ProbeWarning],
  failure: [REASON.ProbeFailed, REASON.ProbeTimeout],
};

/**
 * The provisional state a new worker starts in: what this probe's previous worker had (spec or
 * target change, resume after a suspension), else what an earlier agent reported (no flapping on an
 * agent restart), else readiness False (a new VMI is not ready) and liveness/startup Unknown. It is
 * only a starting guess: the worker's first verdict is reported whatever it is (threshold.ts).
 * The carried reason and message (the verdict last shown for that state) come with it, so a probe
 * resumed as failed is not shown with a blank message and a restart rewrites nothing; a carried
 * condition whose reason is not a verdict of that state starts with the plain reason and ''.
 */
export function startingState(
  kind: ProbeKind,
  lastRunState: ProbeState | undefined,
  lastReported: ConditionStatus | undefined,
  shown: { lastRun?: CarriedCondition | undefined; lastReported?: CarriedCondition | undefined } = {},
): StartingState {
  let state: ProbeState | undefined;
  let carried: CarriedCondition | undefined;
  if (lastRunState !== undefined && lastRunState !== 'unknown') {
    state = lastRunState;
    carried = shown.lastRun;
  } else if (lastRunState === undefined && lastReported !== undefined && lastReported !== 'Unknown') {
    state = STATE_OF[lastReported];
    carried = shown.lastReported;
  }
  if (state === undefined)
    return { state: kind === 'readiness' ? 'failure' : 'unknown', reason: REASON.Initializing, message: '' };
  if (state !== 'unknown' && carried && VERDICT_REASONS[state].includes(carried.reason))
    return { state, reason: carried.reason, message: carried.message };
  return { state, reason: state === 'success' ? REASON.ProbeSucceeded : REASON.ProbeFailed, message: '' };
}

/** What a probe's condition shows. */
export interface ShownCondition {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * The condition after one attempt result. A verdict (`verdict`: the worker reported a transition
 * or its first confirmed verdict) shows the verdict's state with the outcome's reason and message.
 * Before the first verdict, an `unknown` outcome (the probe could not run: no CAP_NET_RAW, an agent
 * fault…) shows its reason and message without changing the status. Anything else keeps what is shown.
 */
export function conditionAfterResult(
  shown: ShownCondition,
  result: { state: ProbeState; outcome: { result: string; reason: string; message: string } },
  verdict: boolean,
  confirmedBefore: boolean,
): ShownCondition {
  if (verdict) {
    return {
      status: STATUS_OF[result.state],
      reason: result.outcome.reason,
      message: result.outcome.message,
    };
  }
  if (!confirmedBefore && result.outcome.result === 'unknown') {
    return { status: shown.status, reason: result.outcome.reason, message: result.outcome.message };
  }
  return shown;
}

/** The liveness action is armed by every failure verdict of a liveness or startup probe (the handler
 *  acts once per failure; a recovery re-arms it). */
export function armsLivenessAction(kind: ProbeKind, verdictState: ProbeState): boolean {
  return verdictState === 'failure' && (kind === 'liveness' || kind === 'startup');
}

/** Leaving failure (success, suspended, removed) is a recovery for the liveness action. */
export function isLivenessRecovery(kind: ProbeKind, from: ProbeState, to: ProbeState | 'removed'): boolean {
  return kind !== 'readiness' && from === 'failure' && to !== 'failure';
}
