// The Reporter (contract in ./types.ts): turns the manager's desired per-VMI reports into API writes.
//
// - Level-based and coalescing per VMI: update() only stores the latest desired report; at most one
//   sync per VMI runs at a time and a sync always writes the latest desired state.
// - Writes only what differs from what is stored (as last returned/listed by the API): a steady state
//   makes zero writes. Per transition: ≤ 1 status patch + 1 pod patch per launcher pod + 1 Event.
// - VMIProbeStatus: created on the first report of a VMI (409 AlreadyExists → read it, adopt it and
//   fix its owner/node label by merge patch), status by merge patch on the status subresource.
// - Every write is verified against the object the API returned; a silently dropped write (e.g. a
//   webhook revert) is logged and retried with backoff, never counted as success.
// - Retries with exponential backoff + jitter on 409 (after a re-read) / 429 (Retry-After is a floor)
//   / 5xx / network; errors that will not heal alone (403, 422, …) retry at the backoff ceiling, and a
//   new desired state is then tried at once (a missing RBAC rule breaks only the call that needs it).
//   An outage (network error, 5xx — the API is down for everyone) backs off to at most outageMaxMs
//   (5 s), and apiReachable() (the watchers listed or watched successfully) retries those at once, so
//   the final state lands right after an outage ends. A 429 keeps the full backoff and Retry-After.
// - Writes take tokens from a client-side token bucket (shared with the liveness handler).
// - Events: on transitions into failure, Warning `Unhealthy` ("<Kind> probe failed: …") or
//   `InvalidProbe`; a slow reminder (count/lastTimestamp patch) while a failure lasts.
// - Heartbeat: one LIST of this node's VMIProbeStatuses every heartbeatIntervalMs (a read, no write);
//   an object that drifted from what was reported (deleted, edited, reverted) is rewritten. Pod gate
//   conditions are re-checked against the informer cache when `podCondition` is given.
//
// Timers (all on the injected Clock, all owned here, all cleared by stop()): one retry timer and one
// reminder timer per VMI, the heartbeat timer, the flush deadline timer. Constructor starts none.
import {
  CONDITION_TYPE,
  LABEL_PROBE_STATUS_NODE,
  POD_READINESS_CONDITION,
  type ProbeKind,
  REASON,
} from '@vmprobe/shared';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import {
  ApiWriteError,
  type KubeWrites,
  type PodConditionRead,
  type PodConditionWrite,
  type ProbeStatusBody,
  type ProbeStatusCondition,
  type ProbeStatusObject,
  rfc3339,
  vmiOwnerReference,
} from '../kube/writes.js';
import { type Logger, silentLogger } from '../log.js';
import { type AgentObserver, noopObserver } from '../observer.js';
import { type BackoffPolicy, backoffDelay, DEFAULT_WRITE_BACKOFF } from './backoff.js';
import { boundMessage, type EventIntent, EventRecorder, resultOf } from './events.js';
import { RateLimiterAbortedError, TokenBucket } from './rate-limit.js';
import type {
  ConditionStatus,
  LastReported,
  ProbeConditionReport,
  Reporter,
  VmiProbeReport,
  VmiRef,
} from './types.js';

/** A write whose returned object does not hold what was written (silently dropped or reverted). */
export class WriteNotStoredError extends Error {
  override readonly name = 'WriteNotStoredError';
  readonly code = 'WriteNotStored';
  constructor(
    readonly target: 'probestatus' | 'pod',
    message: string,
  ) {
    super(message);
  }
}

