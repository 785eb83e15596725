// The reporter's memory of one VMI (`VmiState`) and the ONLY code that changes it.
//
// One owner: every field is read-only to the rest of the reporter; each change is a named function
// here with a one-line contract. ApiReporter (./reporter.ts) owns the VmiStates' lifetime and their
// two timers (it creates and clears the timers on its Clock and records them here); VmiSync
// (./vmi-sync.ts) records what the API returned; the heartbeat (./stored-statuses.ts) records drift.
// The decisions (what a kick does, what follows a sync, whether a failed Event is dropped, which
// Events a new desired state calls for) are pure functions, table-tested in
// agent/test/report-vmi-state.test.ts. Nothing here starts a timer or makes a write.

import type { ProbeKind } from '@vmprobe/shared';
import type { Clock, TimerHandle } from '../clock.js';
import type { PodConditionRead, ProbeStatusObject } from '../kube/api.js';
import type { EventIntent } from './events.js';
import type { ConditionStatus, ProbeConditionReport, VmiProbeReport, VmiRef } from './types.js';
import { eventFor, isFailure, KIND_OF_TYPE } from './write-plan.js';

export interface PendingEvent {
  readonly intent: EventIntent;
  readonly attempts: number;
}

/** The Event baseline of one condition (what the last desired state showed). */
export interface EventBase {
  status: ConditionStatus;
  reason: string;
  message: string;
  provisional: boolean;
}

export interface VmiState {
  readonly vmi: VmiRef;
  readonly desired: VmiProbeReport;
  /** The VMIProbeStatus as the API last returned or listed it; undefined = not known to exist. */
  readonly object: ProbeStatusObject | undefined;
  /** Gate condition each launcher pod holds (by pod uid), as the API last returned it. */
  readonly pods: ReadonlyMap<string, PodConditionRead>;
  /** Last desired condition per kind, for edge-triggered Events. */
  readonly eventBase: ReadonlyMap<ProbeKind, EventBase>;
  /** Events waiting to be written, one per kind × reason at most. */
  readonly pendingEvents: ReadonlyMap<string, PendingEvent>;
  /** A sync of this VMI is running. */
  readonly running: boolean;
  /** A newer desired state (or drift) arrived while a sync ran: sync again when it ends. */
  readonly dirty: boolean;
  /** Last sync left nothing to do. */
  readonly clean: boolean;
  /** Failed syncs in a row (the backoff's attempt number). */
  readonly attempt: number;
  readonly retryTimer: TimerHandle | undefined;
  /** The pending retry waits for the API to heal (429/5xx/network): new updates wait for it too. */
  readonly retryForHealth: boolean;
  /** The pending retry follows a network error / 5xx (no 429): apiReachable() runs it at once. */
  readonly retryForOutage: boolean;
  readonly reminderTimer: TimerHandle | undefined;
  readonly forgotten: boolean;
  /** Aborted by forget()/stop(): drops this VMI's queued write-token waits (no timer outlives it). */
  readonly abort: AbortController;
  /** The tail of this VMI's gate lane: its pod-gate syncs run one after another (inGateLane). */
  readonly gateLane: Promise<void>;
  /** An express gate sync is queued in the lane and has not started (it will write the latest). */
  readonly gateExpressQueued: boolean;
}

/** The same state, writable: only this module holds it so. */
interface OwnedVmiState {
  vmi: VmiRef;
  desired: VmiProbeReport;
  object: ProbeStatusObject | undefined;
  pods: Map<string, PodConditionRead>;
  eventBase: Map<ProbeKind, EventBase>;
  pendingEvents: Map<string, { intent: EventIntent; attempts: number }>;
  running: boolean;
  dirty: boolean;
  clean: boolean;
  attempt: number;
  retryTimer: TimerHandle | undefined;
  retryForHealth: boolean;
  retryForOutage: boolean;
  reminderTimer: TimerHandle | undefined;
  forgotten: boolean;
  abort: AbortController;
  gateLane: Promise<void>;
  gateExpressQueued: boolean;
}

