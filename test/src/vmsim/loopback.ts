import { AddressPool } from './address-pool.js';
import { onProcessExit, sweepInstanceSync } from './cleanup.js';
import { VmSimError } from './errors.js';
import { LoopbackFirewall } from './firewall.js';
import { instanceNames } from './names.js';
import { claimSlot, type InstanceRecord, releaseSlot } from './state.js';
import { vmTlsMaterial } from './tls.js';
import type { SimVm, VmOptions, VmSimulator } from './types.js';
import { type Blackholer, Vm } from './vm.js';
import { VmServers } from './vm-servers.js';
import { VmTable } from './vm-table.js';

/** First second octet of the loopback slots: simulator k owns 127.(77+k).0.0/16. A test that claims
 *  slots in a private state dir (VMSIM_STATE_DIR) moves its range with VMSIM_LOOPBACK_FIRST_OCTET so
 *  it cannot collide with simulators of other test files claiming slots in the shared dir. */
const DEFAULT_FIRST_OCTET = 77;
function firstOctet(): number {
  const v = Number(process.env.VMSIM_LOOPBACK_FIRST_OCTET ?? DEFAULT_FIRST_OCTET);
  return Number.isInteger(v) && v > 0 && v + SLOTS <= 255 ? v : DEFAULT_FIRST_OCTET;
}
const SLOTS = 50;

/**
 * The smallest CIDR holding every loopback slot (127.64.0.0/10 by default). The agent never probes
 * loopback addresses; a test agent is given this range with `unsafeProbeCidrs`
 * (`--unsafe-probe-cidr`), which leaves 127.0.0.0/10 — 127.0.0.1 included — refused.
 */
export function loopbackVmCidr(): string {
  const lo = firstOctet();
  const hi = lo + SLOTS - 1;
  let bits = 0;
  while (bits < 8 && lo >> (7 - bits) === hi >> (7 - bits)) bits++;
  const base = bits === 0 ? 0 : (lo >> (8 - bits)) << (8 - bits);
  return `127.${base}.0.0/${8 + bits}`;
}
/** Per /16: third octet 0..255, fourth 1..254. */
const PER_SLOT = 256 * 254;

const isRootNow = () => process.getuid?.() === 0;

/**
 * Loopback mode: every VM is a 127.x.y.z address of this process's slot, with its servers in this
 * process. The kernel answers ICMP for all of 127.0.0.0/8. Blackhole (root) drops the address on
 * `lo` with nft/iptables.
 */
export class LoopbackSimulator implements VmSimulator {
  get instanceId(): string {
    return this.rec.inst;
  }

  readonly mode = 'loopback' as const;
  private readonly vms: VmTable<{ vm: Vm; index: number }>;
  private readonly firewall: LoopbackFirewall;
  private stopped = false;
  private readonly unregisterExit: () => void;

  private constructor(private readonly rec: InstanceRecord) {
    const second = firstOctet() + rec.slot;
    this.vms = new VmTable(
      new AddressPool(PER_SLOT, (i) => `127.${second}.${Math.floor(i / 254)}.${(i % 254) + 1}`),
    );
    const names = instanceNames(rec.inst);
    this.firewall = new LoopbackFirewall(names.nftTable, names.ruleComment);
    this.unregisterExit = onProcessExit(() => {
      this.firewall.removeAllSync();
      releaseSlot(this.rec);
    });
  }

  static start(): LoopbackSimulator {
    const rec = claimSlot('loopback', SLOTS, (stale) => {
      if (isRootNow()) sweepInstanceSync(stale.inst);
    });
    return new LoopbackSimulator(rec);
  }

  async createVm(id: string, opts: VmOptions = {}): Promise<SimVm> {
    const { ports, behaviour } = this.vms.checkNew(id, opts, this.stopped);
    if (behaviour.kind === 'blackhole') checkLoopbackBlackhole(behaviour.via ?? 'firewall');
    const { index, address } = this.vms.pool.take();
    const servers = new VmServers({
      ...ports,
      hosts: [address],
      tls: ports.httpsPorts.length > 0 ? vmTlsMaterial() : undefined,
    });
    const backend = {
      setBehaviour: servers.setBehaviour.bind(servers),
      stop: servers.stop.bind(servers),
      get requests() {
        return servers.requests;
      },
      requestCount: () => servers.requestCount(),
      flushRequests: async () => {},
    };
    const vm = new Vm(id, address, undefined, backend, this.blackholer(address));
    this.vms.set(id, { vm, index });
    try {
      await servers.setBehaviour({ kind: 'healthy' });
      if (behaviour.kind !== 'healthy') await vm.setBehaviour(behaviour);
    } catch (err) {
      await this.destroyVm(id);
      throw err;
    }
    return vm;
  }

  vm(id: string): SimVm | undefined {
    return this.vms.vm(id);
  }

  async destroyVm(id: string): Promise<void> {
    await this.vms.remove(id, (entry) => entry.vm.destroy());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const results = await Promise.allSettled(this.vms.ids().map((id) => this.destroyVm(id)));
    this.firewall.removeAllSync();
    releaseSlot(this.rec);
    this.unregisterExit();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private blackholer(ip: string): Blackholer {
    return {
      check: checkLoopbackBlackhole,
      block: () => this.firewall.drop(ip),
      unblock: () => this.firewall.undrop(ip),
    };
  }
}

function checkLoopbackBlackhole(via: 'firewall' | 'link-down'): void {
  if (via === 'link-down') {
    throw new VmSimError(
      'ERR_UNSUPPORTED_IN_MODE',
      'blackhole via link-down needs netns mode (lo cannot go down)',
    );
  }
  if (!isRootNow()) throw new VmSimError('ERR_NEEDS_ROOT', 'blackhole needs root (nft/iptables)');
}
