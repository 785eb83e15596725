// The liveness action: what happens when a VMI's liveness probe transitions to failure.
//
// `--liveness-action`:
//   stop-launcher (default) — delete the launcher pod(s) with the VMI's terminationGracePeriodSeconds
//                             (default 30, as KubeVirt), uid precondition; KubeVirt then marks the VMI
//                             Failed and VM / VMIRS controllers start a fresh one.
//   delete-vmi              — delete the VMI (uid precondition); needs the delete-vmi RBAC overlay.
//   none                    — report only.
// Once per failure: a VMI is acted on at most once until onRecovery() or forget() (a replaced VMI has
// a new uid). Before acting, a failure waits `settleMs` so that failures arriving together (a node
// network fault spreads over one probe period) are seen together by the kill budget. A held-back
// kill gets a Warning `KillHeldBack` event (once per hold reason) and observer.kill(…,'held_back'),
// and is retried when the budget allows while the probe still fails. A Normal `Killing` event
// precedes the stop.
// Fresh state (issue 10.5): before anything is announced or deleted the VMI is read from the API,
// and each launcher pod right before its delete (fresh-check.ts): still the same uid, on this node,
// not paused/migrating/terminating. After every await the handler re-checks that the VMI has not
// recovered or been forgotten (onRecovery/forget cancel its state) and that the agent is not
// stopping; a cancelled kill stops where it is — a recovery during the Killing event deletes nothing.
//
// Timers (injected Clock): one per VMI in settle/held/retry state; forget/onRecovery/stop clear them.
import { EVENT_REASON } from '@vmprobe/shared';
import { backoffDelay } from '../backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { ApiWriteError, type KubeWrites } from '../kube/api.js';
import { type Logger, silentLogger } from '../log.js';
import type { LivenessFailure, LivenessHandler } from '../manager/types.js';
import type { LivenessAction } from '../model/conditions.js';
import { type AgentObserver, noopObserver } from '../observer.js';
import { EventRecorder } from '../report/events.js';
import { TokenBucket } from '../report/rate-limit.js';
import { KillBudget, type KillBudgetOptions } from './budget.js';
import { checkFreshPod, checkFreshVmi, type FreshCheck } from './fresh-check.js';

export { LIVENESS_ACTIONS, type LivenessAction } from '../model/conditions.js';
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;

// The contract the manager calls is the manager's (agent/src/manager/types.ts); re-exported here
// for callers that build a handler.
export type { LivenessFailure, LivenessHandler };

export interface LivenessHandlerOptions {
  action: LivenessAction;
  writes: KubeWrites;
  events: EventRecorder;
  /** The shared write limiter. */
  limiter: TokenBucket;
  /** VMIs on this node with an active (not suspended) liveness probe: the node-fault denominator. */
  probedCount: () => number;
  clock?: Clock;
  logger?: Logger;
  observer?: AgentObserver;
  random?: () => number;
  budget?: Partial<KillBudgetOptions>;
  /** Wait before acting on a failure, so simultaneous failures are counted together. Default 10 s. */
  settleMs?: number;
  /** Retry of a failed delete (5xx, network). */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

type Phase = 'settling' | 'held' | 'killing' | 'done';

interface KillState {
  failure: LivenessFailure;
  phase: Phase;
  timer: TimerHandle | undefined;
  heldReason: string | undefined;
  attempts: number;
  cancelled: boolean;
}

/** The liveness action: the manager's LivenessHandler plus stop() for the Agent. */
export class LivenessActionHandler implements LivenessHandler {
  readonly budget: KillBudget;
  private readonly states = new Map<string, KillState>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly observer: AgentObserver;
  private readonly random: () => number;
  private readonly settleMs: number;
  private stopped = false;
  private readonly stopHooks: (() => void)[] = [];

