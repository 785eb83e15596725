import { VmSimError } from './errors.js';

/**
 * Hands out `size` addresses in order; freed ones go to the back of a queue and are reused only
 * once the fresh ones run out, so a just-destroyed VM's address is not immediately somebody else's.
 */
export class AddressPool {
  private next = 0;
  private readonly freed: number[] = [];
  private readonly inUse = new Set<number>();

  constructor(
    private readonly size: number,
    private readonly format: (index: number) => string,
  ) {}

  /** Index and formatted address of a free slot; ERR_ADDRESSES_EXHAUSTED when none is left. */
  take(): { index: number; address: string } {
    let index: number | undefined;
    if (this.next < this.size) index = this.next++;
    else index = this.freed.shift();
    if (index === undefined)
      throw new VmSimError('ERR_ADDRESSES_EXHAUSTED', `all ${this.size} addresses are in use`);
    this.inUse.add(index);
    return { index, address: this.format(index) };
  }

  /** Return an index. Idempotent. */
  release(index: number): void {
    if (this.inUse.delete(index)) this.freed.push(index);
  }
}
