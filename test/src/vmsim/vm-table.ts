// The VMs of one simulator by id, and the address pool their addresses come from. Both modes keep
// their VMs here, so every createVm is checked the same way and a destroyed VM always gives its
// address back, whatever its teardown throws.
import type { AddressPool } from './address-pool.js';
import { checkBehaviour, checkPorts, type PortSet } from './behaviour.js';
import { VmSimError } from './errors.js';
import type { SimVm, VmBehaviour, VmOptions } from './types.js';

export function checkVmId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 253) {
    throw new VmSimError('ERR_BAD_OPTIONS', `invalid VM id ${JSON.stringify(id)}`);
  }
}

export class VmTable<E extends { vm: SimVm; index: number }> {
  private readonly entries = new Map<string, E>();

  constructor(readonly pool: AddressPool) {}

  /**
   * What every createVm checks first: the simulator is not stopped (ERR_SIMULATOR_STOPPED), the id is
   * valid and new (ERR_BAD_OPTIONS, ERR_VM_EXISTS), ports and behaviour are well-formed.
   */
  checkNew(id: string, opts: VmOptions, stopped: boolean): { ports: PortSet; behaviour: VmBehaviour } {
    if (stopped) throw new VmSimError('ERR_SIMULATOR_STOPPED', 'the VM simulator is stopped');
    checkVmId(id);
    if (this.entries.has(id)) throw new VmSimError('ERR_VM_EXISTS', `VM ${id} already exists`);
    return { ports: checkPorts(opts), behaviour: checkBehaviour(opts.behaviour ?? { kind: 'healthy' }) };
  }

  set(id: string, entry: E): void {
    this.entries.set(id, entry);
  }

  vm(id: string): SimVm | undefined {
    return this.entries.get(id)?.vm;
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  values(): IterableIterator<E> {
    return this.entries.values();
  }

  /** Takes the VM out of the table, runs `teardown`, then releases its address. Idempotent. */
  async remove(id: string, teardown: (entry: E) => Promise<void>): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    try {
      await teardown(entry);
    } finally {
      this.pool.release(entry.index);
    }
  }
}
