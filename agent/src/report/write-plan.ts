// Pure helpers of the reporter: what to write for a desired report, whether what is stored already
// holds it, and which Event a condition calls for. No I/O, no clock of their own (`nowMs` comes from
// the caller's Clock), no state: every function here is deterministic in its arguments.
//
// - desiredStatus / newProbeStatusObject: the VMIProbeStatus body for a report; a condition whose
//   status holds keeps the stored lastTransitionTime, otherwise it takes `nowMs` (second precision).
// - statusMatches / podConditionMatches: "the stored object holds what is desired" (the diff that
//   keeps a steady state at zero writes, and the check that a returned object stores a write).
// - isFailure / eventFor: the edge-triggered Events (Unhealthy, InvalidProbe).
import {
  CONDITION_TYPE,
  LABEL_PROBE_STATUS_NODE,
  type ProbeKind,
  REASON,
  readinessNotEnforcedMessage,
} from '@vmprobe/shared';
import {
  type PodConditionRead,
  type ProbeStatusBody,
  type ProbeStatusCondition,
  type ProbeStatusObject,
  rfc3339,
  vmiOwnerReference,
} from '../kube/api.js';
import { boundMessage } from '../model/message.js';
import type { EventIntent } from './events.js';
import type { LastReported, ProbeConditionReport, VmiProbeReport } from './types.js';

const KIND_LABEL: Record<ProbeKind, string> = {
  liveness: 'Liveness',
  readiness: 'Readiness',
  startup: 'Startup',
};

/** VMIProbeStatus condition type → probe kind. */
export const KIND_OF_TYPE = new Map<string, ProbeKind>(
  (Object.entries(CONDITION_TYPE) as [ProbeKind, string][]).map(([k, t]) => [t, k]),
);

const FAILURE_REASONS = new Set<string>([REASON.ProbeFailed, REASON.ProbeTimeout]);

/** The probe ran and failed (not: cannot run, invalid, unknown). */
export function isFailure(c: ProbeConditionReport): boolean {
  return c.status === 'False' && FAILURE_REASONS.has(c.reason);
}

/** The Warning a condition calls for when it turns into it (and as a reminder while it lasts). */
export function eventFor(c: ProbeConditionReport): EventIntent | undefined {
  if (isFailure(c)) {
    return {
      type: 'Warning',
      reason: 'Unhealthy',
      message: `${KIND_LABEL[c.kind]} probe failed: ${c.message}`,
    };
  }
  if (c.reason === REASON.InvalidProbe) {
    return {
      type: 'Warning',
      reason: 'InvalidProbe',
      message: `${KIND_LABEL[c.kind]} probe is invalid: ${c.message}`,
    };
  }
  return undefined;
}

/** The condition with its message cut to `maxLen` characters. */
export function boundedCondition(c: ProbeConditionReport, maxLen: number): ProbeConditionReport {
  return { ...c, message: boundMessage(c.message, maxLen) };
}

/** The VMI a stored VMIProbeStatus reports on (status.vmiUID, else its VMI owner). */
export function vmiUidOf(obj: ProbeStatusObject): string | undefined {
  return (
    obj.status?.vmiUID || obj.metadata.ownerReferences?.find((o) => o.kind === 'VirtualMachineInstance')?.uid
  );
}

/** Listed objects by the VMI uid they report on (objects without one are skipped). */
export function byVmiUid(items: ProbeStatusObject[]): Map<string, ProbeStatusObject> {
  const out = new Map<string, ProbeStatusObject>();
  for (const obj of items) {
    const uid = vmiUidOf(obj);
    if (uid) out.set(uid, obj);
  }
  return out;
}

/** The conditions a stored object holds, by probe kind, with their reasons and messages (the
 *  workers' starting state). */
export function lastReportedOf(obj: ProbeStatusObject | undefined): LastReported | undefined {
  if (!obj?.status?.conditions) return undefined;
  const conditions: LastReported['conditions'] = {};
  const shown: NonNullable<LastReported['shown']> = {};
  for (const c of obj.status.conditions) {
    const kind = KIND_OF_TYPE.get(c.type);
    if (!kind) continue;
    conditions[kind] = c.status;
    shown[kind] = { reason: c.reason, message: c.message ?? '' };
  }
  return { conditions, shown };
}

/** The status to store for `report`; lastTransitionTime kept from `stored` while a status holds. */
export function desiredStatus(
  report: VmiProbeReport,
  stored: ProbeStatusBody | undefined,
  nowMs: number,
): ProbeStatusBody {
  const now = rfc3339(nowMs);
  const conditions: ProbeStatusCondition[] = report.conditions.map((c) => {
    const type = CONDITION_TYPE[c.kind];
    const prev = stored?.conditions?.find((p) => p.type === type);
    return {
      type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime:
        prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
    };
  });
  const out: ProbeStatusBody = { nodeName: report.nodeName, vmiUID: report.vmi.uid, conditions };
  if (report.target !== undefined) out.target = report.target;
  if (report.readinessGate !== undefined) {
    const g = report.readinessGate;
    out.readinessGate = g.enforced
      ? { enforced: true, pod: g.pod }
      : { enforced: false, pod: g.pod, message: readinessNotEnforcedMessage(g.pod) };
  }
  return out;
}

/** A new VMIProbeStatus for `report`: owned by the VMI, labelled with this node. */
export function newProbeStatusObject(report: VmiProbeReport, node: string, nowMs: number): ProbeStatusObject {
  const { namespace, name } = report.vmi;
  return {
    apiVersion: 'vmprobe.io/v1alpha1',
    kind: 'VMIProbeStatus',
    metadata: {
      name,
      namespace,
      labels: { [LABEL_PROBE_STATUS_NODE]: node },
      ownerReferences: [vmiOwnerReference(report.vmi)],
    },
    status: desiredStatus(report, undefined, nowMs),
  };
}

/** Two RFC 3339 times name the same instant (the API may re-format them). */
export function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return Date.parse(a) === Date.parse(b);
}

/** The stored status holds everything desired (conditions compared by type, ignoring order). */
export function statusMatches(stored: ProbeStatusBody | undefined, desired: ProbeStatusBody): boolean {
  if (!stored) return false;
  if (stored.nodeName !== desired.nodeName) return false;
  if ((stored.target ?? undefined) !== (desired.target ?? undefined)) return false;
  if (stored.vmiUID !== desired.vmiUID) return false;
  const sg = stored.readinessGate;
  const dg = desired.readinessGate;
  if (
    sg?.enforced !== dg?.enforced ||
    (sg?.pod ?? undefined) !== (dg?.pod ?? undefined) ||
    (sg?.message ?? undefined) !== (dg?.message ?? undefined)
  )
    return false;
  const want = desired.conditions ?? [];
  const have = stored.conditions ?? [];
  if (have.length !== want.length) return false;
  for (const w of want) {
    const h = have.find((c) => c.type === w.type);
    if (!h) return false;
    if (h.status !== w.status || h.reason !== w.reason || (h.message ?? '') !== w.message) return false;
    if (!sameInstant(h.lastTransitionTime, w.lastTransitionTime)) return false;
  }
  return true;
}

/** A pod's gate condition holds the readiness report (status, reason, message). */
export function podConditionMatches(stored: PodConditionRead, want: ProbeConditionReport): boolean {
  return (
    stored.status === want.status &&
    (stored.reason ?? '') === want.reason &&
    (stored.message ?? '') === want.message
  );
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
