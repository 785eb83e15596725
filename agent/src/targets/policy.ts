// Which addresses the agent may send a probe to (design §7 "Addresses"). The agent runs on the
// host network, so a probe reaches whatever the node reaches; the addresses it is given come from
// people who must not steer it there: `status.interfaces` is written from the guest agent (the VM
// owner) and a probe's `host` is written by whoever may edit the VMI.
//
//  - never probed, whatever the source (launcher pod IP, guest-reported interface, explicit host):
//    loopback, link-local (incl. 169.254.169.254 cloud metadata), unspecified, multicast, IPv4
//    broadcast, and the node's own addresses (an IPv4-mapped IPv6 address counts as its IPv4 form);
//  - a guest-reported address (an interface address, or an explicit host that is not the launcher
//    pod's IP) is probed only when it is the launcher pod's IP or inside --allow-probe-cidr.
//
// A VMI whose launcher pod has just vanished (deleted; KubeVirt fails the VMI moments later) keeps
// the pod IPs it was last seen with as vouchers, so its probe keeps its target instead of flipping
// to InvalidProbe in that window (memory: the last IPs of at most MAX_REMEMBERED_VMIS VMI uids).
//
// `unsafeCidrs` (--unsafe-probe-cidr) exempts a range from the fixed classes above (never from the
// node's own addresses): it exists for test beds whose VMs live on loopback addresses and must not
// be set on a cluster. Immutable after construction except for the node-address cache and the
// remembered launcher IPs.
import { networkInterfaces } from 'node:os';
import { CidrAllowList } from './cidr.js';

/** What the target resolution asks about an address. */
export interface AddressPolicy {
  /** Inside --allow-probe-cidr: a guest-reported or explicit address may be probed. */
  allowed(ip: string): boolean;
  /** Why `ip` must never be probed (a sentence fragment), or undefined when it may be. */
  refusal(ip: string): string | undefined;
  /**
   * The launcher pod IPs that vouch for a VMI's guest-reported addresses: `current` (its launcher
   * pods' IPs now), or — while it has none, e.g. its pod was just deleted and KubeVirt has not yet
   * failed the VMI — the last non-empty set seen for this VMI uid.
   */
  vouchedIps(vmiUid: string | undefined, current: ReadonlySet<string>): ReadonlySet<string>;
}

const FIXED_CLASSES: readonly { cidr: string; what: string }[] = [
  { cidr: '127.0.0.0/8', what: 'a loopback address' },
  { cidr: '::1/128', what: 'a loopback address' },
  { cidr: '169.254.0.0/16', what: 'a link-local address (cloud metadata lives there)' },
  { cidr: 'fe80::/10', what: 'a link-local address' },
  { cidr: '0.0.0.0/8', what: 'an unspecified address' },
  { cidr: '::/128', what: 'an unspecified address' },
  { cidr: '224.0.0.0/4', what: 'a multicast address' },
  { cidr: 'ff00::/8', what: 'a multicast address' },
  { cidr: '255.255.255.255/32', what: 'the broadcast address' },
];

const FIXED_CLASS_LISTS = FIXED_CLASSES.map(({ cidr, what }) => ({ list: new CidrAllowList([cidr]), what }));

/** The fixed class `ip` belongs to ("a loopback address"), or undefined. */
export function forbiddenClassOf(ip: string): string | undefined {
  for (const c of FIXED_CLASS_LISTS) if (c.list.contains(ip)) return c.what;
  return undefined;
}

/** The IPv4 form of an IPv4-mapped IPv6 address ("::ffff:10.0.0.1", "::ffff:a00:1"), else `ip`. */
export function unmapIpv4(ip: string): string {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(ip);
  if (!m) return ip;
  if (m[1]) return m[1];
  const hi = Number.parseInt(m[2] as string, 16);
  const lo = Number.parseInt(m[3] as string, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Every address on the host's interfaces (the agent runs in the node's network namespace). */
export function readHostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address.replace(/%.*$/, '').toLowerCase());
  }
  return out;
}

/**
 * The node's own addresses, read from the host's interfaces at most every `ttlMs` (lazily, on a
 * lookup: no timer). Decision: the host's interfaces, not the Node object's status.addresses — they
 * hold every address the node answers on (secondary NICs, bridges, the CNI's gateway) and need no
 * API read or RBAC; an ExternalIP that is NAT'ed outside the node is not one of them, and the node
 * does not answer on it itself.
 */
export class NodeAddresses {
  private cache: Set<string> | undefined;
  private readAt = 0;

  constructor(
    private readonly read: () => Iterable<string> = readHostAddresses,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = 30_000,
  ) {}

  has(ip: string): boolean {
    const t = this.now();
    if (this.cache === undefined || t - this.readAt >= this.ttlMs) {
      const next = new Set<string>();
      for (const a of this.read()) next.add(unmapIpv4(a.toLowerCase()));
      this.cache = next;
      this.readAt = t;
    }
    return this.cache.has(ip);
  }
}

/** VMIs whose last launcher pod IPs are remembered (oldest forgotten first). */
export const MAX_REMEMBERED_VMIS = 4096;

export interface ProbeAddressPolicyOptions {
  /** --allow-probe-cidr: where guest-reported and explicit addresses may point. */
  allowCidrs?: readonly string[];
  /** --unsafe-probe-cidr: ranges exempt from the fixed never-probed classes (test beds only). */
  unsafeCidrs?: readonly string[];
  /** The node's own addresses; default: the host's interfaces (NodeAddresses). */
  nodeAddresses?: { has(ip: string): boolean };
}

/** The agent's AddressPolicy. The constructor throws InvalidCidrError for a bad CIDR. */
export class ProbeAddressPolicy implements AddressPolicy {
  private readonly allow: CidrAllowList;
  private readonly unsafe: CidrAllowList;
  private readonly node: { has(ip: string): boolean };
  private readonly lastLauncherIps = new Map<string, ReadonlySet<string>>();

  constructor(opts: ProbeAddressPolicyOptions = {}) {
    this.allow = new CidrAllowList(opts.allowCidrs ?? []);
    this.unsafe = new CidrAllowList(opts.unsafeCidrs ?? []);
    this.node = opts.nodeAddresses ?? new NodeAddresses();
  }

  allowed(ip: string): boolean {
    return this.allow.contains(ip) || this.allow.contains(unmapIpv4(ip));
  }

  vouchedIps(vmiUid: string | undefined, current: ReadonlySet<string>): ReadonlySet<string> {
    if (vmiUid === undefined) return current;
    if (current.size === 0) return this.lastLauncherIps.get(vmiUid) ?? current;
    this.lastLauncherIps.delete(vmiUid); // re-insert: most recent last
    this.lastLauncherIps.set(vmiUid, current);
    if (this.lastLauncherIps.size > MAX_REMEMBERED_VMIS) {
      this.lastLauncherIps.delete(this.lastLauncherIps.keys().next().value as string);
    }
    return current;
  }

  refusal(ip: string): string | undefined {
    const v4 = unmapIpv4(ip);
    const fixed = this.unsafe.contains(ip) || this.unsafe.contains(v4) ? undefined : forbiddenClassOf(v4);
    if (fixed !== undefined) return fixed;
    if (this.node.has(v4) || this.node.has(ip)) return "one of the node's own addresses";
    return undefined;
  }
}
