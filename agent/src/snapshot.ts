// The JSON shape of one probe in `/debug/probes` (an array of these), read by `vmprobe status`.
import type { ProbeKind } from '@vmprobe/shared';
import type { HandlerType, ProbeState } from './observer.js';

export interface ProbeSnapshot {
  namespace: string;
  vmi: string;
  uid: string;
  probe: ProbeKind;
  handler: HandlerType;
  /** Address:port (or address for icmp) probed; null while there is none. */
  target: string | null;
  state: ProbeState;
  reason: string;
  message: string;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  periodSeconds: number;
  /** ISO time of the last finished attempt, null before the first. */
  lastProbeTime: string | null;
  /** ISO time the state last changed. */
  lastTransitionTime: string | null;
  /** True while liveness is suspended (paused, migrating) or probing is gated by startup. */
  suspended: boolean;
  /** Readiness probes only, once the VMI has a launcher pod on this node: whether that pod lists the
   *  vmprobe.io/ReadinessProbe readiness gate (`not-enforced`: reported, but it decides nothing). */
  readinessGate?: 'enforced' | 'not-enforced';
}
