import { existsSync } from 'node:fs';
import { AddressPool } from './address-pool.js';
import { onProcessExit, sweepInstanceSync, sweepOrphansSync } from './cleanup.js';
import { netnsAllowAll, netnsDropAll } from './firewall.js';
import { type InstanceNames, instanceNames } from './names.js';
import { run, runSync } from './run.js';
import { claimSlot, type InstanceRecord, releaseSlot } from './state.js';
import { vmTlsMaterial } from './tls.js';
import type { SimVm, VmOptions, VmSimulator } from './types.js';
import { type Blackholer, type BlackholeVia, Vm } from './vm.js';
import { VmChild } from './vm-child.js';
import { VmTable } from './vm-table.js';

/** 198.18.0.0/15 (RFC 2544 benchmarking) split into 32 /20 "pod networks", one per instance. */
const SLOTS = 32;
const HOSTS_PER_SLOT = 4096 - 3; // minus network, bridge (.1) and broadcast

function ipv4(slot: number, host: number): string {
  const n = (198 << 24) + (18 << 16) + slot * 4096 + host;
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface NsVm {
  vm: Vm;
  child: VmChild;
  index: number;
  ns: string;
  veth: string;
}

/**
 * netns mode (root): a bridge with the instance's /20 (and a ULA /64) in the root namespace; each VM
 * a namespace with a veth pair (host end on the bridge, `eth0` inside), its address, a default
 * route, and its own node process holding its servers. Blackhole is a drop-all nft/iptables table
 * inside the VM's namespace, or its host-side veth set down. stop() (and, best effort, process
 * exit or a signal) removes the processes, namespaces, veths and the bridge; a later start sweeps
 * whatever a killed run left behind.
 */
export class NetnsSimulator implements VmSimulator {
  get instanceId(): string {
    return this.rec.inst;
  }

  readonly mode = 'netns' as const;
  private readonly names: InstanceNames;
  private readonly vms: VmTable<NsVm>;
  private counter = 0;
  private stopped = false;
  private unregisterExit: () => void = () => {};
  private ip6Prefix: string | null = null;

  private constructor(private readonly rec: InstanceRecord) {
    this.names = instanceNames(rec.inst);
    this.vms = new VmTable(new AddressPool(HOSTS_PER_SLOT, (i) => ipv4(rec.slot, i + 2)));
  }

  get bridgeName(): string {
    return this.names.bridge;
  }

  get bridgeIp(): string {
    return ipv4(this.rec.slot, 1);
  }

  static async start(): Promise<NetnsSimulator> {
    sweepOrphansSync();
    const rec = claimSlot('netns', SLOTS, (stale) => sweepInstanceSync(stale.inst));
    const sim = new NetnsSimulator(rec);
    sim.unregisterExit = onProcessExit(() => sim.removeAllSync());
    try {
      await sim.createBridge();
    } catch (err) {
      sim.removeAllSync();
      sim.unregisterExit();
      throw err;
    }
    return sim;
  }

  private async createBridge(): Promise<void> {
    const br = this.names.bridge;
    await run('ip', ['link', 'add', 'name', br, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await run('ip', ['addr', 'add', `${this.bridgeIp}/20`, 'dev', br]);
    if (existsSync('/proc/sys/net/ipv6')) {
      const prefix = this.rec.slot === 0 ? 'fd00:18::' : `fd00:18:0:${this.rec.slot.toString(16)}::`;
      try {
        await run('ip', ['-6', 'addr', 'add', `${prefix}1/64`, 'dev', br, 'nodad']);
        this.ip6Prefix = prefix;
      } catch {
        this.ip6Prefix = null; // IPv6 disabled on this host: VMs get IPv4 only
      }
    }
    await run('ip', ['link', 'set', br, 'up']);
  }

  async createVm(id: string, opts: VmOptions = {}): Promise<SimVm> {
    const { ports, behaviour } = this.vms.checkNew(id, opts, this.stopped);
    const n = this.counter++;
    const ns = this.names.netns(n);
    const veth = this.names.hostVeth(n);
    const { index, address } = this.vms.pool.take();
    const ip6 = this.ip6Prefix ? `${this.ip6Prefix}${(index + 2).toString(16)}` : undefined;
    const child = new VmChild(ns, id);
    const vm = new Vm(id, address, ip6, child, this.blackholer(ns, veth, address, ip6));
    const entry: NsVm = { vm, child, index, ns, veth };
    this.vms.set(id, entry);
    try {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['link', 'set', veth, 'master', this.names.bridge, 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${address}/20`, 'dev', 'eth0']);
      if (ip6) await run('ip', ['-n', ns, '-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', this.bridgeIp]);
      await child.start(
        ports,
        [ip6 ? '::' : '0.0.0.0'],
        ports.httpsPorts.length > 0 ? vmTlsMaterial() : undefined,
      );
      if (behaviour.kind !== 'healthy') await vm.setBehaviour(behaviour);
    } catch (err) {
      await this.destroyVm(id).catch(() => {});
      throw err;
    }
    return vm;
  }

  vm(id: string): SimVm | undefined {
    return this.vms.vm(id);
  }

  async destroyVm(id: string): Promise<void> {
    await this.vms.remove(id, async (entry) => {
      try {
        await entry.vm.destroy().catch(() => {});
        await entry.child.stop();
      } finally {
        // Deleting the namespace (its last process gone) deletes eth0 and with it the host veth.
        await run('ip', ['netns', 'del', entry.ns]).catch(() => {});
        await run('ip', ['link', 'del', entry.veth]).catch(() => {});
      }
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled(this.vms.ids().map((id) => this.destroyVm(id)));
    await run('ip', ['link', 'del', this.names.bridge]).catch(() => {});
    this.removeAllSync(); // anything the async path could not remove
    this.unregisterExit();
  }

  /** Synchronous, idempotent removal of everything this instance created. */
  private removeAllSync(): void {
    for (const e of this.vms.values()) e.child.killSync();
    sweepInstanceSync(this.rec.inst);
    releaseSlot(this.rec);
  }

  private blackholer(ns: string, veth: string, ip: string, ip6: string | undefined): Blackholer {
    return {
      check: () => {},
      block: async (via: BlackholeVia) => {
        if (via === 'link-down') await run('ip', ['link', 'set', veth, 'down']);
        else await netnsDropAll(ns);
      },
      unblock: async (via: BlackholeVia) => {
        if (via !== 'link-down') return netnsAllowAll(ns);
        await run('ip', ['link', 'set', veth, 'up']);
        // Neighbour resolution failed while the link was down; a FAILED entry would answer the
        // next connects with EHOSTUNREACH until it ages out, so forget it now.
        await run('ip', ['neigh', 'flush', 'to', ip]).catch(() => {});
        if (ip6) await run('ip', ['-6', 'neigh', 'flush', 'to', ip6]).catch(() => {});
      },
    };
  }
}

/** For tests and tooling: is any kernel object of this instance id left? */
export function instanceLeftovers(inst: string): string[] {
  const ns = (runSync('ip', ['netns', 'list']) ?? '').split('\n').filter((l) => l.includes(`vmp-${inst}-`));
  const links = (runSync('ip', ['-o', 'link', 'show']) ?? '')
    .split('\n')
    .filter((l) => l.includes(`vmpbr${inst}`) || l.includes(`vmph${inst}`));
  return [...ns, ...links];
}
