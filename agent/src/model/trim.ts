// Trimming: a whole VMI or launcher pod, as a list or a watch event delivers it, down to the fields
// the agent reads (the shapes in ./objects.ts). The watchers call these once per object on arrival,
// before anything caches it, so the full object (managedFields, volumes, containers, container
// statuses, unread conditions with their timestamps and messages…) is garbage at once: a trimmed
// VMI or pod is a few hundred bytes instead of several KB.
//
// Pure and total: any input (a client-node model instance with Dates, raw JSON, junk) gives a
// fresh plain object with `metadata` always present (client-node's ListWatch keys its cache by
// metadata.namespace/name and compares metadata.resourceVersion); Dates become RFC 3339 strings
// at second precision, as metav1.Time serialises. Nothing is copied that is not kept: the kept
// values (strings, the probe specs) are the arrived objects' own.
import { LABEL_CREATED_BY, POD_READINESS_CONDITION, VMPROBE_GROUP } from '@vmprobe/shared';
import {
  ANNOTATION_PAUSE_GUEST_AGENT_PROBES,
  type ObjectMeta,
  type PodCondition,
  type PodObject,
  type VmiCondition,
  type VmiInterfaceStatus,
  type VmiNetwork,
  type VmiObject,
  type VmiPortSpec,
} from './objects.js';

type Rec = Record<string, unknown>;

/** The VMI condition types the agent reads (Paused: liveness suspension; Ready: migration start). */
export const VMI_CONDITION_TYPES_KEPT: ReadonlySet<string> = new Set(['Paused', 'Ready']);

/** Whether a VMI annotation is kept: vmprobe's own (probes, probe network, IP family) and KubeVirt's
 *  pause-guest-agent-probes. */
export function isKeptVmiAnnotation(key: string): boolean {
  return key.startsWith(`${VMPROBE_GROUP}/`) || key === ANNOTATION_PAUSE_GUEST_AGENT_PROBES;
}

function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A metav1.Time as the API serialises it: a listed object's Date → RFC 3339 at seconds. */
export function timeString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Date && Number.isFinite(v.getTime())) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return undefined;
}

/** `list` with `item` added; a list is allocated only for a first item. */
function append<T>(list: T[] | undefined, item: T): T[] {
  if (!list) return [item];
  list.push(item);
  return list;
}

/** A copy at its exact length: a list grown by push() keeps V8's spare capacity (17 slots after
 *  the first push, ~120 bytes), which a cached object would carry for its whole life. */
function exact<T>(list: T[] | undefined): T[] | undefined {
  return list && list.length > 0 ? list.slice() : list;
}

/** Sets `out[key] = value` only when value is defined (no `key: undefined` members). */
function put<T extends object, K extends keyof T>(out: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) out[key] = value;
}

function trimMeta(raw: unknown, keep: { label?: string; annotations?: boolean }): ObjectMeta {
  const m = rec(raw);
  const out: ObjectMeta = {};
  if (!m) return out;
  put(out, 'name', str(m.name));
  put(out, 'namespace', str(m.namespace));
  put(out, 'uid', str(m.uid));
  put(out, 'resourceVersion', str(m.resourceVersion));
  put(out, 'deletionTimestamp', timeString(m.deletionTimestamp));
  const labels = rec(m.labels);
  if (keep.label && labels && typeof labels[keep.label] === 'string')
    out.labels = { [keep.label]: labels[keep.label] as string };
  const annotations = rec(m.annotations);
  if (keep.annotations && annotations) {
    let kept: Record<string, string> | undefined;
    for (const key of Object.keys(annotations)) {
      if (!isKeptVmiAnnotation(key)) continue;
      kept ??= {};
      // Kept as given, even a non-string: the probe parser reports a bad annotation by its value.
      kept[key] = annotations[key] as string;
    }
    if (kept) out.annotations = kept;
  }
  return out;
}

/** spec.domain.devices.interfaces, only the named ports (what a probe's named `port` resolves to). */
function trimDeviceInterfaces(raw: unknown): { name?: string; ports?: VmiPortSpec[] }[] | undefined {
  let out: { name?: string; ports?: VmiPortSpec[] }[] | undefined;
  for (const i of arr(raw)) {
    const iface = rec(i);
    if (!iface) continue;
    let ports: VmiPortSpec[] | undefined;
    for (const p of arr(iface.ports)) {
      const port = rec(p);
      if (!port || typeof port.name !== 'string') continue;
      const kept: VmiPortSpec = { name: port.name };
      if (typeof port.port === 'number') kept.port = port.port;
      ports = append(ports, kept);
    }
    if (!ports) continue;
    const kept: { name?: string; ports?: VmiPortSpec[] } = { ports: exact(ports) };
    put(kept, 'name', str(iface.name));
    out = append(out, kept);
  }
  return exact(out);
}

const POD_NETWORK: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

function trimNetworks(raw: unknown): VmiNetwork[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: VmiNetwork[] = [];
  for (const n of raw) {
    const net = rec(n);
    if (!net) continue;
    const kept: VmiNetwork = {};
    put(kept, 'name', str(net.name));
    if (net.pod !== undefined && net.pod !== null) kept.pod = POD_NETWORK;
    out.push(kept);
  }
  return exact(out) ?? out;
}

function trimVmiInterfaces(raw: unknown): VmiInterfaceStatus[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: VmiInterfaceStatus[] = [];
  for (const i of raw) {
    const iface = rec(i);
    if (!iface) continue;
    const kept: VmiInterfaceStatus = {};
    put(kept, 'name', str(iface.name));
    put(kept, 'ipAddress', str(iface.ipAddress));
    if (Array.isArray(iface.ipAddresses))
      kept.ipAddresses = exact(iface.ipAddresses.filter((a) => typeof a === 'string'));
    out.push(kept);
  }
  return exact(out) ?? out;
}

