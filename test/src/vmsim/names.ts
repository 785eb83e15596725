/**
 * Every kernel object a simulator instance creates carries its instance id, so that a sweeper can
 * tell whose it is (Linux interface names are at most 15 characters).
 */
export const NETNS_PREFIX = 'vmp-';
export const BRIDGE_PREFIX = 'vmpbr';
export const VETH_PREFIX = 'vmph';
export const NFT_TABLE_PREFIX = 'vmpsim_';
export const RULE_COMMENT_PREFIX = 'vmpsim:';

export interface InstanceNames {
  bridge: string;
  netns(n: number): string;
  hostVeth(n: number): string;
  nftTable: string;
  ruleComment: string;
}

export function instanceNames(inst: string): InstanceNames {
  return {
    bridge: `${BRIDGE_PREFIX}${inst}`,
    netns: (n) => `${NETNS_PREFIX}${inst}-${n.toString(36)}`,
    hostVeth: (n) => `${VETH_PREFIX}${inst}${n.toString(36)}`,
    nftTable: `${NFT_TABLE_PREFIX}${inst}`,
    ruleComment: `${RULE_COMMENT_PREFIX}${inst}`,
  };
}

/** The instance id inside a name this module generated, or null for foreign names. */
export function instanceOf(name: string): string | null {
  const m =
    /^vmp-([0-9a-f]{5})-/.exec(name) ??
    /^vmpbr([0-9a-f]{5})$/.exec(name) ??
    /^vmph([0-9a-f]{5})[0-9a-z]+$/.exec(name) ??
    /^vmpsim_([0-9a-f]{5})$/.exec(name) ??
    /vmpsim:([0-9a-f]{5})/.exec(name);
  return m?.[1] ?? null;
}
