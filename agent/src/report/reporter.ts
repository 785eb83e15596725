// The Reporter (contract in ./types.ts): turns the manager's desired per-VMI reports into API writes.
// This file is the per-VMI scheduler (coalescing, retry/backoff, flush, stop). The writes of one sync
// are in ./vmi-sync.ts, the per-VMI memory and Event queueing in ./vmi-state.ts, the pure diff in
// ./write-plan.ts, the start-up LIST and the heartbeat in ./stored-statuses.ts, options in
// ./reporter-options.ts.
//
// - Level-based and coalescing per VMI: update() only stores the latest desired report; at most one
//   sync per VMI runs at a time and a sync always writes the latest desired state. Its pod gate has
//   a lane of its own: an update during a running sync goes to the gate at once (expressGates).
// - Writes only what differs from what is stored (as last returned/listed by the API): a steady state
//   makes zero writes. Per transition: ≤ 1 status patch + 1 pod patch per launcher pod + 1 Event.
// - Retries with exponential backoff + jitter on 409 (after a re-read) / 429 (Retry-After is a floor)
//   / 5xx / network / a write not stored; errors that will not heal alone (403, 422, …) retry at the
//   backoff ceiling, and a new desired state is then tried at once. An outage (network error, 5xx —
//   the API is down for everyone) backs off to at most outageMaxMs (5 s), and apiReachable() (the
//   watchers listed or watched successfully) retries those at once. A 429 keeps the full backoff.
// - Writes take tokens from a client-side token bucket (shared with the liveness handler).
// - Events: on transitions into failure (queued by update()), and a slow reminder while it lasts.
//
// Timers (all on the injected Clock, all owned here, all cleared by stop()): one retry timer and one
// reminder timer per VMI, the heartbeat timer (in Heartbeat), the flush deadline timer. The
// constructor starts none.

import { type BackoffPolicy, backoffDelay, DEFAULT_WRITE_BACKOFF } from '../backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { KubeWrites, ProbeStatusObject } from '../kube/api.js';
import { type Logger, silentLogger } from '../log.js';
import { noopObserver } from '../observer.js';
import { EventRecorder } from './events.js';
import { TokenBucket } from './rate-limit.js';
import {
  type ApiReporterOptions,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_OUTAGE_MAX_MS,
  DEFAULT_REMINDER_MS,
  DEFAULT_WRITE_BURST,
  DEFAULT_WRITE_QPS,
} from './reporter-options.js';
import { Heartbeat, loadStoredStatuses } from './stored-statuses.js';
import type { LastReported, Reporter, VmiProbeReport } from './types.js';
import {
  afterSyncDecision,
  beginSync,
  cancelRetry,
  desire,
  endSync,
  markClean,
  newVmiState,
  release,
  remind,
  reminderArmed,
  reminderDue,
  retryArmed,
  retryFired,
  type VmiState,
} from './vmi-state.js';
import { type SyncResult, VmiSync } from './vmi-sync.js';
import { boundedCondition, errText, lastReportedOf } from './write-plan.js';

export type { ApiReporterOptions } from './reporter-options.js';
export {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_OUTAGE_MAX_MS,
  DEFAULT_REMINDER_MS,
  DEFAULT_WRITE_BURST,
  DEFAULT_WRITE_QPS,
} from './reporter-options.js';
export { WriteNotStoredError } from './vmi-sync.js';
export { statusMatches } from './write-plan.js';

export class ApiReporter implements Reporter {
  private readonly writes: KubeWrites;
  private readonly node: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly limiter: TokenBucket;
  private readonly ownsLimiter: boolean;
  private readonly events: EventRecorder;
  private readonly backoff: BackoffPolicy;
  private readonly outageMaxMs: number;
  private readonly reminderMs: number;
  private readonly maxLen: number;
  private readonly syncer: VmiSync;
  private readonly heartbeatLoop: Heartbeat;

  private readonly states = new Map<string, VmiState>();
  /** What earlier agents reported, by VMI uid (from start()'s LIST). */
  private readonly seeded = new Map<string, ProbeStatusObject>();
  private readonly idleWaiters = new Set<() => void>();
  private stopped = false;
  private draining = false;
  private drainDeadline = Number.POSITIVE_INFINITY;

