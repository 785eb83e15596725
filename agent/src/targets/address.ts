// Which address of a VMI a probe reaches (design §4), as pure functions of the VMI and its launcher
// pods:
//   1. `vmprobe.io/probe-network: <net>` → that network's interface address in status.interfaces;
//   2. else the launcher pod's IP (a Running, non-deleting pod labelled kubevirt.io/created-by=<uid>,
//      the one on this node first — during a migration there are two);
//   3. else the status.interfaces address of the pod network (spec.networks entry with `pod`,
//      default name "default").
// `vmprobe.io/ip-family: IPv4|IPv6` filters every step by family. The chosen address is then vetted
// (`vetAddress`, rules in policy.ts): the agent runs on the host network and a VM owner must not aim
// it at node-local services — an interface address (reported by the guest) or an explicit probe
// `host` is used only when it is the launcher pod's IP or inside --allow-probe-cidr, and loopback,
// link-local, unspecified, multicast and node addresses are never probed.
import { isIP } from 'node:net';
import { ANNOTATION_IP_FAMILY, ANNOTATION_PROBE_NETWORK, LABEL_CREATED_BY } from '@vmprobe/shared';
import type { PodObject, VmiObject } from '../model/objects.js';
import type { AddressPolicy } from './policy.js';

export type IpFamily = 4 | 6;

export type AddressChoice =
  | { ok: true; address: string; source: 'pod' | 'host' }
  | { ok: true; address: string; source: 'interface'; network: string }
  | { ok: false; reason: 'InvalidProbe' | 'NoTargetAddress'; message: string };

/** Strips a "/prefix" and IPv6 brackets; returns undefined unless the rest is an IP literal. */
export function normalizeIp(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  let s = value.trim();
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  return isIP(s) === 0 ? undefined : s.toLowerCase();
}

function familyOf(ip: string): IpFamily {
  return isIP(ip) === 6 ? 6 : 4;
}

/** The family asked for by `vmprobe.io/ip-family`; undefined when absent; an error when invalid. */
export function requestedFamily(
  vmi: VmiObject,
): { ok: true; family?: IpFamily } | { ok: false; message: string } {
  const raw = vmi.metadata?.annotations?.[ANNOTATION_IP_FAMILY];
  if (raw === undefined) return { ok: true };
  const v = String(raw).trim().toLowerCase();
  if (v === 'ipv4') return { ok: true, family: 4 };
  if (v === 'ipv6') return { ok: true, family: 6 };
  return {
    ok: false,
    message: `metadata.annotations[${ANNOTATION_IP_FAMILY}]: must be "IPv4" or "IPv6", not ${JSON.stringify(raw)}`,
  };
}

function pickFamily(
  candidates: readonly (string | undefined)[],
  family: IpFamily | undefined,
): string | undefined {
  for (const c of candidates) {
    if (c === undefined) continue;
    if (family === undefined || familyOf(c) === family) return c;
  }
  return undefined;
}

function podAddresses(pod: PodObject): string[] {
  const out: string[] = [];
  const primary = normalizeIp(pod.status?.podIP);
  if (primary) out.push(primary);
  for (const p of pod.status?.podIPs ?? []) {
    const ip = normalizeIp(p?.ip);
    if (ip && !out.includes(ip)) out.push(ip);
  }
  return out;
}