function own(st: VmiState): OwnedVmiState {
  return st as OwnedVmiState;
}

/**
 * The first state of a VMI. `seeded` is what an earlier agent stored for it (start()'s LIST): it is
 * the object to diff against, and its conditions are the Event baseline (no duplicate Event after a
 * restart).
 */
export function newVmiState(report: VmiProbeReport, seeded: ProbeStatusObject | undefined): VmiState {
  const st: OwnedVmiState = {
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
    gateLane: Promise.resolve(),
    gateExpressQueued: false,
  };
  for (const c of seeded?.status?.conditions ?? []) {
    const kind = KIND_OF_TYPE.get(c.type);
    if (kind)
      st.eventBase.set(kind, { status: c.status, reason: c.reason, message: c.message, provisional: false });
  }
  return st;
}

/**
 * The Event a condition calls for against its baseline (pure): one when its status or reason
 * changed, or when a first verdict repeats its provisional state (a probe resumed as failed: shown
 * with an empty message, or with its carried message and `provisional`). A provisional failure (no
 * verdict yet) calls for none: its Event comes with the verdict.
 */
export function transitionEvent(
  prev: EventBase | undefined,
  c: ProbeConditionReport,
): EventIntent | undefined {
  const provisional = isProvisionalFailure(c);
  const verdictArrived = prev?.provisional === true && !provisional;
  const changed = !prev || prev.status !== c.status || prev.reason !== c.reason || verdictArrived;
  if (!changed || provisional) return undefined;
  return eventFor(c);
}

/** The Event baseline a condition leaves for the next desired state (pure). */
export function eventBaseOf(c: ProbeConditionReport): EventBase {
  return { status: c.status, reason: c.reason, message: c.message, provisional: isProvisionalFailure(c) };
}