function trimVmiConditions(raw: unknown): VmiCondition[] | undefined {
  let out: VmiCondition[] | undefined;
  for (const c of arr(raw)) {
    const cond = rec(c);
    if (!cond || typeof cond.type !== 'string' || !VMI_CONDITION_TYPES_KEPT.has(cond.type)) continue;
    const kept: VmiCondition = { type: cond.type };
    put(kept, 'status', str(cond.status));
    out = append(out, kept);
  }
  return exact(out);
}

function trimMigrationState(raw: unknown): NonNullable<VmiObject['status']>['migrationState'] {
  const m = rec(raw);
  if (!m) return undefined;
  const out: NonNullable<NonNullable<VmiObject['status']>['migrationState']> = {};
  put(out, 'startTimestamp', timeString(m.startTimestamp));
  put(out, 'endTimestamp', timeString(m.endTimestamp));
  if (typeof m.completed === 'boolean') out.completed = m.completed;
  if (typeof m.failed === 'boolean') out.failed = m.failed;
  put(out, 'targetNode', str(m.targetNode));
  return out;
}

/** The latest parseable Running transition, alone (the only entry runningSince can pick). */
function trimPhaseTransitions(
  raw: unknown,
): { phase: string; phaseTransitionTimestamp: string }[] | undefined {
  let latest: string | undefined;
  let latestMs = Number.NEGATIVE_INFINITY;
  for (const t of arr(raw)) {
    const e = rec(t);
    if (e?.phase !== 'Running') continue;
    const ts = timeString(e.phaseTransitionTimestamp);
    if (ts === undefined) continue;
    const ms = new Date(ts).getTime();
    if (Number.isFinite(ms) && ms > latestMs) {
      latestMs = ms;
      latest = ts;
    }
  }
  return latest === undefined ? undefined : [{ phase: 'Running', phaseTransitionTimestamp: latest }];
}

/** A VMI down to the fields the agent reads (objects.ts VmiObject). */
export function trimVmi(raw: unknown): VmiObject {
  const o = rec(raw);
  const out: VmiObject = { metadata: trimMeta(o?.metadata, { annotations: true }) };
  const spec = rec(o?.spec);
  if (spec) {
    const s: NonNullable<VmiObject['spec']> = {};
    const interfaces = trimDeviceInterfaces(rec(rec(spec.domain)?.devices)?.interfaces);
    if (interfaces) s.domain = { devices: { interfaces } };
    put(s, 'networks', trimNetworks(spec.networks));
    if (typeof spec.terminationGracePeriodSeconds === 'number')
      s.terminationGracePeriodSeconds = spec.terminationGracePeriodSeconds;
    if (spec.livenessProbe !== undefined && spec.livenessProbe !== null) s.livenessProbe = spec.livenessProbe;
    if (spec.readinessProbe !== undefined && spec.readinessProbe !== null)
      s.readinessProbe = spec.readinessProbe;
    out.spec = s;
  }
  const status = rec(o?.status);
  if (status) {
    const s: NonNullable<VmiObject['status']> = {};
    put(s, 'nodeName', str(status.nodeName));
    put(s, 'phase', str(status.phase));
    put(s, 'interfaces', trimVmiInterfaces(status.interfaces));
    put(s, 'conditions', trimVmiConditions(status.conditions));
    put(s, 'migrationState', trimMigrationState(status.migrationState));
    put(s, 'phaseTransitionTimestamps', trimPhaseTransitions(status.phaseTransitionTimestamps));
    out.status = s;
  }
  return out;
}

function trimPodConditions(raw: unknown): PodCondition[] | undefined {
  let out: PodCondition[] | undefined;
  for (const c of arr(raw)) {
    const cond = rec(c);
    if (!cond || cond.type !== POD_READINESS_CONDITION) continue;
    const kept: PodCondition = { type: POD_READINESS_CONDITION };
    put(kept, 'status', str(cond.status));
    put(kept, 'reason', str(cond.reason));
    put(kept, 'message', str(cond.message));
    put(kept, 'lastTransitionTime', timeString(cond.lastTransitionTime));
    out = append(out, kept);
  }
  return exact(out);
}

/** A launcher pod down to the fields the agent reads (objects.ts PodObject). */
export function trimPod(raw: unknown): PodObject {
  const o = rec(raw);
  const out: PodObject = { metadata: trimMeta(o?.metadata, { label: LABEL_CREATED_BY }) };
  const spec = rec(o?.spec);
  if (spec) {
    const s: NonNullable<PodObject['spec']> = {};
    put(s, 'nodeName', str(spec.nodeName));
    if (Array.isArray(spec.readinessGates)) {
      const gates: { conditionType: string }[] = [];
      for (const g of spec.readinessGates) {
        const t = str(rec(g)?.conditionType);
        if (t !== undefined) gates.push({ conditionType: t });
      }
      s.readinessGates = exact(gates) ?? gates;
    }
    out.spec = s;
  }
  const status = rec(o?.status);
  if (status) {
    const s: NonNullable<PodObject['status']> = {};
    put(s, 'phase', str(status.phase));
    put(s, 'podIP', str(status.podIP));
    if (Array.isArray(status.podIPs)) {
      const ips: { ip: string }[] = [];
      for (const p of status.podIPs) {
        const ip = str(rec(p)?.ip);
        if (ip !== undefined) ips.push({ ip });
      }
      s.podIPs = exact(ips) ?? ips;
    }
    put(s, 'conditions', trimPodConditions(status.conditions));
    out.status = s;
  }
  return out;
}
