// What the manager needs from the outside, as small interfaces: a worker factory (the probe
// engine's ProbeWorker behind an adapter) and the liveness handler (the liveness action).
import type { ProbeKind, ResolvedProbe } from '@vmprobe/shared';
import type { Clock } from '../clock.js';
import type { ProbeState } from '../observer.js';
import type { ProbeOutcome, ProbeTarget } from '../probers/types.js';
import type { PodRef, VmiRef } from '../report/types.js';

export interface WorkerRequest {
  probe: ResolvedProbe;
  target: ProbeTarget;
  /** Threshold state the worker starts in (readiness False for a new VMI, last reported after a restart). */
  initialState: ProbeState;
  /** Remaining initial delay (initialDelaySeconds counts from the VMI's Running transition). */
  initialDelayMs: number;
  /** First attempt at once, without the start-up jitter (a VMI that just migrated here). */
  probeAtOnce?: boolean;
  clock: Clock;
  /** Every finished attempt, with the threshold state after it. */
  onResult(outcome: ProbeOutcome, state: ProbeState, scheduleLagMs: number): void;
  /** Only when the threshold state changes. */
  onTransition(state: ProbeState, outcome: ProbeOutcome): void;
}

/** One running probe loop. start() begins the schedule; stop() is idempotent and clears all. */
export interface ManagedWorker {
  start(): void;
  stop(): void;
}

export type WorkerFactory = (req: WorkerRequest) => ManagedWorker;

/** What the liveness action gets when a liveness (or startup) probe crosses into failure. */
export interface LivenessFailure {
  vmi: VmiRef;
  nodeName: string;
  /** The probe that failed (liveness, or startup — the kubelet kills on both). */
  probe: ProbeKind;
  /** The VMI's launcher pods on this node (stop-launcher deletes each). */
  launcherPods: PodRef[];
  /** The VMI's spec.terminationGracePeriodSeconds (default 30, as KubeVirt). */
  terminationGracePeriodSeconds?: number;
  /** The failing probe's last output. */
  message: string;
}

/**
 * The liveness action as the manager calls it. The manager owns this contract; `agent/src/liveness`
 * implements it (LivenessActionHandler). Every method is cheap, synchronous and never throws.
 */
export interface LivenessHandler {
  /** The probe transitioned to failure (again while it still fails: updates pods/message only). */
  onFailure(failure: LivenessFailure): void;
  /** The probe left failure (success, suspended, removed): cancels a pending/held stop and re-arms
   *  the once-per-failure guard. */
  onRecovery?(vmiUid: string): void;
  /** The VMI is gone or left the node: forget its once-per-failure memory. */
  forget?(vmiUid: string): void;
}