  constructor(private readonly opts: LivenessHandlerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ component: 'liveness' });
    this.observer = opts.observer ?? noopObserver;
    this.random = opts.random ?? Math.random;
    this.settleMs = opts.settleMs ?? 10_000;
    this.budget = new KillBudget(opts.budget);
  }

  onFailure(failure: LivenessFailure): void {
    if (this.stopped) return;
    const uid = failure.vmi.uid;
    const existing = this.states.get(uid);
    if (existing) {
      if (existing.phase !== 'done' && existing.phase !== 'killing') existing.failure = failure;
      return;
    }
    const st: KillState = {
      failure,
      phase: 'settling',
      timer: undefined,
      heldReason: undefined,
      attempts: 0,
      cancelled: false,
    };
    this.states.set(uid, st);
    this.budget.failureStarted(uid, this.clock.now());
    const fields = { namespace: failure.vmi.namespace, vmi: failure.vmi.name, action: this.opts.action };
    if (this.opts.action === 'none') {
      st.phase = 'done';
      this.log.info(
        { ...fields, message: failure.message },
        'liveness probe failed; liveness action is none',
      );
      return;
    }
    this.log.info(
      { ...fields, settleMs: this.settleMs },
      'liveness probe failed; stopping the VMI after settle',
    );
    this.arm(st, this.settleMs);
  }

  onRecovery(vmiUid: string): void {
    this.drop(vmiUid);
  }

  forget(vmiUid: string): void {
    this.drop(vmiUid);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const st of this.states.values()) this.cancel(st);
    this.states.clear();
    for (const hook of this.stopHooks.splice(0)) hook();
  }

  /** Runs `fn` once at stop() (resources the factory created for this handler). */
  onStop(fn: () => void): void {
    this.stopHooks.push(fn);
  }

  /** VMIs waiting to be stopped or held back (tests, /debug). */
  pending(): { uid: string; phase: Phase; heldReason?: string }[] {
    return [...this.states.entries()].map(([uid, s]) => ({
      uid,
      phase: s.phase,
      ...(s.heldReason ? { heldReason: s.heldReason } : {}),
    }));
  }

  // -------------------------------------------------------------------------------------------

  private drop(vmiUid: string): void {
    this.budget.failureEnded(vmiUid);
    this.opts.events.forget(vmiUid);
    const st = this.states.get(vmiUid);
    if (!st) return;
    this.cancel(st);
    this.states.delete(vmiUid);
  }

  private cancel(st: KillState): void {
    st.cancelled = true;
    if (st.timer !== undefined) this.clock.clearTimeout(st.timer);
    st.timer = undefined;
  }

  /** Still ours to act on: not recovered, not forgotten, agent not stopping (checked after every await). */
  private live(st: KillState): boolean {
    return !st.cancelled && !this.stopped;
  }

  private arm(st: KillState, ms: number): void {
    st.timer = this.clock.setTimeout(() => {
      st.timer = undefined;
      if (st.cancelled || this.stopped) return;
      void this.attempt(st);
    }, ms);
  }

  private async attempt(st: KillState): Promise<void> {
    const { vmi } = st.failure;
    const now = this.clock.now();
    const decision = this.budget.decide(now, this.opts.probedCount());
    if (!decision.allow) {
      st.phase = 'held';
      if (st.heldReason !== decision.reason) {
        st.heldReason = decision.reason;
        this.observer.kill(vmi.namespace, vmi.name, this.opts.action, 'held_back', decision.reason);
        this.log.warn({ namespace: vmi.namespace, vmi: vmi.name, reason: decision.reason }, decision.detail);
        await this.event(
          st,
          'Warning',
          EVENT_REASON.KillHeldBack,
          `Liveness probe failed; stop held back: ${decision.detail}`,
        );
      }
      if (!st.cancelled && !this.stopped) this.arm(st, Math.max(1, decision.retryAtMs - now));
      return;
    }
    // The kill is counted at once (kills decided together must see each other); given back when
    // nothing was deleted after all.
    st.phase = 'killing';
    this.budget.recordKill(now);
    // The informer cache may be stale: read the VMI fresh before announcing anything.
    let check: FreshCheck;
    try {
      check = await this.freshVmi(st);
    } catch (err) {
      this.budget.releaseKill(now);
      if (this.live(st)) this.retryLater(st, err);
      return;
    }
    if (!this.live(st) || check.verdict !== 'ok') {
      this.budget.releaseKill(now);
      if (this.live(st) && check.verdict !== 'ok') this.notNow(st, check);
      return;
    }
    await this.event(
      st,
      'Normal',
      EVENT_REASON.Killing,
      `Stopping VMI: liveness probe failed: ${st.failure.message}`,
    );
    if (!this.live(st)) {
      this.log.info(
        { namespace: vmi.namespace, vmi: vmi.name },
        'recovered or stopping before the stop; nothing deleted',
      );
      return;
    }
    try {
      const outcome = await this.act(st);
      if (!this.live(st) && outcome.deleted === 0) return;
      if (outcome.check) {
        this.notNow(st, outcome.check);
        return;
      }
      st.phase = 'done';
      this.observer.kill(vmi.namespace, vmi.name, this.opts.action, 'done', 'liveness_failed');
      this.log.info(
        { namespace: vmi.namespace, vmi: vmi.name, action: this.opts.action },
        'stopped VMI after liveness failure',
      );
    } catch (err) {
      this.budget.releaseKill(now); // retried (or nothing to stop): counted when it happens
      if (!this.live(st)) return;
      const e = err instanceof ApiWriteError ? err : undefined;
      this.observer.kill(vmi.namespace, vmi.name, this.opts.action, 'failed', e?.code ?? 'error');
      if (e?.code === 'NotFound' || (e?.code === 'Conflict' && e.status === 409)) {
        // Already gone, or the name now holds another object (uid precondition): nothing to stop.
        st.phase = 'done';
        this.log.info({ namespace: vmi.namespace, vmi: vmi.name, code: e.code }, 'nothing to stop');
        return;
      }
      this.retryLater(st, err);
    }
  }

  /** A fresh check said no: done when nothing of ours is left to stop, else retried later. */
  private notNow(st: KillState, check: Exclude<FreshCheck, { verdict: 'ok' }>): void {
    const { vmi } = st.failure;
    if (check.verdict === 'gone') {
      st.phase = 'done';
      this.log.info({ namespace: vmi.namespace, vmi: vmi.name, why: check.why }, 'nothing to stop');
      return;
    }
    st.phase = 'held';
    st.heldReason = undefined;
    st.attempts++;
    this.log.info(
      { namespace: vmi.namespace, vmi: vmi.name, why: check.why },
      'not stopping now; will re-check',
    );
    this.arm(st, this.retryDelay(st.attempts, undefined, true));
  }

  private retryLater(st: KillState, err: unknown): void {
    const { vmi } = st.failure;
    const e = err instanceof ApiWriteError ? err : undefined;
    st.attempts++;
    const delay = this.retryDelay(st.attempts, e?.retryAfterSeconds, e?.retryable ?? true);
    this.log.error(
      {
        namespace: vmi.namespace,
        vmi: vmi.name,
        err: err instanceof Error ? err.message : String(err),
        delayMs: delay,
      },
      'liveness action failed; will retry',
    );
    st.phase = 'held';
    st.heldReason = undefined;
    if (this.live(st)) this.arm(st, delay);
  }

  private retryDelay(attempts: number, retryAfterSeconds: number | undefined, retryable: boolean): number {
    return backoffDelay(
      { initialMs: this.opts.retryInitialMs ?? 1000, maxMs: this.opts.retryMaxMs ?? 60_000 },
      retryable ? attempts : 30,
      this.random,
      retryAfterSeconds,
    );
  }

  /** GET the VMI (404 = gone) and judge it. */
  private async freshVmi(st: KillState): Promise<FreshCheck> {
    const { vmi } = st.failure;
    try {
      const fresh = await this.opts.writes.getVmi(vmi.namespace, vmi.name);
      return checkFreshVmi(fresh, vmi, st.failure.nodeName);
    } catch (err) {
      if (err instanceof ApiWriteError && err.code === 'NotFound')
        return checkFreshVmi(undefined, vmi, st.failure.nodeName);
      throw err;
    }
  }

  /** Deletes what the action stops, each object re-read fresh right before its delete; stops at the
   *  first await after which the kill is no longer live. `check` = a fresh read said not now. */
  private async act(
    st: KillState,
  ): Promise<{ deleted: number; check?: Exclude<FreshCheck, { verdict: 'ok' }> }> {
    const { vmi, launcherPods: pods, nodeName } = st.failure;
    if (this.opts.action === 'delete-vmi') {
      await this.opts.limiter.take();
      if (!this.live(st)) return { deleted: 0 };
      await this.opts.writes.deleteVmi(vmi.namespace, vmi.name, vmi.uid);
      return { deleted: 1 };
    }
    const grace = st.failure.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS;
    let lastErr: unknown;
    let stopped = 0;
    let gone: Exclude<FreshCheck, { verdict: 'ok' }> | undefined;
    for (const pod of pods) {
      try {
        await this.opts.limiter.take();
        if (!this.live(st)) return { deleted: stopped };
        let check: FreshCheck;
        try {
          check = checkFreshPod(await this.opts.writes.getPod(pod.namespace, pod.name), pod, nodeName);
        } catch (err) {
          if (!(err instanceof ApiWriteError && err.code === 'NotFound')) throw err;
          check = checkFreshPod(undefined, pod, nodeName);
        }
        if (!this.live(st)) return { deleted: stopped };
        if (check.verdict !== 'ok') {
          gone = check;
          continue;
        }
        await this.opts.writes.deletePod(pod.namespace, pod.name, pod.uid, grace);
        stopped++;
      } catch (err) {
        if (err instanceof ApiWriteError && (err.code === 'NotFound' || err.code === 'Conflict')) continue;
        lastErr = err;
      }
    }
    if (lastErr) throw lastErr;
    if (stopped === 0) {
      if (gone) return { deleted: 0, check: gone };
      throw new ApiWriteError('NotFound', 404, 'delete', 'pods', 'no launcher pod left to stop');
    }
    return { deleted: stopped };
  }

  private async event(
    st: KillState,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    try {
      await this.opts.events.record(st.failure.vmi, { type, reason, message });
    } catch (err) {
      this.log.warn(
        { vmi: st.failure.vmi.name, reason, err: err instanceof Error ? err.message : String(err) },
        'event write failed',
      );
    }
  }
}