export interface ApiReporterOptions {
  writes: KubeWrites;
  nodeName: string;
  clock?: Clock;
  logger?: Logger;
  observer?: AgentObserver;
  /** Random source for jitter (tests pin it). */
  random?: () => number;
  /** The write limiter; shared with the liveness handler. Default: writeQps / writeBurst. */
  limiter?: TokenBucket;
  writeQps?: number;
  writeBurst?: number;
  /** The Event recorder; shared with the liveness handler. Default: one of its own. */
  events?: EventRecorder;
  backoff?: BackoffPolicy;
  /** Backoff ceiling after a network error or 5xx (an API outage); default 5 s. 429 is not capped. */
  outageMaxMs?: number;
  /** Re-verification LIST period; 0 disables. Default 5 min. */
  heartbeatIntervalMs?: number;
  /** Reminder Event while a failure lasts; 0 disables. Default 10 min. */
  reminderIntervalMs?: number;
  /** Condition and Event messages are cut to this length. Default 1024. */
  maxMessageLength?: number;
  /** A failed Event write is retried this many times (then dropped, logged). Default 5. */
  maxEventAttempts?: number;
  /** The pod's current gate condition from the informer cache (skips writes a restart would repeat). */
  podCondition?: (namespace: string, name: string) => PodConditionRead | undefined;
}

export const DEFAULT_WRITE_QPS = 20;
export const DEFAULT_WRITE_BURST = 50;
export const DEFAULT_HEARTBEAT_MS = 5 * 60_000;
export const DEFAULT_REMINDER_MS = 10 * 60_000;
export const DEFAULT_OUTAGE_MAX_MS = 5_000;

const KIND_LABEL: Record<ProbeKind, string> = {
  liveness: 'Liveness',
  readiness: 'Readiness',
  startup: 'Startup',
};
const KIND_OF_TYPE = new Map<string, ProbeKind>(
  (Object.entries(CONDITION_TYPE) as [ProbeKind, string][]).map(([k, t]) => [t, k]),
);
const FAILURE_REASONS = new Set<string>([REASON.ProbeFailed, REASON.ProbeTimeout]);

interface PendingEvent {
  intent: EventIntent;
  attempts: number;
}

interface VmiState {
  vmi: VmiRef;
  desired: VmiProbeReport;
  /** The VMIProbeStatus as the API last returned or listed it; undefined = not known to exist. */
  object: ProbeStatusObject | undefined;
  /** Gate condition each launcher pod holds (by pod uid), as the API last returned it. */
  pods: Map<string, PodConditionRead>;
  /** Last desired condition per kind, for edge-triggered Events. */
  eventBase: Map<ProbeKind, { status: ConditionStatus; reason: string; message: string }>;
  /** Events waiting to be written, one per kind × reason at most. */
  pendingEvents: Map<string, PendingEvent>;
  running: boolean;
  dirty: boolean;
  /** Last sync left nothing to do. */
  clean: boolean;
  attempt: number;
  retryTimer: TimerHandle | undefined;
  /** The pending retry waits for the API to heal (429/5xx/network): new updates wait for it too. */
  retryForHealth: boolean;
  /** The pending retry follows a network error / 5xx (no 429): apiReachable() runs it at once. */
  retryForOutage: boolean;
  reminderTimer: TimerHandle | undefined;
  forgotten: boolean;
  /** Aborted by forget()/stop(): drops this VMI's queued write-token waits (no timer outlives it). */
  abort: AbortController;
}

export class ApiReporter implements Reporter {
  private readonly writes: KubeWrites;
  private readonly node: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly observer: AgentObserver;
  private readonly random: () => number;
  private readonly limiter: TokenBucket;
  private readonly ownsLimiter: boolean;
  private readonly events: EventRecorder;
  private readonly backoff: BackoffPolicy;
  private readonly outageMaxMs: number;
  private readonly heartbeatMs: number;
  private readonly reminderMs: number;
  private readonly maxLen: number;
  private readonly maxEventAttempts: number;
  private readonly podCondition: ApiReporterOptions['podCondition'];

  private readonly states = new Map<string, VmiState>();
  /** What earlier agents reported, by VMI uid (from start()'s LIST). */
  private readonly seeded = new Map<string, ProbeStatusObject>();
  private readonly idleWaiters = new Set<() => void>();
  private heartbeatTimer: TimerHandle | undefined;
  private heartbeatRunning = false;
  private stopped = false;
  private draining = false;
  private drainDeadline = Number.POSITIVE_INFINITY;

