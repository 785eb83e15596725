// The reporter's reads of this node's VMIProbeStatuses (one LIST by the node label; never a write):
//
// - loadStoredStatuses(): the start-up LIST — what earlier agents reported, by VMI uid. Retryable
//   errors retry with backoff (≤ 30 s) until the signal aborts; a permanent one (403, CRD missing) is
//   logged and yields nothing (the agent runs without that memory).
// - Heartbeat: every `intervalMs` one LIST, compared with what each idle VMI last reported (and, given
//   `podCondition`, its pods' gate conditions in the informer cache); a VMI whose stored state drifted
//   (deleted, edited, reverted: the pure driftOf) has its memory of the object/pod replaced through
//   vmi-state's markDrifted and is handed to `resync`.
//
// Timers: Heartbeat owns one timer, armed by arm() after each pass, cleared by stop() (idempotent).
// The constructor starts none. loadStoredStatuses' backoff sleeps are on the same Clock and end with
// the signal.

import { type BackoffPolicy, backoffDelay } from '../backoff.js';
import type { Clock, TimerHandle } from '../clock.js';
import {
  ApiWriteError,
  type KubeWrites,
  type PodConditionRead,
  type ProbeStatusObject,
} from '../kube/api.js';
import type { Logger } from '../log.js';
import { markDrifted, type VmiState } from './vmi-state.js';
import { byVmiUid, desiredStatus, errText, podConditionMatches, statusMatches } from './write-plan.js';

export interface LoadStoredStatusesOptions {
  writes: KubeWrites;
  nodeName: string;
  clock: Clock;
  log: Logger;
  random: () => number;
  backoff: BackoffPolicy;
  signal?: AbortSignal | undefined;
  /** The reporter stopped: give up (returns undefined). */
  stopped: () => boolean;
}

/** This node's stored VMIProbeStatuses by VMI uid; empty after a permanent error; undefined if stopped. */
export async function loadStoredStatuses(
  o: LoadStoredStatusesOptions,
): Promise<Map<string, ProbeStatusObject> | undefined> {
  let attempt = 0;
  for (;;) {
    o.signal?.throwIfAborted();
    if (o.stopped()) return undefined;
    try {
      const stored = byVmiUid(await o.writes.listProbeStatuses(o.nodeName));
      o.log.info({ count: stored.size }, 'loaded last reported probe states');
      return stored;
    } catch (err) {
      if (err instanceof ApiWriteError && !err.retryable) {
        // E.g. 403 or a missing CRD: run without the memory (a restart may then flap once).
        o.log.error({ err: err.message, code: err.code }, 'cannot list VMIProbeStatuses; starting without');
        return new Map();
      }
      attempt++;
      const delay = backoffDelay(
        { initialMs: o.backoff.initialMs, maxMs: Math.min(o.backoff.maxMs, 30_000) },
        attempt,
        o.random,
        err instanceof ApiWriteError ? err.retryAfterSeconds : undefined,
      );
      o.log.warn({ err: errText(err), attempt, delayMs: delay }, 'listing VMIProbeStatuses failed; retrying');
      await sleep(o.clock, delay, o.signal);
    }
  }
}

export interface HeartbeatOptions {
  writes: KubeWrites;
  nodeName: string;
  clock: Clock;
  log: Logger;
  /** Period; 0 disables. */
  intervalMs: number;
  podCondition: ((namespace: string, name: string) => PodConditionRead | undefined) | undefined;
  /** The reporter's VMIs (read live on every pass). */
  states: () => Iterable<[string, VmiState]>;
  /** A VMI whose stored state drifted: sync it. */
  resync: (st: VmiState) => void;
}

export class Heartbeat {
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  /** Arms the next pass (no-op when stopped, disabled or already armed). */
  arm(): void {
    if (this.stopped || this.o.intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run().finally(() => this.arm());
    }, this.o.intervalMs);
  }

  /** One re-verification pass; safe to call any time (a pass already running makes it a no-op). */
  async run(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    try {
      const listed = byVmiUid(await this.o.writes.listProbeStatuses(this.o.nodeName));
      let drifted = 0;
      for (const [uid, st] of this.o.states()) {
        if (st.running || !st.clean || st.forgotten) continue;
        const obj = listed.get(uid);
        const drift = driftOf(st, obj, this.o.clock.now(), this.o.podCondition);
        if (drift.object || drift.pods.length > 0) {
          drifted++;
          markDrifted(st, { object: drift.object, listed: obj, pods: drift.pods });
          this.o.resync(st);
        }
      }
      if (drifted > 0)
        this.o.log.warn({ vmis: drifted }, 'heartbeat: stored state drifted from reported; rewriting');
    } catch (err) {
      this.o.log.warn({ err: errText(err) }, 'heartbeat list failed');
    } finally {
      this.running = false;
    }
  }

  /** Clears the timer; later arm()/run() do nothing. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * What of one VMI's reported state drifted (pure): `object` when the listed VMIProbeStatus is gone
 * or does not hold the desired status; `pods` the launcher pods (uids) whose cached gate condition
 * is missing or differs from the readiness report (checked only given `podCondition`).
 */
export function driftOf(
  st: VmiState,
  obj: ProbeStatusObject | undefined,
  nowMs: number,
  podCondition: ((namespace: string, name: string) => PodConditionRead | undefined) | undefined,
): { object: boolean; pods: string[] } {
  const desired = desiredStatus(st.desired, obj?.status, nowMs);
  const object = !obj || !statusMatches(obj.status, desired);
  const pods: string[] = [];
  const readiness = st.desired.conditions.find((c) => c.kind === 'readiness');
  if (readiness && podCondition) {
    for (const pod of st.desired.launcherPods) {
      const cached = podCondition(pod.namespace, pod.name);
      if (!cached || !podConditionMatches(cached, readiness)) pods.push(pod.uid);
    }
  }
  return { object, pods };
}

function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