/** What the Agent hands a liveness factory (structurally agent.ts's LivenessDeps). */
export interface LivenessFactoryDeps {
  nodeName: string;
  writes: KubeWrites;
  observer: AgentObserver;
  logger: Logger;
  clock: Clock;
  /** VMIs with an active (not suspended) liveness or startup probe right now (the node-fault rule's
   *  denominator; the Agent gives countKillableVmis of the manager's snapshot). */
  probedVmiCount: () => number;
}

export interface LivenessFactoryOptions {
  /** `--max-kills-per-minute` (default 3). */
  maxKillsPerMinute?: number;
  settleMs?: number;
  budget?: Partial<KillBudgetOptions>;
  /** Writes per second of the handler's own limiter (Events and deletes; default 5, burst 10). */
  writeQps?: number;
  writeBurst?: number;
}

/**
 * The handler for `--liveness-action`, built from what the Agent shares. The CLI wires it as
 * `liveness: (deps) => createLivenessHandler(action, deps, { maxKillsPerMinute })`.
 */
export function createLivenessHandler(
  action: LivenessAction,
  deps: LivenessFactoryDeps,
  opts: LivenessFactoryOptions = {},
): LivenessActionHandler {
  const limiter = new TokenBucket({
    qps: opts.writeQps ?? 5,
    burst: opts.writeBurst ?? 10,
    clock: deps.clock,
  });
  const events = new EventRecorder({
    writes: deps.writes,
    limiter,
    clock: deps.clock,
    observer: deps.observer,
  });
  const handler = new LivenessActionHandler({
    action,
    writes: deps.writes,
    events,
    limiter,
    probedCount: deps.probedVmiCount,
    clock: deps.clock,
    logger: deps.logger,
    observer: deps.observer,
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
    budget: {
      ...opts.budget,
      ...(opts.maxKillsPerMinute !== undefined ? { maxPerMinute: opts.maxKillsPerMinute } : {}),
    },
  });
  handler.onStop(() => limiter.stop());
  return handler;
}
