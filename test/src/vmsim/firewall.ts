import { VmSimError } from './errors.js';
import { run, runSync, which } from './run.js';

/**
 * Packet drops for blackholed VMs, with nft when installed, else iptables.
 * Loopback mode: one nft table per simulator instance in the root namespace, holding a set of
 * blackholed 127.x addresses dropped at the input hook (before conntrack), so a connect to the VM
 * times out and pings go unanswered. Netns mode: a drop-everything table inside the VM's own
 * namespace (input and output), removed to restore. Each rule carries the instance id.
 */
export type FirewallTool = 'nft' | 'iptables';

export function firewallTool(): FirewallTool | null {
  if (which('nft')) return 'nft';
  if (which('iptables')) return 'iptables';
  return null;
}

function needTool(): FirewallTool {
  const tool = firewallTool();
  if (!tool)
    throw new VmSimError('ERR_COMMAND_FAILED', 'blackhole needs nft or iptables; neither is installed');
  return tool;
}

/** Blackholes addresses on the loopback interface of the root namespace. */
export class LoopbackFirewall {
  private tool: FirewallTool | null = null;
  private tableReady = false;
  private readonly dropped = new Set<string>();

  constructor(
    private readonly table: string,
    private readonly comment: string,
  ) {}

  async drop(ip: string): Promise<void> {
    if (this.dropped.has(ip)) return;
    this.tool ??= needTool();
    if (this.tool === 'nft') {
      if (!this.tableReady) {
        await run(
          'nft',
          ['-f', '-'],
          `table ip ${this.table} {
  set blackholed { type ipv4_addr; }
  chain input { type filter hook input priority -300; policy accept; ip daddr @blackholed drop; }
}
`,
        );
        this.tableReady = true;
      }
      await run('nft', ['add', 'element', 'ip', this.table, 'blackholed', `{ ${ip} }`]);
    } else {
      await run('iptables', ['-w', '-I', 'INPUT', ...this.iptRule(ip)]);
    }
    this.dropped.add(ip);
  }

  async undrop(ip: string): Promise<void> {
    if (!this.dropped.has(ip)) return;
    this.dropped.delete(ip);
    if (this.tool === 'nft') {
      await run('nft', ['delete', 'element', 'ip', this.table, 'blackholed', `{ ${ip} }`]);
    } else {
      await run('iptables', ['-w', '-D', 'INPUT', ...this.iptRule(ip)]);
    }
  }

  /** Remove every rule of this instance. Idempotent; synchronous so exit handlers can use it. */
  removeAllSync(): void {
    if (this.tool === 'nft' && this.tableReady) runSync('nft', ['delete', 'table', 'ip', this.table]);
    if (this.tool === 'iptables')
      for (const ip of this.dropped) runSync('iptables', ['-w', '-D', 'INPUT', ...this.iptRule(ip)]);
    this.tableReady = false;
    this.dropped.clear();
  }

  private iptRule(ip: string): string[] {
    return ['-i', 'lo', '-d', `${ip}/32`, '-m', 'comment', '--comment', this.comment, '-j', 'DROP'];
  }
}

const NS_TABLE = 'vmpsim_blackhole';

/** Drop every packet in and out of a namespace. */
export async function netnsDropAll(ns: string): Promise<void> {
  const tool = needTool();
  if (tool === 'nft') {
    await run(
      'ip',
      ['netns', 'exec', ns, 'nft', '-f', '-'],
      `table inet ${NS_TABLE} {
  chain input { type filter hook input priority -300; policy drop; }
  chain output { type filter hook output priority -300; policy drop; }
}
`,
    );
  } else {
    for (const cmd of ['iptables', 'ip6tables']) {
      if (cmd === 'ip6tables' && !which(cmd)) continue;
      await run('ip', ['netns', 'exec', ns, cmd, '-w', '-I', 'INPUT', '-j', 'DROP']);
      await run('ip', ['netns', 'exec', ns, cmd, '-w', '-I', 'OUTPUT', '-j', 'DROP']);
    }
  }
}

/** Undo netnsDropAll. */
export async function netnsAllowAll(ns: string): Promise<void> {
  const tool = needTool();
  if (tool === 'nft') {
    await run('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', NS_TABLE]);
  } else {
    for (const cmd of ['iptables', 'ip6tables']) {
      if (cmd === 'ip6tables' && !which(cmd)) continue;
      await run('ip', ['netns', 'exec', ns, cmd, '-w', '-D', 'INPUT', '-j', 'DROP']);
      await run('ip', ['netns', 'exec', ns, cmd, '-w', '-D', 'OUTPUT', '-j', 'DROP']);
    }
  }
}