/** Queues the transition Events of the desired state (transitionEvent) and moves the baseline to it. */
export function queueTransitionEvents(vmiState: VmiState): void {
  const st = own(vmiState);
  for (const c of st.desired.conditions) {
    const intent = transitionEvent(st.eventBase.get(c.kind), c);
    st.eventBase.set(c.kind, eventBaseOf(c));
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
export function queueReminderEvents(vmiState: VmiState): boolean {
  const st = own(vmiState);
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

// ---------------------------------------------------------------------------------------------
// Desired state and Events (ApiReporter, VmiSync)

/** Takes `report` (already bounded) as the newest desired state, queues its transition Events and
 *  marks the VMI not clean. */
export function desire(vmiState: VmiState, report: VmiProbeReport): void {
  const st = own(vmiState);
  st.vmi = { ...report.vmi };
  st.desired = report;
  queueTransitionEvents(st);
  st.clean = false;
}

/** Reminder timer fired: queues the reminders (queueReminderEvents); true (and not clean) if any. */
export function remind(vmiState: VmiState): boolean {
  const st = own(vmiState);
  st.reminderTimer = undefined;
  if (!queueReminderEvents(st)) return false;
  st.clean = false;
  return true;
}

/** The pending Event `key` was written: it leaves the queue. */
export function eventWritten(vmiState: VmiState, key: string): void {
  own(vmiState).pendingEvents.delete(key);
}

/** What follows a failed Event write (pure): drop it when the error will not heal or the attempts
 *  (this one included) reached `maxAttempts`, else retry with the VMI's next sync. */
export function eventAfterFailure(
  attempts: number,
  permanent: boolean,
  maxAttempts: number,
): 'drop' | 'retry' {
  return permanent || attempts >= maxAttempts ? 'drop' : 'retry';
}

/** The pending Event `key` failed: counts the attempt, drops it per eventAfterFailure; returns which. */
export function eventFailed(
  vmiState: VmiState,
  key: string,
  permanent: boolean,
  maxAttempts: number,
): 'drop' | 'retry' {
  const st = own(vmiState);
  const pe = st.pendingEvents.get(key);
  if (!pe) return 'drop';
  pe.attempts++;
  const next = eventAfterFailure(pe.attempts, permanent, maxAttempts);
  if (next === 'drop') st.pendingEvents.delete(key);
  return next;
}

// ---------------------------------------------------------------------------------------------
// What the API stores (VmiSync, the heartbeat)

/** The VMIProbeStatus as the API last returned or listed it (undefined: gone, create it next). */
export function rememberObject(vmiState: VmiState, obj: ProbeStatusObject | undefined): void {
  own(vmiState).object = obj;
}

/** The gate condition pod `podUid` holds, as the API returned it (or the informer cache has it). */
export function rememberPodCondition(vmiState: VmiState, podUid: string, cond: PodConditionRead): void {
  own(vmiState).pods.set(podUid, cond);
}

/** Forgets what pod `podUid` holds (gone, another pod, a write not stored, drift): re-checked next. */
export function forgetPodCondition(vmiState: VmiState, podUid: string): void {
  own(vmiState).pods.delete(podUid);
}

/** Forgets the pods the desired report no longer lists. */
export function forgetUnlistedPods(vmiState: VmiState): void {
  const st = own(vmiState);
  const listed = new Set(st.desired.launcherPods.map((p) => p.uid));
  for (const uid of [...st.pods.keys()]) if (!listed.has(uid)) st.pods.delete(uid);
}

/** The heartbeat found drift: `object` replaces the memory of the VMIProbeStatus when it drifted,
 *  the drifted pods are forgotten, and the VMI is not clean (the caller kicks a sync). */
export function markDrifted(
  vmiState: VmiState,
  drift: { object: boolean; listed: ProbeStatusObject | undefined; pods: readonly string[] },
): void {
  const st = own(vmiState);
  if (drift.object) st.object = drift.listed;
  for (const uid of drift.pods) st.pods.delete(uid);
  st.clean = false;
}

// ---------------------------------------------------------------------------------------------
// Scheduling (ApiReporter): one sync at a time, retries, reminders

/** What a kick does (pure): a running sync is marked dirty (it syncs again when done); a retry
 *  waiting for the API to heal is kept (it writes the latest state); otherwise a sync starts (a
 *  pending retry for any other reason is cancelled first). */
export function kickDecision(s: {
  running: boolean;
  retryPending: boolean;
  retryForHealth: boolean;
}): 'mark-dirty' | 'wait-for-retry' | 'start' {
  if (s.running) return 'mark-dirty';
  if (s.retryPending && s.retryForHealth) return 'wait-for-retry';
  return 'start';
}

/** Applies kickDecision and returns it; on 'start' the VMI is marked running and the caller must
 *  run a sync now; on 'mark-dirty' the running sync will be followed by another. */
export function beginSync(vmiState: VmiState, clock: Clock): ReturnType<typeof kickDecision> {
  const st = own(vmiState);
  const d = kickDecision({
    running: st.running,
    retryPending: st.retryTimer !== undefined,
    retryForHealth: st.retryForHealth,
  });
  if (d === 'mark-dirty') st.dirty = true;
  if (d !== 'start') return d;
  cancelRetry(st, clock);
  st.running = true;
  st.dirty = false;
  return d;
}

// ---------------------------------------------------------------------------------------------
// The gate lane (VmiSync): a VMI's pod-gate syncs, serialized apart from its VMIProbeStatus sync

/** Runs `fn` after every gate sync of this VMI queued before it (never two at once: no duplicate
 *  pod write); the lane goes on whether `fn` succeeds or fails. */
export function inGateLane<T>(vmiState: VmiState, fn: () => Promise<T>): Promise<T> {
  const st = own(vmiState);
  const run = st.gateLane.then(fn);
  st.gateLane = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}

/** Claims the VMI's one queued express gate sync; false when one is already queued (it will write
 *  the latest readiness, so a second would be redundant). */
export function claimGateExpress(vmiState: VmiState): boolean {
  const st = own(vmiState);
  if (st.gateExpressQueued) return false;
  st.gateExpressQueued = true;
  return true;
}

/** The queued express gate sync starts: a newer update may queue another. */
export function gateExpressStarted(vmiState: VmiState): void {
  own(vmiState).gateExpressQueued = false;
}

/** What follows a sync (pure). `delayMs` is the backoff chosen for a failure (attempt counted). */
export type AfterSync =
  | { next: 'resync' } // ok, and a newer state arrived meanwhile
  | { next: 'clean' } // ok, nothing left to write
  | { next: 'give-up' } // draining, and the retry would land past the flush deadline
  | { next: 'retry-now' } // failed for a reason that does not heal alone, and a newer state waits
  | { next: 'retry-later'; delayMs: number; forHealth: boolean; forOutage: boolean };

export function afterSyncDecision(s: {
  ok: boolean;
  health: boolean;
  outage: boolean;
  dirty: boolean;
  delayMs: number;
  draining: boolean;
  nowMs: number;
  drainDeadlineMs: number;
}): AfterSync {
  if (s.ok) return s.dirty ? { next: 'resync' } : { next: 'clean' };
  const delayMs = s.draining ? Math.min(s.delayMs, 250) : s.delayMs;
  if (s.draining && s.nowMs + delayMs > s.drainDeadlineMs) return { next: 'give-up' };
  if (s.dirty && !s.health) return { next: 'retry-now' };
  return { next: 'retry-later', delayMs, forHealth: s.health && !s.dirty, forOutage: s.outage };
}

/** A sync ended: not running; the failure count resets on success, else grows. Returns it. */
export function endSync(vmiState: VmiState, ok: boolean): number {
  const st = own(vmiState);
  st.running = false;
  st.attempt = ok ? 0 : st.attempt + 1;
  return st.attempt;
}

/** The last sync left nothing to write. */
export function markClean(vmiState: VmiState): void {
  own(vmiState).clean = true;
}

/** Records the retry timer the caller armed and what it waits for (AfterSync 'retry-later'). */
export function retryArmed(
  vmiState: VmiState,
  timer: TimerHandle,
  forHealth: boolean,
  forOutage: boolean,
): void {
  const st = own(vmiState);
  st.retryTimer = timer;
  st.retryForHealth = forHealth;
  st.retryForOutage = forOutage;
}

/** The retry timer fired: no retry is pending any more. */
export function retryFired(vmiState: VmiState): void {
  const st = own(vmiState);
  st.retryTimer = undefined;
  st.retryForHealth = false;
  st.retryForOutage = false;
}

/** Clears a pending retry timer (idempotent); true if one was pending. */
export function cancelRetry(vmiState: VmiState, clock: Clock): boolean {
  const st = own(vmiState);
  if (st.retryTimer === undefined) return false;
  clock.clearTimeout(st.retryTimer);
  retryFired(st);
  return true;
}

/** A reminder is due to be armed (pure): reminders on, none armed, and the state holds a failure. */
export function reminderDue(st: VmiState, reminderMs: number): boolean {
  return reminderMs > 0 && st.reminderTimer === undefined && hasFailure(st);
}

/** Records the reminder timer the caller armed. */
export function reminderArmed(vmiState: VmiState, timer: TimerHandle): void {
  own(vmiState).reminderTimer = timer;
}

/** Ends this VMI's life in the reporter: its token waits are aborted and both timers cleared;
 *  `forgotten` (forget(), not stop()) also makes every later step a no-op. Idempotent. */
export function release(vmiState: VmiState, clock: Clock, forgotten: boolean): void {
  const st = own(vmiState);
  if (forgotten) st.forgotten = true;
  st.abort.abort();
  cancelRetry(st, clock);
  if (st.reminderTimer !== undefined) clock.clearTimeout(st.reminderTimer);
  st.reminderTimer = undefined;
}
