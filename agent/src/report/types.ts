// The contract between the probe manager (which knows what every probe currently says) and the
// reporting side (which owns every API write). The manager calls these on transitions only;
// the reporter coalesces per VMI, writes VMIProbeStatus status, the launcher pods' gate condition
// and Events, and retries. The manager never touches the API itself.
import type { ProbeKind } from '@vmprobe/shared';
import type { ConditionStatus, PodRef, VmiRef } from '../model/conditions.js';

export type { ConditionStatus, PodRef, VmiRef };

export interface ProbeConditionReport {
  kind: ProbeKind;
  status: ConditionStatus;
  /** A REASON from @vmprobe/shared. */
  reason: string;
  /** Last probe output, bounded. */
  message: string;
  /** A failure carried from an earlier verdict (resume, agent restart) that this worker has not yet
   *  confirmed: stored and shown as is, but no Event until the verdict (absent = a verdict or a
   *  state that is not a failure). Never written to the API. */
  provisional?: true;
}

/** The full desired report for one VMI: replaces the previous one (idempotent, level-based). Never
 *  mutated once handed over. A new field must be compared in the manager's sameReport too. */
export interface VmiProbeReport {
  vmi: VmiRef;
  nodeName: string;
  /** Address probed ("10.0.0.5" or "[fd00::5]"), when there is one. */
  target?: string;
  /** One entry per probe kind the VMI has. */
  conditions: ProbeConditionReport[];
  /** Launcher pods that carry `vmprobe.io/ReadinessProbe` (only when the VMI has a readiness probe). */
  launcherPods: PodRef[];
  /** With a readiness probe and a live launcher pod on this node: whether that pod lists the gate. */
  readinessGate?: { enforced: boolean; pod: string };
}

/** What was last reported for a VMI before this agent started: the starting state of its workers. */
export interface LastReported {
  conditions: Partial<Record<ProbeKind, ConditionStatus>>;
  /** The reason and message each condition was stored with: a probe resumed from its status shows
   *  them until its first verdict (no blank message, and no rewrite on an agent restart). */
  shown?: Partial<Record<ProbeKind, { reason: string; message: string }>>;
}

export interface Reporter {
  /** Loads what earlier agents reported on this node (before the first probe runs). */
  start(signal?: AbortSignal): Promise<void>;
  lastReported(vmiUid: string): LastReported | undefined;
  /** Desired state of one VMI; cheap, coalesced; only differences from what is stored get written. */
  update(report: VmiProbeReport): void;
  /** The VMI left this node or was deleted: drop pending writes and memory of it (no API write). */
  forget(vmiUid: string): void;
  /** The API answers again (a watch or list succeeded): retry writes waiting out an outage now. */
  apiReachable?(): void;
  /** Writes everything pending, giving up at the deadline (SIGTERM path). */
  flush(deadlineMs: number): Promise<void>;
  stop(): Promise<void>;
}
