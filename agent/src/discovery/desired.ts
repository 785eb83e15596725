// The desired probe set of one VMI, as a pure function of the VMI and its launcher pods: which
// kinds it has, and for each either a runnable probe (resolved spec + target) or a fixed condition
// (InvalidProbe, UnsupportedProbe, NoTargetAddress). Stateful concerns — startup gating, liveness
// suspension, starting states — belong to the manager.
import { type ProbeKind, probesOfVmi, REASON, type ResolvedProbe, resolveVmiProbes } from '@vmprobe/shared';
import type { PodObject, VmiObject } from '../model/objects.js';
import type { HandlerType } from '../observer.js';
import type { ProbeTarget } from '../probers/types.js';
import type { ConditionStatus } from '../report/types.js';
import {
  type AddressPolicy,
  ANNOTATION_PAUSE_GUEST_AGENT_PROBES,
  type GuestProbeConfig,
  guestAgentProbesPaused,
  resolveTarget,
} from '../targets/index.js';

export type DesiredProbe = {
  kind: ProbeKind;
  handler: HandlerType;
  fieldPath: string;
  periodSeconds: number;
} & (
  | { mode: 'run'; probe: ResolvedProbe; target: ProbeTarget; address: string; display: string }
  | { mode: 'fixed'; status: ConditionStatus; reason: string; message: string }
);

export interface DesiredContext {
  addressPolicy: AddressPolicy;
  /** Guest probes enabled (--guest-probes); absent → exec/guestAgentPing are UnsupportedProbe. */
  guestProbes?: GuestProbeConfig;
}

/** A VMI this agent probes: it runs here (status.nodeName — the label alone may lag) and is Running. */
export function isProbedHere(vmi: VmiObject, nodeName: string): boolean {
  return (
    vmi.status?.nodeName === nodeName && vmi.status?.phase === 'Running' && !vmi.metadata?.deletionTimestamp
  );
}

/** Paused (condition Paused=True) or migrating (migrationState started, not ended): liveness holds. */
export function livenessSuspension(vmi: VmiObject): 'paused' | 'migrating' | undefined {
  const conds = Array.isArray(vmi.status?.conditions) ? vmi.status.conditions : [];
  if (conds.some((c) => c?.type === 'Paused' && c.status === 'True')) return 'paused';
  const m = vmi.status?.migrationState;
  if (m?.startTimestamp && !m.endTimestamp && !m.completed && !m.failed) return 'migrating';
  return undefined;
}

/** Why guest probes (exec, guestAgentPing) of this VMI must not run now, of any kind: the guest
 *  agent is unreachable by design while the VMI is paused or migrating (KubeVirt's launcher
 *  suppresses those errors too), and KubeVirt's kubevirt.io/pause-guest-agent-probes annotation
 *  asks for them to stop (KubeVirt short-circuits GuestPing to success; vmprobe holds exec too,
 *  since it needs the same agent). */
export function guestProbeSuspension(vmi: VmiObject): string | undefined {
  const s = livenessSuspension(vmi);
  if (s) return `VMI ${s}`;
  if (guestAgentProbesPaused(vmi)) return `annotation ${ANNOTATION_PAUSE_GUEST_AGENT_PROBES} is set`;
  return undefined;
}

export function isGuestHandler(h: HandlerType): boolean {
  return h === 'exec' || h === 'guestAgentPing';
}

/** Epoch ms of the VMI's Running transition, when it says. */
export function runningSince(vmi: VmiObject): number | undefined {
  const list = vmi.status?.phaseTransitionTimestamps;
  if (!Array.isArray(list)) return undefined;
  let latest: number | undefined;
  for (const t of list) {
    if (t?.phase !== 'Running' || t.phaseTransitionTimestamp === undefined) continue;
    const ms = new Date(t.phaseTransitionTimestamp).getTime();
    if (Number.isFinite(ms) && (latest === undefined || ms > latest)) latest = ms;
  }
  return latest;
}

function handlerOfRaw(raw: unknown): HandlerType {
  if (typeof raw === 'object' && raw !== null) {
    const r = raw as Record<string, unknown>;
    if (r.httpGet !== undefined) return 'http';
    if (r.tcpSocket !== undefined) return 'tcp';
    if (r.icmp !== undefined) return 'icmp';
    if (r.exec !== undefined) return 'exec';
    if (r.guestAgentPing !== undefined) return 'guestAgentPing';
  }
  return 'tcp';
}

/** Desired probe per kind the VMI defines (kinds it does not define are absent). */
export function desiredProbes(
  vmi: VmiObject,
  launcherPods: readonly PodObject[],
  ctx: DesiredContext,
): Map<ProbeKind, DesiredProbe> {
  const out = new Map<ProbeKind, DesiredProbe>();
  const raw = probesOfVmi(vmi);
  for (const [kind, p] of Object.entries(resolveVmiProbes(vmi)) as [
    ProbeKind,
    NonNullable<ReturnType<typeof resolveVmiProbes>[ProbeKind]>,
  ][]) {
    if (!p.ok) {
      const src = raw[kind];
      out.set(kind, {
        kind,
        handler: handlerOfRaw(src && 'probe' in src ? src.probe : undefined),
        fieldPath: p.fieldPath,
        periodSeconds: 0,
        mode: 'fixed',
        status: 'Unknown',
        reason: REASON.InvalidProbe,
        message: p.problems.map((x) => `${x.path}: ${x.message}`).join('; '),
      });
      continue;
    }
    const probe = p.probe;
    const handler = probe.handler.type;
    const base = { kind, handler, fieldPath: p.fieldPath, periodSeconds: probe.periodSeconds };
    const t = resolveTarget(probe, vmi, {
      launcherPods,
      addressPolicy: ctx.addressPolicy,
      fieldPath: p.fieldPath,
      ...(ctx.guestProbes ? { guestProbes: ctx.guestProbes } : {}),
    });
    if (!t.ok) {
      out.set(kind, { ...base, mode: 'fixed', status: 'Unknown', reason: t.reason, message: t.message });
      continue;
    }
    out.set(kind, { ...base, mode: 'run', probe, target: t.target, address: t.address, display: t.display });
  }
  return out;
}
