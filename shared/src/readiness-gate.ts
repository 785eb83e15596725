// Whether a launcher pod lists vmprobe's readiness gate (so the agent's condition decides its
// Ready), and what to tell the user when it does not. Used by `vmprobe webhook` (idempotence) and by
// the agent (enrolment: VMIProbeStatus status.readinessGate, /debug/probes, the metric).
import { POD_READINESS_CONDITION } from './names.js';

/** True when `pod.spec.readinessGates` has `{conditionType: vmprobe.io/ReadinessProbe}`. */
export function podHasReadinessGate(pod: unknown): boolean {
  const spec =
    typeof pod === 'object' && pod !== null
      ? (pod as { spec?: { readinessGates?: unknown } }).spec
      : undefined;
  const gates = spec?.readinessGates;
  return (
    Array.isArray(gates) &&
    gates.some(
      (g) =>
        typeof g === 'object' &&
        g !== null &&
        (g as { conditionType?: unknown }).conditionType === POD_READINESS_CONDITION,
    )
  );
}

/** The remedy for a VMI whose current launcher pod has no gate. */
export function readinessNotEnforcedMessage(pod: string): string {
  return (
    `launcher pod ${pod} was created without the ${POD_READINESS_CONDITION} readiness gate (before vmprobe webhook ` +
    'was installed, or while it was unavailable): the readiness probe is reported but does not decide the ' +
    "pod's Ready, the VMI's Ready or Service endpoints; restart or live-migrate the VMI to enforce it"
  );
}