  constructor(opts: ApiReporterOptions) {
    this.writes = opts.writes;
    this.node = opts.nodeName;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ component: 'reporter' });
    const observer = opts.observer ?? noopObserver;
    this.random = opts.random ?? Math.random;
    this.ownsLimiter = opts.limiter === undefined;
    this.limiter =
      opts.limiter ??
      new TokenBucket({
        qps: opts.writeQps ?? DEFAULT_WRITE_QPS,
        burst: opts.writeBurst ?? DEFAULT_WRITE_BURST,
        clock: this.clock,
      });
    this.maxLen = opts.maxMessageLength ?? 1024;
    this.events =
      opts.events ??
      new EventRecorder({
        writes: this.writes,
        limiter: this.limiter,
        clock: this.clock,
        observer,
        maxMessageLength: this.maxLen,
      });
    this.backoff = opts.backoff ?? DEFAULT_WRITE_BACKOFF;
    this.outageMaxMs = Math.min(opts.outageMaxMs ?? DEFAULT_OUTAGE_MAX_MS, this.backoff.maxMs);
    this.reminderMs = opts.reminderIntervalMs ?? DEFAULT_REMINDER_MS;
    this.syncer = new VmiSync({
      writes: this.writes,
      nodeName: this.node,
      clock: this.clock,
      log: this.log,
      observer,
      limiter: this.limiter,
      events: this.events,
      maxEventAttempts: opts.maxEventAttempts ?? 5,
      podCondition: opts.podCondition,
    });
    this.heartbeatLoop = new Heartbeat({
      writes: this.writes,
      nodeName: this.node,
      clock: this.clock,
      log: this.log,
      intervalMs: opts.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS,
      podCondition: opts.podCondition,
      states: () => this.states,
      resync: (st) => this.kick(st),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Reporter API

  async start(signal?: AbortSignal): Promise<void> {
    const stored = await loadStoredStatuses({
      writes: this.writes,
      nodeName: this.node,
      clock: this.clock,
      log: this.log,
      random: this.random,
      backoff: this.backoff,
      signal,
      stopped: () => this.stopped,
    });
    if (!stored) return;
    for (const [uid, obj] of stored) this.seeded.set(uid, obj);
    this.heartbeatLoop.arm();
  }

  lastReported(vmiUid: string): LastReported | undefined {
    return lastReportedOf(this.states.get(vmiUid)?.object ?? this.seeded.get(vmiUid));
  }

  update(report: VmiProbeReport): void {
    if (this.stopped) return;
    const uid = report.vmi.uid;
    let st = this.states.get(uid);
    if (!st) {
      st = newVmiState(report, this.seeded.get(uid));
      this.seeded.delete(uid);
      this.states.set(uid, st);
    }
    desire(st, { ...report, conditions: report.conditions.map((c) => boundedCondition(c, this.maxLen)) });
    this.kick(st);
  }

  forget(vmiUid: string): void {
    const st = this.states.get(vmiUid);
    this.seeded.delete(vmiUid);
    this.events.forget(vmiUid);
    if (!st) return;
    release(st, this.clock, true);
    this.states.delete(vmiUid);
    this.notifyIdle();
  }

  /**
   * The API answers again (a watcher's list or watch succeeded): every VMI waiting out an outage
   * backoff (network error / 5xx) is retried now. Waits for a 429's Retry-After are kept. Cheap;
   * idempotent.
   */
  apiReachable(): void {
    if (this.stopped) return;
    for (const st of this.states.values()) {
      if (!st.retryForOutage || !cancelRetry(st, this.clock)) continue;
      this.kick(st);
    }
  }

  async flush(deadlineMs: number): Promise<void> {
    if (this.stopped) return;
    this.draining = true;
    this.drainDeadline = deadlineMs;
    this.limiter.openGate();
    for (const st of this.states.values()) {
      cancelRetry(st, this.clock);
      if (!st.clean) this.kick(st);
    }
    await new Promise<void>((resolve) => {
      let timer: TimerHandle | undefined;
      const check = () => {
        if (this.stopped || this.isIdle() || this.clock.now() >= deadlineMs) {
          this.idleWaiters.delete(check);
          if (timer !== undefined) this.clock.clearTimeout(timer);
          resolve();
        }
      };
      timer = this.clock.setTimeout(
        () => {
          timer = undefined;
          this.idleWaiters.delete(check);
          resolve();
        },
        Math.max(0, deadlineMs - this.clock.now()),
      );
      this.idleWaiters.add(check);
      check();
    });
    const left = [...this.states.values()].filter((s) => !s.clean).length;
    if (left > 0) this.log.warn({ vmis: left }, 'flush deadline reached with writes still pending');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.heartbeatLoop.stop();
    for (const st of this.states.values()) release(st, this.clock, false);
    if (this.ownsLimiter) this.limiter.stop();
    this.notifyIdle();
  }

  // -------------------------------------------------------------------------------------------
  // Introspection (tests, /debug)

  /** No VMI has a write pending, running or waiting for a retry. */
  isIdle(): boolean {
    for (const st of this.states.values()) if (!st.clean || st.running) return false;
    return true;
  }

  /** VMIs with writes not yet stored. */
  pendingCount(): number {
    let n = 0;
    for (const st of this.states.values()) if (!st.clean) n++;
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Sync machinery

  /** Syncs `st` now, or marks it dirty / leaves it to its pending retry (vmi-state kickDecision). */
  private kick(st: VmiState): void {
    if (this.stopped || st.forgotten) return;
    const d = beginSync(st, this.clock);
    // A sync is running (its VMIProbeStatus write may be waiting for a token): the pod gate does not
    // wait for it, it has a lane of its own (VmiSync.expressGates; issue 9 item 5).
    if (d === 'mark-dirty') this.syncer.expressGates(st);
    if (d !== 'start') return;
    void this.syncer.sync(st).then(
      (ok) => this.afterSync(st, ok),
      (err) => {
        this.log.error({ err: errText(err) }, 'reporter sync crashed');
        this.afterSync(st, { ok: false, health: false });
      },
    );
  }

  /** Applies what follows a sync (vmi-state afterSyncDecision): resync, clean, retry or give up. */
  private afterSync(st: VmiState, res: SyncResult): void {
    const attempt = endSync(st, res.ok);
    if (this.stopped || st.forgotten) {
      this.notifyIdle();
      return;
    }
    let delayMs = 0;
    if (!res.ok) {
      const policy = !res.health
        ? { initialMs: this.backoff.maxMs, maxMs: this.backoff.maxMs }
        : res.outage
          ? { initialMs: Math.min(this.backoff.initialMs, this.outageMaxMs), maxMs: this.outageMaxMs }
          : this.backoff;
      delayMs = backoffDelay(policy, attempt, this.random, res.retryAfterSeconds);
    }
    const next = afterSyncDecision({
      ok: res.ok,
      health: !!res.health,
      outage: !!res.outage,
      dirty: st.dirty,
      delayMs,
      draining: this.draining,
      nowMs: this.clock.now(),
      drainDeadlineMs: this.drainDeadline,
    });
    switch (next.next) {
      case 'resync':
      case 'retry-now':
        this.kick(st);
        break;
      case 'clean':
        markClean(st);
        this.armReminder(st);
        break;
      case 'give-up':
        break;
      case 'retry-later': {
        const timer = this.clock.setTimeout(() => {
          retryFired(st);
          this.kick(st);
        }, next.delayMs);
        retryArmed(st, timer, next.forHealth, next.forOutage);
        break;
      }
    }
    this.notifyIdle();
  }

  // -------------------------------------------------------------------------------------------
  // Reminders, heartbeat, helpers

  private armReminder(st: VmiState): void {
    if (!reminderDue(st, this.reminderMs)) return;
    const timer = this.clock.setTimeout(() => {
      if (this.stopped || st.forgotten) return;
      if (remind(st)) this.kick(st);
    }, this.reminderMs);
    reminderArmed(st, timer);
  }

  /** One heartbeat pass now (the timer runs it every heartbeatIntervalMs); safe to call any time. */
  heartbeat(): Promise<void> {
    return this.heartbeatLoop.run();
  }

  private notifyIdle(): void {
    for (const w of [...this.idleWaiters]) w();
  }
}
