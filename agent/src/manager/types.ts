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
  probe: ProbeKind;
  /** Launcher pods of the VMI on this node (the one to stop). */
  launcherPods: PodRef[];
  terminationGracePeriodSeconds?: number;
  message: string;
}

export interface LivenessHandler {
  onFailure(failure: LivenessFailure): void;
  /** The probe left failure (success, suspended, removed): re-arms the once-per-failure guard. */
  onRecovery?(vmiUid: string): void;
  /** The VMI is gone: forget its once-per-failure memory. */
  forget?(vmiUid: string): void;
}