function interfaceAddresses(iface: { ipAddress?: string; ipAddresses?: string[] }): string[] {
  const out: string[] = [];
  const primary = normalizeIp(iface.ipAddress);
  if (primary) out.push(primary);
  for (const a of Array.isArray(iface.ipAddresses) ? iface.ipAddresses : []) {
    const ip = normalizeIp(a);
    if (ip && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** Launcher pods of the VMI that are Running and not being deleted, the one on `nodeName` first. */
export function launcherPodsOf(vmi: VmiObject, pods: Iterable<PodObject>, nodeName?: string): PodObject[] {
  const uid = vmi.metadata?.uid;
  if (!uid) return [];
  const mine: PodObject[] = [];
  for (const p of pods) {
    if (p.metadata?.labels?.[LABEL_CREATED_BY] !== uid) continue;
    if (p.metadata?.namespace !== vmi.metadata?.namespace) continue;
    mine.push(p);
  }
  const rank = (p: PodObject) => (nodeName !== undefined && p.spec?.nodeName === nodeName ? 0 : 1);
  return mine.sort(
    (a, b) => rank(a) - rank(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
}

function isProbeablePod(p: PodObject): boolean {
  return p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;
}

/** Name of the VMI's pod network (the spec.networks entry with `pod`), "default" when unspecified. */
export function podNetworkName(vmi: VmiObject): string {
  const nets = vmi.spec?.networks;
  if (!Array.isArray(nets)) return 'default';
  const pod = nets.find((n) => n && typeof n === 'object' && n.pod !== undefined && n.pod !== null);
  return pod?.name ?? 'default';
}

function interfaceOfNetwork(vmi: VmiObject, network: string) {
  const ifaces = vmi.status?.interfaces;
  if (!Array.isArray(ifaces)) return undefined;
  return ifaces.find((i) => i && i.name === network);
}

/** Every address the VMI owns: its interfaces' and its launcher pods'. */
export function ownAddresses(vmi: VmiObject, launcherPods: readonly PodObject[]): Set<string> {
  const out = new Set<string>();
  for (const i of Array.isArray(vmi.status?.interfaces) ? vmi.status.interfaces : []) {
    if (i) for (const a of interfaceAddresses(i)) out.add(a);
  }
  for (const p of launcherPods) for (const a of podAddresses(p)) out.add(a);
  return out;
}

/** The VMI's address to probe when the probe names no host. */
export function chooseVmiAddress(vmi: VmiObject, launcherPods: readonly PodObject[]): AddressChoice {
  const fam = requestedFamily(vmi);
  if (!fam.ok) return { ok: false, reason: 'InvalidProbe', message: fam.message };
  const familyText = fam.family ? ` (IPv${fam.family})` : '';
  const network = vmi.metadata?.annotations?.[ANNOTATION_PROBE_NETWORK];
  const podNet = podNetworkName(vmi);
  if (network !== undefined && network !== podNet) {
    const declared = Array.isArray(vmi.spec?.networks) && vmi.spec.networks.some((n) => n?.name === network);
    if (!declared) {
      return {
        ok: false,
        reason: 'InvalidProbe',
        message: `metadata.annotations[${ANNOTATION_PROBE_NETWORK}]: network ${JSON.stringify(network)} is not in spec.networks`,
      };
    }
    const iface = interfaceOfNetwork(vmi, network);
    const ip = iface ? pickFamily(interfaceAddresses(iface), fam.family) : undefined;
    if (ip) return { ok: true, address: ip, source: 'interface', network };
    return {
      ok: false,
      reason: 'NoTargetAddress',
      message: `no address${familyText} on network ${network} yet`,
    };
  }
  for (const p of launcherPods) {
    if (!isProbeablePod(p)) continue;
    const ip = pickFamily(podAddresses(p), fam.family);
    if (ip) return { ok: true, address: ip, source: 'pod' };
  }
  const iface = interfaceOfNetwork(vmi, podNet);
  const ip = iface ? pickFamily(interfaceAddresses(iface), fam.family) : undefined;
  if (ip) return { ok: true, address: ip, source: 'interface', network: podNet };
  return {
    ok: false,
    reason: 'NoTargetAddress',
    message: `no launcher pod IP and no address${familyText} on pod network ${podNet} yet`,
  };
}

/** The launcher pods' IPs: the only addresses the cluster (not the guest) vouches for. */
export function launcherPodAddresses(launcherPods: readonly PodObject[]): Set<string> {
  const out = new Set<string>();
  for (const p of launcherPods) for (const a of podAddresses(p)) out.add(a);
  return out;
}

/**
 * An explicit probe host: an IP literal that passes vetAddress — the launcher pod's IP or inside
 * --allow-probe-cidr (one of the VMI's status.interfaces addresses is not enough: the guest reports
 * those), and of no never-probed class.
 */
export function checkExplicitHost(
  host: string,
  vmiUid: string | undefined,
  launcherPods: readonly PodObject[],
  policy: AddressPolicy,
  fieldPath: string,
): AddressChoice {
  const ip = normalizeIp(host);
  if (ip === undefined || host.includes('/')) {
    return {
      ok: false,
      reason: 'InvalidProbe',
      message: `${fieldPath}: ${JSON.stringify(host)} must be an IP address (names are not resolved by the node agent)`,
    };
  }
  const choice: AddressChoice = { ok: true, address: ip, source: 'host' };
  return vetAddress(choice, vmiUid, launcherPods, policy, fieldPath.replace(/\.host$/, ''));
}

/**
 * The last word on a chosen address: an interface address (guest-reported) must be the launcher
 * pod's IP or inside --allow-probe-cidr; no address of a never-probed class or of the node, whatever
 * its source. A refusal is InvalidProbe with the reason; the address is then never contacted.
 * The launcher pod IPs that vouch come from `policy.vouchedIps` (the current pods', or the last
 * ones seen for this VMI while its pod has just vanished).
 */
export function vetAddress(
  choice: AddressChoice,
  vmiUid: string | undefined,
  launcherPods: readonly PodObject[],
  policy: AddressPolicy,
  fieldPath: string,
): AddressChoice {
  if (!choice.ok) return choice;
  const ip = choice.address;
  const from =
    choice.source === 'interface'
      ? `status.interfaces, network ${choice.network}, reported by the guest`
      : choice.source === 'pod'
        ? "the launcher pod's IP"
        : `${fieldPath}.host`;
  const why = policy.refusal(ip);
  if (why !== undefined) {
    return {
      ok: false,
      reason: 'InvalidProbe',
      message: `${ip} (${from}) is ${why}; the node agent never probes loopback, link-local, unspecified, multicast or node addresses`,
    };
  }
  const vouched = policy.vouchedIps(vmiUid, launcherPodAddresses(launcherPods));
  if (choice.source !== 'pod' && !vouched.has(ip) && !policy.allowed(ip)) {
    return {
      ok: false,
      reason: 'InvalidProbe',
      message: `${ip} (${from}) is neither the launcher pod's IP nor inside --allow-probe-cidr; not probed`,
    };
  }
  return choice;
}

/** "10.0.0.5" or "[fd00::5]": how an address is shown in reports and URLs. */
export function displayAddress(ip: string): string {
  return isIP(ip) === 6 ? `[${ip}]` : ip;
}
