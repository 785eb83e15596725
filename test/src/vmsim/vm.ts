import { checkBehaviour } from './behaviour.js';
import { VmSimError } from './errors.js';
import type { RecordedRequest, SimVm, VmBehaviour } from './types.js';

/** What answers for a VM: its servers, in this process or in the VM's own process. */
export interface VmBackend {
  setBehaviour(b: VmBehaviour): Promise<void>;
  stop(): Promise<void>;
  readonly requests: ReadonlyArray<RecordedRequest>;
  requestCount(): number;
  flushRequests(): Promise<void>;
}

export type BlackholeVia = 'firewall' | 'link-down';

/** How a mode makes a VM unreachable. `check` throws (typed) before anything changes. */
export interface Blackholer {
  check(via: BlackholeVia): void;
  block(via: BlackholeVia): Promise<void>;
  unblock(via: BlackholeVia): Promise<void>;
}

/**
 * A simulated VM: validates and serialises behaviour changes, drives its backend and the mode's
 * blackhole mechanism. While blackholed the servers answer as healthy behind the drop, so lifting
 * the blackhole restores service at once.
 */
export class Vm implements SimVm {
  private current: VmBehaviour = { kind: 'healthy' };
  private destroyed = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly ip: string,
    readonly ip6: string | undefined,
    private readonly backend: VmBackend,
    private readonly blackholer: Blackholer,
  ) {}

  get behaviour(): VmBehaviour {
    return this.current;
  }

  get requests(): ReadonlyArray<RecordedRequest> {
    return this.backend.requests;
  }

  requestCount(): number {
    return this.backend.requestCount();
  }

  flushRequests(): Promise<void> {
    return this.destroyed ? Promise.resolve() : this.backend.flushRequests();
  }

  setBehaviour(b: VmBehaviour): Promise<void> {
    let next: VmBehaviour;
    try {
      next = checkBehaviour(b);
      if (next.kind === 'blackhole') this.blackholer.check(next.via ?? 'firewall');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialise(() => this.apply(next));
  }

  /** Stop the servers and lift any blackhole. Idempotent. */
  destroy(): Promise<void> {
    if (this.destroyed) return this.chain;
    this.destroyed = true;
    return this.serialise(async () => {
      const prev = this.current;
      try {
        if (prev.kind === 'blackhole') await this.blackholer.unblock(prev.via ?? 'firewall');
      } finally {
        await this.backend.stop();
      }
    });
  }

  private serialise(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async apply(next: VmBehaviour): Promise<void> {
    if (this.destroyed) throw new VmSimError('ERR_VM_DESTROYED', `VM ${this.id} is destroyed`);
    const prev = this.current;
    const prevVia = prev.kind === 'blackhole' ? (prev.via ?? 'firewall') : null;
    const nextVia = next.kind === 'blackhole' ? (next.via ?? 'firewall') : null;
    if (nextVia) {
      if (prevVia && prevVia !== nextVia) await this.blackholer.unblock(prevVia);
      await this.backend.setBehaviour(next);
      if (prevVia !== nextVia) await this.blackholer.block(nextVia);
    } else {
      await this.backend.setBehaviour(next);
      if (prevVia) await this.blackholer.unblock(prevVia);
    }
    this.current = next;
  }
}
