// The reporter's memory of one VMI, and the pure steps on it that decide which Events are due.
//
// Who touches what: ApiReporter (./reporter.ts) owns every VmiState, its scheduling flags and its two
// timers; VmiSync (./vmi-sync.ts) updates `object`, `pods` and `pendingEvents` as writes land;
// the heartbeat (./stored-statuses.ts) resets `object` / `pods` when it finds drift. The functions here
// start no timer and make no write.

import type { ProbeKind } from '@vmprobe/shared';
import type { TimerHandle } from '../clock.js';
import type { PodConditionRead, ProbeStatusObject } from '../kube/api.js';
import type { EventIntent } from './events.js';
import type { ConditionStatus, ProbeConditionReport, VmiProbeReport, VmiRef } from './types.js';
import { eventFor, isFailure, KIND_OF_TYPE } from './write-plan.js';

export interface PendingEvent {
  intent: EventIntent;
  attempts: number;
}

export interface VmiState {
  vmi: VmiRef;
  desired: VmiProbeReport;
  /** The VMIProbeStatus as the API last returned or listed it; undefined = not known to exist. */
  object: ProbeStatusObject | undefined;
  /** Gate condition each launcher pod holds (by pod uid), as the API last returned it. */
  pods: Map<string, PodConditionRead>;
  /** Last desired condition per kind, for edge-triggered Events. */
  eventBase: Map<
    ProbeKind,
    { status: ConditionStatus; reason: string; message: string; provisional: boolean }
  >;
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

/**
 * The first state of a VMI. `seeded` is what an earlier agent stored for it (start()'s LIST): it is
 * the object to diff against, and its conditions are the Event baseline (no duplicate Event after a
 * restart).
 */
export function newVmiState(report: VmiProbeReport, seeded: ProbeStatusObject | undefined): VmiState {
  const st: VmiState = {
    vmi: { ...report.vmi },
    desired: report,
    object: seeded,
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
  for (const c of seeded?.status?.conditions ?? []) {
    const kind = KIND_OF_TYPE.get(c.type);
    if (kind)
      st.eventBase.set(kind, { status: c.status, reason: c.reason, message: c.message, provisional: false });
  }
  return st;
}

/**
 * Queues the Events for conditions whose status or reason changed since the last desired state, and
 * for a first verdict that repeats its provisional state (a probe resumed as failed: shown with an
 * empty message, or with its carried message and `provisional`). A provisional failure (no verdict
 * yet) queues nothing: its Event comes with the verdict.
 */
export function queueTransitionEvents(st: VmiState): void {
  for (const c of st.desired.conditions) {
    const prev = st.eventBase.get(c.kind);
    const provisional = isProvisionalFailure(c);
    st.eventBase.set(c.kind, { status: c.status, reason: c.reason, message: c.message, provisional });
    const verdictArrived = prev?.provisional === true && !provisional;
    const changed = !prev || prev.status !== c.status || prev.reason !== c.reason || verdictArrived;
    if (!changed) continue;
    if (provisional) continue;
    const intent = eventFor(c);
    if (intent) st.pendingEvents.set(`${c.kind}/${intent.reason}`, { intent, attempts: 0 });
  }
  for (const kind of [...st.eventBase.keys()])
    if (!st.desired.conditions.some((c) => c.kind === kind)) st.eventBase.delete(kind);
}

/** A failure not yet confirmed by a verdict: marked `provisional`, or shown with an empty message. */
function isProvisionalFailure(c: ProbeConditionReport): boolean {
  return isFailure(c) && (c.provisional === true || c.message === '');
}

/** The desired state holds a failure (a reminder Event is due while it lasts). */
export function hasFailure(st: VmiState): boolean {
  return st.desired.conditions.some(isFailure);
}

/** Queues a reminder for every failing condition (kept if one is already pending); true if any. */
export function queueReminderEvents(st: VmiState): boolean {
  let queued = false;
  for (const c of st.desired.conditions) {
    const intent = isFailure(c) && !isProvisionalFailure(c) ? eventFor(c) : undefined; // provisional: no reminder
    if (!intent) continue;
    const key = `${c.kind}/${intent.reason}`;
    if (!st.pendingEvents.has(key)) st.pendingEvents.set(key, { intent, attempts: 0 });
    queued = true;
  }
  return queued;
}