  constructor(opts: ApiReporterOptions) {
    this.writes = opts.writes;
    this.node = opts.nodeName;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ component: 'reporter' });
    this.observer = opts.observer ?? noopObserver;
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
        observer: this.observer,
        maxMessageLength: this.maxLen,
      });
    this.backoff = opts.backoff ?? DEFAULT_WRITE_BACKOFF;
    this.outageMaxMs = Math.min(opts.outageMaxMs ?? DEFAULT_OUTAGE_MAX_MS, this.backoff.maxMs);
    this.heartbeatMs = opts.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
    this.reminderMs = opts.reminderIntervalMs ?? DEFAULT_REMINDER_MS;
    this.maxEventAttempts = opts.maxEventAttempts ?? 5;
    this.podCondition = opts.podCondition;
  }

  // -------------------------------------------------------------------------------------------
  // Reporter API

  async start(signal?: AbortSignal): Promise<void> {
    let attempt = 0;
    for (;;) {
      signal?.throwIfAborted();
      if (this.stopped) return;
      try {
        const items = await this.writes.listProbeStatuses(this.node);
        for (const obj of items) {
          const uid = vmiUidOf(obj);
          if (uid) this.seeded.set(uid, obj);
        }
        this.log.info({ count: this.seeded.size }, 'loaded last reported probe states');
        break;
      } catch (err) {
        if (err instanceof ApiWriteError && !err.retryable) {
          // E.g. 403 or a missing CRD: run without the memory (a restart may then flap once).
          this.log.error(
            { err: err.message, code: err.code },
            'cannot list VMIProbeStatuses; starting without',
          );
          break;
        }
        attempt++;
        const delay = backoffDelay(
          { initialMs: this.backoff.initialMs, maxMs: Math.min(this.backoff.maxMs, 30_000) },
          attempt,
          this.random,
          err instanceof ApiWriteError ? err.retryAfterSeconds : undefined,
        );
        this.log.warn(
          { err: errText(err), attempt, delayMs: delay },
          'listing VMIProbeStatuses failed; retrying',
        );
        await this.sleep(delay, signal);
      }
    }
    this.armHeartbeat();
  }

  lastReported(vmiUid: string): LastReported | undefined {
    const obj = this.states.get(vmiUid)?.object ?? this.seeded.get(vmiUid);
    if (!obj?.status?.conditions) return undefined;
    const conditions: LastReported['conditions'] = {};
    for (const c of obj.status.conditions) {
      const kind = KIND_OF_TYPE.get(c.type);
      if (kind) conditions[kind] = c.status;
    }
    return { conditions };
  }

  update(report: VmiProbeReport): void {
    if (this.stopped) return;
    const uid = report.vmi.uid;
    let st = this.states.get(uid);
    if (!st) {
      const seededObj = this.seeded.get(uid);
      this.seeded.delete(uid);
      st = {
        vmi: { ...report.vmi },
        desired: report,
        object: seededObj,
        pods: new Map(),
        eventBase: new Map(),
        pendingEvents: new Map(),
        running: false,
        dirty: false,
        clean: false,
        attempt: 0,
        retryTimer: undefined,
        retryForHealth: false,
        retryForOutage: false,
        reminderTimer: undefined,
        forgotten: false,
        abort: new AbortController(),
      };
      for (const c of seededObj?.status?.conditions ?? []) {
        const kind = KIND_OF_TYPE.get(c.type);
        if (kind) st.eventBase.set(kind, { status: c.status, reason: c.reason, message: c.message });
      }
      this.states.set(uid, st);
    }
    st.vmi = { ...report.vmi };
    st.desired = { ...report, conditions: report.conditions.map((c) => this.bounded(c)) };
    this.queueTransitionEvents(st);
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
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
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
    void this.syncOnce(st).then(
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

  private async syncOnce(st: VmiState): Promise<SyncResult> {
    const failures: unknown[] = [];
    const report = st.desired;
    try {
      await this.syncProbeStatus(st, report);
    } catch (err) {
      failures.push(err);
      this.logFailure(st, 'probestatus', err);
    }
    if (st.abort.signal.aborted) return { ok: false };
    const readiness = report.conditions.find((c) => c.kind === 'readiness');
    const listed = new Set(report.launcherPods.map((p) => p.uid));
    for (const uid of [...st.pods.keys()]) if (!listed.has(uid)) st.pods.delete(uid);
    if (readiness) {
      for (const pod of report.launcherPods) {
        if (st.abort.signal.aborted) return { ok: false };
        try {
          await this.syncPod(st, pod, readiness);
        } catch (err) {
          failures.push(err);
          this.logFailure(st, 'pod', err, pod.name);
        }
      }
    }
    for (const [key, pe] of [...st.pendingEvents]) {
      if (st.abort.signal.aborted) return { ok: false };
      try {
        await this.events.record(st.vmi, pe.intent, st.abort.signal);
        st.pendingEvents.delete(key);
      } catch (err) {
        if (err instanceof RateLimiterAbortedError) return { ok: false };
        pe.attempts++;
        const permanent = !(err instanceof ApiWriteError && err.retryable);
        if (permanent || pe.attempts >= this.maxEventAttempts) {
          st.pendingEvents.delete(key);
          this.log.warn(
            { vmi: st.vmi.name, namespace: st.vmi.namespace, reason: pe.intent.reason, err: errText(err) },
            'dropping event after failed write',
          );
        } else {
          failures.push(err);
          this.logFailure(st, 'event', err);
        }
      }
    }
    if (failures.length === 0) return { ok: true };
    let health = false;
    let outage = false;
    let throttled = false;
    let retryAfterSeconds: number | undefined;
    for (const f of failures) {
      if (f instanceof ApiWriteError && f.retryable) health = true;
      if (f instanceof WriteNotStoredError) health = true;
      if (f instanceof ApiWriteError && (f.status === 0 || f.status >= 500)) outage = true;
      if (f instanceof ApiWriteError && f.status === 429) throttled = true;
      if (f instanceof ApiWriteError && f.retryAfterSeconds !== undefined)
        retryAfterSeconds = Math.max(retryAfterSeconds ?? 0, f.retryAfterSeconds);
    }
    // A 429 in the same sync wins: the server asked this client to slow down.
    return { ok: false, health, outage: outage && !throttled, retryAfterSeconds };
  }

  private async syncProbeStatus(st: VmiState, report: VmiProbeReport): Promise<void> {
    const { namespace, name, uid } = report.vmi;
    if (!st.object) {
      const body: ProbeStatusObject = {
        apiVersion: 'vmprobe.io/v1alpha1',
        kind: 'VMIProbeStatus',
        metadata: {
          name,
          namespace,
          labels: { [LABEL_PROBE_STATUS_NODE]: this.node },
          ownerReferences: [vmiOwnerReference(report.vmi)],
        },
        status: this.desiredStatus(report, undefined),
      };
      await this.limiter.take(st.abort.signal);
      try {
        st.object = await this.writes.createProbeStatus(body);
        this.observer.reporterWrite('probestatus', 'ok');
      } catch (err) {
        if (err instanceof ApiWriteError && err.code === 'AlreadyExists') {
          this.observer.reporterWrite('probestatus', 'conflict');
          st.object = await this.writes.getProbeStatus(namespace, name);
        } else {
          this.observer.reporterWrite('probestatus', resultOf(err));
          throw err;
        }
      }
    }
    const meta = st.object.metadata;
    const ownerOk = (meta.ownerReferences ?? []).some((o) => o.uid === uid);
    const nodeOk = meta.labels?.[LABEL_PROBE_STATUS_NODE] === this.node;
    if (!ownerOk || !nodeOk) {
      // An object left by an earlier VMI of the same name (its GC is pending) or by another node's
      // agent before a migration: adopt it.
      const patch: Parameters<KubeWrites['patchProbeStatusMetadata']>[2] = {
        labels: { [LABEL_PROBE_STATUS_NODE]: this.node },
      };
      if (!ownerOk) patch.ownerReferences = [vmiOwnerReference(report.vmi)];
      await this.limiter.take(st.abort.signal);
      st.object = await this.guarded(st, 'probestatus', () =>
        this.writes.patchProbeStatusMetadata(namespace, name, patch),
      );
    }
    const desired = this.desiredStatus(report, st.object.status);
    if (statusMatches(st.object.status, desired)) return;
    const patch = { ...desired, target: desired.target ?? null };
    await this.limiter.take(st.abort.signal);
    const returned = await this.guarded(st, 'probestatus', () =>
      this.writes.patchProbeStatusStatus(namespace, name, patch),
    );
    st.object = returned;
    if (!statusMatches(returned.status, desired)) {
      this.observer.reporterWrite('probestatus', 'error');
      throw new WriteNotStoredError(
        'probestatus',
        `VMIProbeStatus ${namespace}/${name}: the API returned 200 but the status written is not stored`,
      );
    }
    this.observer.reporterWrite('probestatus', 'ok');
  }

  /** Runs a patch; maps 404 (object gone: create next time) and 409 (re-read) onto the state. */
  private async guarded(
    st: VmiState,
    target: 'probestatus',
    fn: () => Promise<ProbeStatusObject>,
  ): Promise<ProbeStatusObject> {
    try {
      return await fn();
    } catch (err) {
      this.observer.reporterWrite(target, resultOf(err));
      if (err instanceof ApiWriteError && err.code === 'NotFound') st.object = undefined;
      if (err instanceof ApiWriteError && err.code === 'Conflict') {
        try {
          st.object = await this.writes.getProbeStatus(st.vmi.namespace, st.vmi.name);
        } catch (getErr) {
          if (getErr instanceof ApiWriteError && getErr.code === 'NotFound') st.object = undefined;
        }
      }
      throw err;
    }
  }

  private async syncPod(
    st: VmiState,
    pod: { namespace: string; name: string; uid: string },
    readiness: ProbeConditionReport,
  ): Promise<void> {
    const known = st.pods.get(pod.uid) ?? this.podCondition?.(pod.namespace, pod.name);
    if (known && podConditionMatches(known, readiness)) {
      st.pods.set(pod.uid, known);
      return;
    }
    const now = this.clock.now();
    const write: PodConditionWrite = {
      type: POD_READINESS_CONDITION,
      status: readiness.status,
      reason: readiness.reason,
      message: readiness.message,
      lastTransitionTime:
        known && known.status === readiness.status && known.lastTransitionTime
          ? known.lastTransitionTime
          : rfc3339(now),
    };
    await this.limiter.take(st.abort.signal);
    let returned: Awaited<ReturnType<KubeWrites['patchPodCondition']>>;
    try {
      returned = await this.writes.patchPodCondition(pod.namespace, pod.name, write);
    } catch (err) {
      if (err instanceof ApiWriteError && err.code === 'NotFound') {
        // The pod is gone (the manager will list the new one): nothing to write.
        st.pods.delete(pod.uid);
        this.observer.reporterWrite('pod', 'ok');
        return;
      }
      this.observer.reporterWrite('pod', resultOf(err));
      throw err;
    }
    if (returned.metadata.uid && returned.metadata.uid !== pod.uid) {
      // Same name, another pod: not ours to gate.
      st.pods.delete(pod.uid);
      this.observer.reporterWrite('pod', 'ok');
      return;
    }
    const stored = returned.conditions.find((c) => c.type === POD_READINESS_CONDITION);
    if (!stored || !podConditionMatches(stored, readiness)) {
      st.pods.delete(pod.uid);
      this.observer.reporterWrite('pod', 'error');
      throw new WriteNotStoredError(
        'pod',
        `pod ${pod.namespace}/${pod.name}: the API returned 200 but condition ${POD_READINESS_CONDITION} is not stored`,
      );
    }
    st.pods.set(pod.uid, stored);
    this.observer.reporterWrite('pod', 'ok');
  }

  private desiredStatus(report: VmiProbeReport, stored: ProbeStatusBody | undefined): ProbeStatusBody {
    const now = rfc3339(this.clock.now());
    const conditions: ProbeStatusCondition[] = report.conditions.map((c) => {
      const type = CONDITION_TYPE[c.kind];
      const prev = stored?.conditions?.find((p) => p.type === type);
      return {
        type,
        status: c.status,
        reason: c.reason,
        message: c.message,
        lastTransitionTime:
          prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
      };
    });
    const out: ProbeStatusBody = { nodeName: report.nodeName, vmiUID: report.vmi.uid, conditions };
    if (report.target !== undefined) out.target = report.target;
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Events and reminders

  private queueTransitionEvents(st: VmiState): void {
    for (const c of st.desired.conditions) {
      const prev = st.eventBase.get(c.kind);
      st.eventBase.set(c.kind, { status: c.status, reason: c.reason, message: c.message });
      const changed = !prev || prev.status !== c.status || prev.reason !== c.reason;
      if (!changed) continue;
      const intent = eventFor(c);
      if (intent) st.pendingEvents.set(`${c.kind}/${intent.reason}`, { intent, attempts: 0 });
    }
    for (const kind of [...st.eventBase.keys()])
      if (!st.desired.conditions.some((c) => c.kind === kind)) st.eventBase.delete(kind);
  }

  private armReminder(st: VmiState): void {
    if (this.reminderMs <= 0 || st.reminderTimer !== undefined) return;
    if (!st.desired.conditions.some(isFailure)) return;
    st.reminderTimer = this.clock.setTimeout(() => {
      st.reminderTimer = undefined;
      if (this.stopped || st.forgotten) return;
      let queued = false;
      for (const c of st.desired.conditions) {
        const intent = isFailure(c) ? eventFor(c) : undefined;
        if (!intent) continue;
        const key = `${c.kind}/${intent.reason}`;
        if (!st.pendingEvents.has(key)) st.pendingEvents.set(key, { intent, attempts: 0 });
        queued = true;
      }
      if (queued) {
        st.clean = false;
        this.kick(st);
      }
    }, this.reminderMs);
  }

  // -------------------------------------------------------------------------------------------
  // Heartbeat: re-verify with one LIST (no write unless something drifted)

  private armHeartbeat(): void {
    if (this.stopped || this.heartbeatMs <= 0 || this.heartbeatTimer !== undefined) return;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      void this.heartbeat().finally(() => this.armHeartbeat());
    }, this.heartbeatMs);
  }

  /** One re-verification pass (exported for tests through the timer; safe to call any time). */
  async heartbeat(): Promise<void> {
    if (this.stopped || this.heartbeatRunning) return;
    this.heartbeatRunning = true;
    try {
      const listed = new Map<string, ProbeStatusObject>();
      for (const obj of await this.writes.listProbeStatuses(this.node)) {
        const uid = vmiUidOf(obj);
        if (uid) listed.set(uid, obj);
      }
      let drifted = 0;
      for (const [uid, st] of this.states) {
        if (st.running || !st.clean || st.forgotten) continue;
        const obj = listed.get(uid);
        const desired = this.desiredStatus(st.desired, obj?.status);
        let drift = false;
        if (!obj || !statusMatches(obj.status, desired)) {
          st.object = obj;
          drift = true;
        }
        const readiness = st.desired.conditions.find((c) => c.kind === 'readiness');
        if (readiness && this.podCondition) {
          for (const pod of st.desired.launcherPods) {
            const cached = this.podCondition(pod.namespace, pod.name);
            if (!cached || !podConditionMatches(cached, readiness)) {
              st.pods.delete(pod.uid);
              drift = true;
            }
          }
        }
        if (drift) {
          drifted++;
          st.clean = false;
          this.kick(st);
        }
      }
      if (drifted > 0)
        this.log.warn({ vmis: drifted }, 'heartbeat: stored state drifted from reported; rewriting');
    } catch (err) {
      this.log.warn({ err: errText(err) }, 'heartbeat list failed');
    } finally {
      this.heartbeatRunning = false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private bounded(c: ProbeConditionReport): ProbeConditionReport {
    return { ...c, message: boundMessage(c.message, this.maxLen) };
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

  private logFailure(st: VmiState, target: string, err: unknown, pod?: string): void {
    if (err instanceof RateLimiterAbortedError) return; // forgotten or stopped: nothing to report
    const fields = {
      namespace: st.vmi.namespace,
      vmi: st.vmi.name,
      target,
      pod,
      err: errText(err),
      code: (err as { code?: unknown }).code,
      status: err instanceof ApiWriteError ? err.status : undefined,
    };
    if (err instanceof WriteNotStoredError) this.log.warn(fields, 'write not stored; will retry');
    else if (err instanceof ApiWriteError && err.retryable) this.log.info(fields, 'write failed; will retry');
    else this.log.error(fields, 'write failed');
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.clock.clearTimeout(timer);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const timer = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

interface SyncResult {
  ok: boolean;
  /** Failed for a reason that heals (429/5xx/network/409/not stored): back off exponentially. */
  health?: boolean;
  /** Among those, a network error or 5xx and no 429: an API outage (short backoff, apiReachable). */
  outage?: boolean;
  retryAfterSeconds?: number | undefined;
}

function isFailure(c: ProbeConditionReport): boolean {
  return c.status === 'False' && FAILURE_REASONS.has(c.reason);
}

function eventFor(c: ProbeConditionReport): EventIntent | undefined {
  if (isFailure(c)) {
    return {
      type: 'Warning',
      reason: 'Unhealthy',
      message: `${KIND_LABEL[c.kind]} probe failed: ${c.message}`,
    };
  }
  if (c.reason === REASON.InvalidProbe) {
    return {
      type: 'Warning',
      reason: 'InvalidProbe',
      message: `${KIND_LABEL[c.kind]} probe is invalid: ${c.message}`,
    };
  }
  return undefined;
}

function vmiUidOf(obj: ProbeStatusObject): string | undefined {
  return (
    obj.status?.vmiUID || obj.metadata.ownerReferences?.find((o) => o.kind === 'VirtualMachineInstance')?.uid
  );
}

function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return Date.parse(a) === Date.parse(b);
}

/** The stored status holds everything desired (conditions compared by type, ignoring order). */
export function statusMatches(stored: ProbeStatusBody | undefined, desired: ProbeStatusBody): boolean {
  if (!stored) return false;
  if (stored.nodeName !== desired.nodeName) return false;
  if ((stored.target ?? undefined) !== (desired.target ?? undefined)) return false;
  if (stored.vmiUID !== desired.vmiUID) return false;
  const want = desired.conditions ?? [];
  const have = stored.conditions ?? [];
  if (have.length !== want.length) return false;
  for (const w of want) {
    const h = have.find((c) => c.type === w.type);
    if (!h) return false;
    if (h.status !== w.status || h.reason !== w.reason || (h.message ?? '') !== w.message) return false;
    if (!sameInstant(h.lastTransitionTime, w.lastTransitionTime)) return false;
  }
  return true;
}

function podConditionMatches(stored: PodConditionRead, want: ProbeConditionReport): boolean {
  return (
    stored.status === want.status &&
    (stored.reason ?? '') === want.reason &&
    (stored.message ?? '') === want.message
  );
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
