// The Reporter (contract in ./types.ts): turns the manager's desired per-VMI reports into API writes.
// This file is the per-VMI scheduler (coalescing, retry/backoff, flush, stop). The writes of one sync
// are in ./vmi-sync.ts, the per-VMI memory and Event queueing in ./vmi-state.ts, the pure diff in
// ./write-plan.ts, the start-up LIST and the heartbeat in ./stored-statuses.ts, options in
// ./reporter-options.ts.
//
// - Level-based and coalescing per VMI: update() only stores the latest desired report; at most one
//   sync per VMI runs at a time and a sync always writes the latest desired state.
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
  hasFailure,
  newVmiState,
  queueReminderEvents,
  queueTransitionEvents,
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
    st.vmi = { ...report.vmi };
    st.desired = { ...report, conditions: report.conditions.map((c) => boundedCondition(c, this.maxLen)) };
    queueTransitionEvents(st);
    st.clean = false;
    this.kick(st);
  }

  forget(vmiUid: string): void {
    const st = this.states.get(vmiUid);
    this.seeded.delete(vmiUid);
    this.events.forget(vmiUid);
    if (!st) return;
    st.forgotten = true;
    st.abort.abort();
    this.clearTimers(st);
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
      if (st.retryTimer === undefined || !st.retryForOutage) continue;
      this.clock.clearTimeout(st.retryTimer);
      st.retryTimer = undefined;
      st.retryForHealth = false;
      st.retryForOutage = false;
      this.kick(st);
    }
  }

  async flush(deadlineMs: number): Promise<void> {
    if (this.stopped) return;
    this.draining = true;
    this.drainDeadline = deadlineMs;
    this.limiter.openGate();
    for (const st of this.states.values()) {
      if (st.retryTimer !== undefined) {
        this.clock.clearTimeout(st.retryTimer);
        st.retryTimer = undefined;
        st.retryForHealth = false;
        st.retryForOutage = false;
      }
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
    for (const st of this.states.values()) {
      st.abort.abort();
      this.clearTimers(st);
    }
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

  private kick(st: VmiState): void {
    if (this.stopped || st.forgotten) return;
    if (st.running) {
      st.dirty = true;
      return;
    }
    if (st.retryTimer !== undefined) {
      if (st.retryForHealth) return; // the API asked us to back off: the retry writes the latest state
      this.clock.clearTimeout(st.retryTimer);
      st.retryTimer = undefined;
    }
    st.running = true;
    st.dirty = false;
    void this.syncer.sync(st).then(
      (ok) => this.afterSync(st, ok),
      (err) => {
        this.log.error({ err: errText(err) }, 'reporter sync crashed');
        this.afterSync(st, { ok: false, health: false });
      },
    );
  }

  private afterSync(st: VmiState, res: SyncResult): void {
    st.running = false;
    if (this.stopped || st.forgotten) {
      this.notifyIdle();
      return;
    }
    if (res.ok) {
      st.attempt = 0;
      if (st.dirty) {
        this.kick(st);
      } else {
        st.clean = true;
        this.armReminder(st);
      }
    } else {
      st.attempt++;
      const policy = !res.health
        ? { initialMs: this.backoff.maxMs, maxMs: this.backoff.maxMs }
        : res.outage
          ? { initialMs: Math.min(this.backoff.initialMs, this.outageMaxMs), maxMs: this.outageMaxMs }
          : this.backoff;
      let delay = backoffDelay(policy, st.attempt, this.random, res.retryAfterSeconds);
      if (this.draining) delay = Math.min(delay, 250);
      if (this.draining && this.clock.now() + delay > this.drainDeadline) {
        this.notifyIdle();
        return;
      }
      st.retryForHealth = !!res.health && !st.dirty;
      st.retryForOutage = !!res.outage;
      if (st.dirty && !res.health) {
        this.kick(st);
      } else {
        st.retryTimer = this.clock.setTimeout(() => {
          st.retryTimer = undefined;
          st.retryForHealth = false;
          st.retryForOutage = false;
          this.kick(st);
        }, delay);
      }
    }
    this.notifyIdle();
  }

  // -------------------------------------------------------------------------------------------
  // Reminders, heartbeat, helpers

  private armReminder(st: VmiState): void {
    if (this.reminderMs <= 0 || st.reminderTimer !== undefined) return;
    if (!hasFailure(st)) return;
    st.reminderTimer = this.clock.setTimeout(() => {
      st.reminderTimer = undefined;
      if (this.stopped || st.forgotten) return;
      if (queueReminderEvents(st)) {
        st.clean = false;
        this.kick(st);
      }
    }, this.reminderMs);
  }

  /** One heartbeat pass now (the timer runs it every heartbeatIntervalMs); safe to call any time. */
  heartbeat(): Promise<void> {
    return this.heartbeatLoop.run();
  }

  private clearTimers(st: VmiState): void {
    if (st.retryTimer !== undefined) this.clock.clearTimeout(st.retryTimer);
    if (st.reminderTimer !== undefined) this.clock.clearTimeout(st.reminderTimer);
    st.retryTimer = undefined;
    st.reminderTimer = undefined;
  }

  private notifyIdle(): void {
    for (const w of [...this.idleWaiters]) w();
  }
}
