// The full target of one resolved probe: address (address.ts) + port (named ports resolved against
// the VMI's spec.domain.devices.interfaces[].ports[]). Pure: same inputs, same answer, so the
// manager can compare targets to decide whether a worker must restart.
import { REASON, type ResolvedProbe } from '@vmprobe/shared';
import type { PodObject, VmiObject } from '../model/objects.js';
import type { ProbeTarget } from '../probers/types.js';
import { checkExplicitHost, chooseVmiAddress, displayAddress, vetAddress } from './address.js';
import { type GuestProbeConfig, resolveGuestTarget } from './guest.js';
import type { AddressPolicy } from './policy.js';

export {
  checkExplicitHost,
  chooseVmiAddress,
  displayAddress,
  launcherPodAddresses,
  launcherPodsOf,
  normalizeIp,
  ownAddresses,
  podNetworkName,
  requestedFamily,
  vetAddress,
} from './address.js';
export { CidrAllowList, InvalidCidrError, parseCidr } from './cidr.js';
export * from './guest.js';
export {
  type AddressPolicy,
  forbiddenClassOf,
  NodeAddresses,
  ProbeAddressPolicy,
  type ProbeAddressPolicyOptions,
  readHostAddresses,
  unmapIpv4,
} from './policy.js';

export type TargetChoice =
  | {
      ok: true;
      target: ProbeTarget;
      /** Address as reported in VMIProbeStatus ("10.0.0.5", "[fd00::5]"). */
      address: string;
      /** Address:port (address for icmp), as in /debug/probes. */
      display: string;
    }
  | { ok: false; reason: string; message: string };

export interface TargetContext {
  /** Launcher pods of this VMI, the one on this node first (launcherPodsOf). */
  launcherPods: readonly PodObject[];
  /** Which addresses may be probed (--allow-probe-cidr, never-probed classes, node addresses). */
  addressPolicy: AddressPolicy;
  /** Field path of the probe ("spec.livenessProbe", "metadata.annotations[...]"), for messages. */
  fieldPath: string;
  /** Present when guest probes (exec, guestAgentPing) are enabled (targets/guest.ts). */
  guestProbes?: GuestProbeConfig;
}

/** Resolves a named port against the VMI's interface ports; a number is returned unchanged. */
export function resolvePort(
  port: number | string,
  vmi: VmiObject,
  fieldPath: string,
): { ok: true; port: number } | { ok: false; message: string } {
  if (typeof port === 'number') return { ok: true, port };
  const ifaces = vmi.spec?.domain?.devices?.interfaces;
  for (const iface of Array.isArray(ifaces) ? ifaces : []) {
    for (const p of Array.isArray(iface?.ports) ? iface.ports : []) {
      if (p?.name === port && typeof p.port === 'number' && p.port >= 1 && p.port <= 65535) {
        return { ok: true, port: p.port };
      }
    }
  }
  return {
    ok: false,
    message: `${fieldPath}: named port ${JSON.stringify(port)} is not in spec.domain.devices.interfaces[].ports`,
  };
}

export function resolveTarget(probe: ResolvedProbe, vmi: VmiObject, ctx: TargetContext): TargetChoice {
  const h = probe.handler;
  if (h.type === 'exec' || h.type === 'guestAgentPing') {
    return resolveGuestTarget(h, vmi, ctx.launcherPods, ctx.guestProbes);
  }
  const handlerPath = `${ctx.fieldPath}.${h.type === 'http' ? 'httpGet' : h.type === 'tcp' ? 'tcpSocket' : 'icmp'}`;
  const chosen =
    h.type !== 'icmp' && h.host !== undefined
      ? checkExplicitHost(
          h.host,
          vmi.metadata?.uid,
          ctx.launcherPods,
          ctx.addressPolicy,
          `${handlerPath}.host`,
        )
      : chooseVmiAddress(vmi, ctx.launcherPods);
  const addr = vetAddress(chosen, vmi.metadata?.uid, ctx.launcherPods, ctx.addressPolicy, handlerPath);
  if (!addr.ok) return { ok: false, reason: REASON[addr.reason], message: addr.message };
  const address = displayAddress(addr.address);
  if (h.type === 'icmp')
    return { ok: true, target: { type: 'icmp', host: addr.address }, address, display: address };
  const port = resolvePort(h.port, vmi, `${handlerPath}.port`);
  if (!port.ok) return { ok: false, reason: REASON.InvalidProbe, message: port.message };
  const display = `${address}:${port.port}`;
  if (h.type === 'tcp')
    return { ok: true, target: { type: 'tcp', host: addr.address, port: port.port }, address, display };
  return {
    ok: true,
    target: {
      type: 'http',
      scheme: h.scheme === 'HTTPS' ? 'https' : 'http',
      host: addr.address,
      port: port.port,
      path: h.path,
      headers: h.headers,
    },
    address,
    display,
  };
}

/** Stable identity of a target: equal keys mean the worker need not restart. */
export function targetKey(t: ProbeTarget): string {
  return JSON.stringify(t);
}
