// The kill budget: pure decision logic (no timers, no I/O; time is passed in) that stops a node-wide
// fault from killing every VM at once.
//
// - Rate: at most `maxPerMinute` kills in any sliding 60 s window on this node.
// - Node-wide fault: when at least `nodeFaultMinProbed` VMIs are probed for liveness on the node and
//   at least `nodeFaultRatio` of them are failing — counting the ones failing now and the ones whose
//   failure began within the last `windowMs` (a VM already killed, or recovered, still counts for
//   that window) — the node's network is the likely culprit, not the VMs: no kill at all.
// A held-back kill is retried by the caller at `retryAtMs` while its probe still fails.
//
// The node-fault denominator is `countKillableVmis(manager.snapshot())`: VMIs whose liveness (or
// startup) probe is actually running — a paused or migrating VMI, liveness gated by startup, or a
// probe that cannot run (invalid, unsupported, no address) cannot fail, so counting it would dilute
// the ratio and let a node-wide fault kill VMs.
import type { ProbeSnapshot } from '../snapshot.js';

export interface KillBudgetOptions {
  maxPerMinute: number;
  nodeFaultMinProbed: number;
  nodeFaultRatio: number;
  windowMs: number;
  /** When a node-wide fault holds kills back, look again after this long. */
  recheckMs: number;
}

export const DEFAULT_KILL_BUDGET: KillBudgetOptions = {
  maxPerMinute: 3,
  nodeFaultMinProbed: 4,
  nodeFaultRatio: 0.5,
  windowMs: 60_000,
  recheckMs: 10_000,
};

export type KillDecision =
  | { allow: true }
  | { allow: false; reason: 'node_fault' | 'rate_limit'; detail: string; retryAtMs: number };

const MINUTE = 60_000;

export class KillBudget {
  readonly opts: KillBudgetOptions;
  private readonly failing = new Set<string>();
  private readonly recentStarts = new Map<string, number>();
  private kills: number[] = [];

  constructor(opts: Partial<KillBudgetOptions> = {}) {
    this.opts = { ...DEFAULT_KILL_BUDGET, ...opts };
    if (!(this.opts.maxPerMinute >= 0)) throw new RangeError('maxPerMinute must be ≥ 0');
    if (!(this.opts.nodeFaultRatio > 0 && this.opts.nodeFaultRatio <= 1))
      throw new RangeError('nodeFaultRatio must be in (0, 1]');
  }

  /** A VMI's liveness probe began failing (idempotent while it keeps failing). */
  failureStarted(vmiUid: string, nowMs: number): void {
    if (this.failing.has(vmiUid)) return;
    this.failing.add(vmiUid);
    this.recentStarts.set(vmiUid, nowMs);
  }

  /** The probe recovered, or the VMI is gone. Its start stays counted until the window passes. */
  failureEnded(vmiUid: string): void {
    this.failing.delete(vmiUid);
  }

  /** VMIs counted as failing for the node-fault rule at `nowMs`. */
  failingCount(nowMs: number): number {
    this.prune(nowMs);
    const all = new Set(this.failing);
    for (const uid of this.recentStarts.keys()) all.add(uid);
    return all.size;
  }

  /** Kills in the last minute. */
  recentKills(nowMs: number): number {
    this.prune(nowMs);
    return this.kills.length;
  }

  /** May one more VMI be stopped now? `probedCount`: VMIs with an active liveness probe on the node. */
  decide(nowMs: number, probedCount: number): KillDecision {
    this.prune(nowMs);
    const failing = this.failingCount(nowMs);
    const population = Math.max(probedCount, failing);
    if (population >= this.opts.nodeFaultMinProbed && failing / population >= this.opts.nodeFaultRatio) {
      return {
        allow: false,
        reason: 'node_fault',
        detail: `node-wide fault suspected: ${failing} of ${population} VMIs on the node failed liveness within ${Math.round(this.opts.windowMs / 1000)}s`,
        retryAtMs: nowMs + this.opts.recheckMs,
      };
    }
    if (this.kills.length >= this.opts.maxPerMinute) {
      const oldest = this.kills[0] ?? nowMs;
      return {
        allow: false,
        reason: 'rate_limit',
        detail: `kill budget spent: ${this.kills.length} stops in the last minute (max ${this.opts.maxPerMinute})`,
        retryAtMs: Math.max(nowMs + 1, oldest + MINUTE),
      };
    }
    return { allow: true };
  }

  /** A kill was made at `nowMs`. */
  /** Gives back a kill recorded at `nowMs` that did not happen (a fresh read or a recovery
   *  stopped it before any delete). */
  releaseKill(nowMs: number): void {
    const i = this.kills.lastIndexOf(nowMs);
    if (i >= 0) this.kills.splice(i, 1);
  }

  recordKill(nowMs: number): void {
    this.kills.push(nowMs);
  }

  private prune(nowMs: number): void {
    while (this.kills.length > 0 && this.kills[0]! <= nowMs - MINUTE) this.kills.shift();
    for (const [uid, t] of this.recentStarts) {
      if (t <= nowMs - this.opts.windowMs) this.recentStarts.delete(uid);
    }
  }
}

/**
 * VMIs with an active kill-capable probe: a liveness probe that is running (not suspended while
 * paused / migrating / gated by startup, and runnable: it has a target), or a startup probe still
 * running (its failure kills as well; after success it is no longer probed). Each VMI counts once.
 */
export function countKillableVmis(
  probes: Iterable<Pick<ProbeSnapshot, 'uid' | 'probe' | 'suspended' | 'target'>>,
): number {
  const uids = new Set<string>();
  for (const p of probes) {
    if (p.probe === 'readiness' || p.suspended || p.target === null) continue;
    uids.add(p.uid);
  }
  return uids.size;
}
