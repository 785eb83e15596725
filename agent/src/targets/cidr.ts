// `--allow-probe-cidr` parsing and membership, IPv4 and IPv6, on node:net's BlockList.
import { BlockList, isIP } from 'node:net';

/** A CIDR that does not parse; `code` is stable. */
export class InvalidCidrError extends Error {
  override readonly name = 'InvalidCidrError';
  readonly code = 'ERR_INVALID_CIDR';
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses "10.0.0.0/8" or "fd00::/64"; throws InvalidCidrError with the reason. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new InvalidCidrError(`${JSON.stringify(text)}: not a CIDR (expected ADDRESS/PREFIX)`);
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const version = isIP(address);
  if (version === 0)
    throw new InvalidCidrError(`${JSON.stringify(text)}: ${JSON.stringify(address)} is not an IP address`);
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    throw new InvalidCidrError(`${JSON.stringify(text)}: prefix must be an integer from 0 to ${max}`);
  }
  return { address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Addresses a probe's explicit `host` may name besides the VMI's own. Immutable after construction. */
export class CidrAllowList {
  private readonly list = new BlockList();
  readonly cidrs: readonly Cidr[];

  /** Throws InvalidCidrError on the first bad entry. */
  constructor(cidrs: readonly string[] = []) {
    this.cidrs = cidrs.map(parseCidr);
    for (const c of this.cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
  }

  contains(ip: string): boolean {
    const version = isIP(ip);
    if (version === 0 || this.cidrs.length === 0) return false;
    return this.list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  }
}
