// The probe manager: keeps one worker per VMI × probe kind in line with the desired probe set
// (discovery/desired.ts), applies the stateful rules (startup gating, liveness suspension while
// paused or migrating, starting states), and on every change builds the VMI's full VmiProbeReport
// for the reporter. It never calls the API itself.
//
// Inputs are level-based: upsertVmi/removeVmi/upsertPod/removePod (from the watchers, any order,
// duplicates harmless) and resync() after a relist. Nothing runs before start(). A worker is
// replaced only when its own key (resolved spec + target + starting conditions) changes, so a
// changed spec or address restarts only that worker. stop() stops every worker; idempotent.
import {
  CONDITION_TYPE,
  LABEL_CREATED_BY,
  PROBE_KINDS,
  type ProbeKind,
  podHasReadinessGate,
  REASON,
} from '@vmprobe/shared';
import { type Clock, systemClock } from '../clock.js';
import {
  type DesiredProbe,
  desiredProbes,
  guestProbeSuspension,
  isGuestHandler,
  isProbedHere,
  livenessSuspension,
  runningSince,
} from '../discovery/desired.js';
import type { Logger } from '../log.js';
import type { PodObject, VmiObject } from '../model/objects.js';
import type { AgentObserver, HandlerType, ProbeIdentity, ProbeState } from '../observer.js';
import type { ProbeOutcome } from '../probers/types.js';
import type {
  ConditionStatus,
  PodRef,
  ProbeConditionReport,
  Reporter,
  VmiProbeReport,
  VmiRef,
} from '../report/types.js';
import type { ProbeSnapshot } from '../snapshot.js';
import { type AddressPolicy, type GuestProbeConfig, launcherPodsOf, targetKey } from '../targets/index.js';
import {
  armsLivenessAction,
  type CarriedCondition,
  conditionAfterResult,
  isLivenessRecovery,
  STATE_OF,
  STATUS_OF,
  startingState,
} from './decisions.js';
import type { LivenessHandler, ManagedWorker, WorkerFactory } from './types.js';

export interface ProbeManagerOptions {
  nodeName: string;
  reporter: Reporter;
  observer: AgentObserver;
  logger: Logger;
  createWorker: WorkerFactory;
  addressPolicy: AddressPolicy;
  /** Guest probes enabled (exec, guestAgentPing through the launcher socket; targets/guest.ts). */
  guestProbes?: GuestProbeConfig;
  liveness?: LivenessHandler;
  clock?: Clock;
}

interface ProbeEntry {
  kind: ProbeKind;
  handler: HandlerType;
  /** What decides a restart: equal key → keep the worker. */
  key: string;
  worker?: ManagedWorker;
  state: ProbeState;
  status: ConditionStatus;
  reason: string;
  message: string;
  display: string | null;
  address?: string;
  periodSeconds: number;
  suspended: boolean;
  /** Threshold state of the last worker of this probe (carried into its replacement). */
  lastRunState?: ProbeState;
  /** The reason and message shown with `lastRunState` (carried into the replacement with it). */
  lastRunShown?: CarriedCondition;
  /** The current worker has reached its first confirmed verdict (false: the state is provisional). */
  confirmed: boolean;
  successes: number;
  failures: number;
  lastProbeTime: number | null;
  lastTransitionTime: number | null;
  log: Logger;
  /** The observer identity of this probe, built once per handler: the metrics find their record
   *  through it in a WeakMap on every result (a fresh object per call would miss every time). */
  identity?: ProbeIdentity;
}

interface VmiEntry {
  ref: VmiRef;
  probes: Map<ProbeKind, ProbeEntry>;
  /** The startup probe has succeeded (or there is none): liveness/readiness may run. */
  started: boolean;
  /** The report last handed to the reporter (which keeps the same object as its desired state, so
   *  this costs nothing); an equal new one (sameReport) is not handed again. */
  lastReport?: VmiProbeReport;
  /** Enrolment of the current launcher pod (readiness probe only), as last reported. */
  readinessGate?: { enforced: boolean; pod: string };
}

export class ProbeManager {
  private readonly vmis = new Map<string, VmiObject>();
  /** vmi uid → pod uid → pod */
  private readonly podsByVmi = new Map<string, Map<string, PodObject>>();
  private readonly podOwner = new Map<string, string>();
  private readonly entries = new Map<string, VmiEntry>();
  private readonly clock: Clock;
  private running = false;

  constructor(private readonly opts: ProbeManagerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Starts probing what the caches hold (call once both watchers synced and the reporter loaded). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const uid of this.vmis.keys()) this.reconcile(uid);
  }

  /** Stops every worker (no report, no forget: the reporter flushes what it has). Idempotent. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const e of this.entries.values()) for (const p of e.probes.values()) this.stopWorker(p);
  }

  upsertVmi(vmi: VmiObject): void {
    const uid = vmi.metadata?.uid;
    if (!uid) return;
    this.vmis.set(uid, vmi);
    this.reconcile(uid);
  }

  removeVmi(vmi: VmiObject): void {
    const uid = vmi.metadata?.uid;
    if (!uid) return;
    this.vmis.delete(uid);
    this.reconcile(uid);
  }

  upsertPod(pod: PodObject): void {
    const podUid = pod.metadata?.uid;
    if (!podUid) return;
    const previous = this.podOwner.get(podUid);
    const owner = pod.metadata?.labels?.[LABEL_CREATED_BY];
    if (previous !== undefined && previous !== owner) this.detachPod(podUid, previous);
    if (!owner) return;
    this.podOwner.set(podUid, owner);
    let m = this.podsByVmi.get(owner);
    if (!m) {
      m = new Map();
      this.podsByVmi.set(owner, m);
    }
    m.set(podUid, pod);
    this.reconcile(owner);
  }

  removePod(pod: PodObject): void {
    const podUid = pod.metadata?.uid;
    if (!podUid) return;
    const owner = this.podOwner.get(podUid);
    if (owner !== undefined) this.detachPod(podUid, owner);
  }

  /** Replace both caches after a relist; objects missing from them are removed. */
  resync(vmis: Iterable<VmiObject>, pods: Iterable<PodObject>): void {
    const before = new Set([...this.vmis.keys(), ...this.entries.keys()]);
    this.vmis.clear();
    this.podsByVmi.clear();
    this.podOwner.clear();
    for (const v of vmis) if (v.metadata?.uid) this.vmis.set(v.metadata.uid, v);
    for (const p of pods) {
      const podUid = p.metadata?.uid;
      const owner = p.metadata?.labels?.[LABEL_CREATED_BY];
      if (!podUid || !owner) continue;
      this.podOwner.set(podUid, owner);
      let m = this.podsByVmi.get(owner);
      if (!m) {
        m = new Map();
        this.podsByVmi.set(owner, m);
      }
      m.set(podUid, p);
    }
    for (const uid of new Set([...before, ...this.vmis.keys()])) this.reconcile(uid);
  }

  /** Every probe of every VMI, for /debug/probes. */
  snapshot(): ProbeSnapshot[] {
    const out: ProbeSnapshot[] = [];
    for (const e of this.entries.values()) {
      for (const kind of PROBE_KINDS) {
        const p = e.probes.get(kind);
        if (!p) continue;
        out.push({
          namespace: e.ref.namespace,
          vmi: e.ref.name,
          uid: e.ref.uid,
          probe: kind,
          handler: p.handler,
          target: p.display,
          state: p.state,
          reason: p.reason,
          message: p.message,
          consecutiveSuccesses: p.successes,
          consecutiveFailures: p.failures,
          periodSeconds: p.periodSeconds,
          lastProbeTime: p.lastProbeTime === null ? null : new Date(p.lastProbeTime).toISOString(),
          lastTransitionTime:
            p.lastTransitionTime === null ? null : new Date(p.lastTransitionTime).toISOString(),
          suspended: p.suspended,
          ...(kind === 'readiness' && e.readinessGate
            ? { readinessGate: e.readinessGate.enforced ? ('enforced' as const) : ('not-enforced' as const) }
            : {}),
        });
      }
    }
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.vmi.localeCompare(b.vmi));
  }

  /** VMIs whose current launcher pod lacks vmprobe's readiness gate (the metric; issue 9). */
  readinessNotEnforcedCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.readinessGate?.enforced === false) n++;
    return n;
  }

  /** Number of running workers (tests, metrics). */
  get workerCount(): number {
    let n = 0;
    for (const e of this.entries.values()) for (const p of e.probes.values()) if (p.worker) n++;
    return n;
  }

  private detachPod(podUid: string, owner: string): void {
    this.podOwner.delete(podUid);
    const m = this.podsByVmi.get(owner);
    if (m) {
      m.delete(podUid);
      if (m.size === 0) this.podsByVmi.delete(owner);
    }
    this.reconcile(owner);
  }

  private podsOf(uid: string): PodObject[] {
    const m = this.podsByVmi.get(uid);
    return m ? [...m.values()] : [];
  }

  /** Brings one VMI's workers and report in line with the caches. */
  private reconcile(uid: string): void {
    if (!this.running) return;
    const vmi = this.vmis.get(uid);
    if (!vmi || !isProbedHere(vmi, this.opts.nodeName)) {
      this.dropVmi(uid);
      return;
    }
    const launcherPods = launcherPodsOf(vmi, this.podsOf(uid), this.opts.nodeName);
    const desired = desiredProbes(vmi, launcherPods, {
      addressPolicy: this.opts.addressPolicy,
      ...(this.opts.guestProbes ? { guestProbes: this.opts.guestProbes } : {}),
    });
    if (desired.size === 0) {
      this.dropVmi(uid);
      return;
    }
    const ref: VmiRef = { namespace: vmi.metadata?.namespace ?? '', name: vmi.metadata?.name ?? '', uid };
    let entry = this.entries.get(uid);
    if (!entry) {
      entry = { ref, probes: new Map(), started: !desired.has('startup') };
      this.entries.set(uid, entry);
    }
    if (!desired.has('startup')) entry.started = true;
    for (const [kind, p] of entry.probes) {
      if (!desired.has(kind)) this.removeProbe(entry, p);
    }
    const suspension = livenessSuspension(vmi);
    for (const d of desired.values()) this.applyProbe(entry, vmi, d, suspension);
    this.report(entry, launcherPods);
  }

  private applyProbe(
    entry: VmiEntry,
    vmi: VmiObject,
    d: DesiredProbe,
    suspension: 'paused' | 'migrating' | undefined,
  ): void {
    const gated = d.kind !== 'startup' && !entry.started;
    // Guest probes of every kind stop (not run, not counted) while the guest agent is meant to be
    // unreachable; a readiness/startup one holds its last status instead of dropping to Unknown.
    const guestHold = isGuestHandler(d.handler) ? guestProbeSuspension(vmi) : undefined;
    const suspended = (d.kind === 'liveness' && suspension !== undefined) || guestHold !== undefined;
    const existingProbe = entry.probes.get(d.kind);
    let fixed: { status: ConditionStatus; reason: string; message: string } | undefined;
    if (d.mode === 'fixed') fixed = d;
    else if (suspended && d.kind === 'liveness')
      fixed = {
        status: 'Unknown',
        reason: REASON.Suspended,
        message: `liveness suspended: ${guestHold ?? `VMI ${suspension}`}`,
      };
    else if (guestHold !== undefined) {
      const held =
        existingProbe && existingProbe.reason !== REASON.Initializing
          ? existingProbe.status
          : (this.opts.reporter.lastReported(entry.ref.uid)?.conditions[d.kind] ??
            (d.kind === 'readiness' ? 'False' : 'Unknown'));
      fixed = {
        status: held,
        reason: REASON.Suspended,
        message: `${d.handler} probe suspended: ${guestHold}`,
      };
    } else if (gated) {
      fixed = {
        status: d.kind === 'readiness' ? 'False' : 'Unknown',
        reason: REASON.StartupPending,
        message: 'waiting for the startup probe to succeed',
      };
    } else if (d.kind === 'startup' && entry.started) {
      fixed = { status: 'True', reason: REASON.ProbeSucceeded, message: 'startup probe succeeded' };
    }
    const key = fixed
      ? `fixed:${d.handler}:${fixed.status}:${fixed.reason}:${fixed.message}`
      : `run:${JSON.stringify(d.mode === 'run' ? d.probe : null)}:${d.mode === 'run' ? targetKey(d.target) : ''}`;
    const existing = entry.probes.get(d.kind);
    if (existing && existing.key === key) return;
    const log =
      existing?.log ??
      this.opts.logger.child({ namespace: entry.ref.namespace, vmi: entry.ref.name, probe: d.kind });
    if (existing) {
      this.stopWorker(existing);
      if (existing.handler !== d.handler) this.opts.observer.probeRemoved(this.identity(entry, existing));
    }
    const p: ProbeEntry = existing ?? {
      kind: d.kind,
      handler: d.handler,
      key,
      state: 'unknown',
      status: 'Unknown',
      reason: REASON.Initializing,
      message: '',
      display: null,
      periodSeconds: d.periodSeconds,
      suspended: false,
      successes: 0,
      failures: 0,
      lastProbeTime: null,
      lastTransitionTime: null,
      confirmed: false,
      log,
    };
    p.key = key;
    p.handler = d.handler;
    p.periodSeconds = d.periodSeconds;
    p.suspended = suspended || gated;
    p.display = d.mode === 'run' ? d.display : null;
    p.address = d.mode === 'run' ? d.address : undefined;
    entry.probes.set(d.kind, p);
    if (fixed) {
      this.setCondition(entry, p, STATE_OF[fixed.status], fixed.status, fixed.reason, fixed.message);
      if (d.mode === 'fixed' && existing?.reason !== d.reason) {
        p.log.warn({ reason: d.reason, fieldPath: d.fieldPath }, d.message);
      }
      return;
    }
    if (d.mode !== 'run') return;
    // Starting state (decisions.ts), except for a readiness probe that arrived here by live
    // migration (issue 9) with nothing of its own to start from: the VMI's Ready is the source pod's,
    // which the source node's agent decided through the gate. Start from it, so the target pod's gate
    // is written True at once and the Service keeps the endpoint, and probe at once for a verdict of
    // our own.
    const lastReported = this.opts.reporter.lastReported(entry.ref.uid);
    let start = startingState(d.kind, p.lastRunState, lastReported?.conditions[d.kind], {
      lastRun: p.lastRunShown,
      lastReported: lastReported?.shown?.[d.kind],
    });
    const fromMigration =
      d.kind === 'readiness' && start.reason === REASON.Initializing && migratedHere(vmi, this.opts.nodeName);
    if (fromMigration) {
      const state = vmiReady(vmi) ? 'success' : 'failure';
      start = {
        state,
        reason: state === 'success' ? REASON.ProbeSucceeded : REASON.ProbeFailed,
        message: '',
      };
    }
    const initial = start.state;
    const since = runningSince(vmi);
    const delayMs = Math.max(
      0,
      (since ?? this.clock.now()) + d.probe.initialDelaySeconds * 1000 - this.clock.now(),
    );
    const startedFor = key;
    p.successes = 0;
    p.failures = 0;
    p.confirmed = false;
    const keepReason =
      p.status === STATUS_OF[initial] && p.reason !== REASON.StartupPending && p.reason !== REASON.Suspended;
    const initialReason = keepReason ? p.reason : start.reason;
    const initialMessage = keepReason ? p.message : start.message;
    p.lastRunState = initial;
    p.lastRunShown = { reason: initialReason, message: initialMessage };
    this.setCondition(entry, p, initial, STATUS_OF[initial], initialReason, initialMessage);
    p.worker = this.opts.createWorker({
      probe: d.probe,
      target: d.target,
      initialState: initial,
      initialDelayMs: delayMs,
      probeAtOnce: fromMigration,
      clock: this.clock,
      onResult: (outcome, state, lag) => {
        if (p.key !== startedFor || !this.running) return;
        this.onResult(entry, p, outcome, state, lag);
      },
      onTransition: (state, outcome) => {
        if (p.key !== startedFor || !this.running) return;
        this.onTransition(entry, p, state, outcome);
      },
    });
    p.log.info(
      { target: d.display, initialState: initial, initialDelayMs: delayMs, handler: d.handler },
      'probe started',
    );
    p.worker.start();
  }

  private onResult(
    entry: VmiEntry,
    p: ProbeEntry,
    outcome: ProbeOutcome,
    state: ProbeState,
    lag: number,
  ): void {
    if (outcome.result === 'success' || outcome.result === 'warning') {
      p.successes++;
      p.failures = 0;
    } else if (outcome.result === 'failure') {
      p.failures++;
      p.successes = 0;
    }
    p.lastProbeTime = outcome.timings.startedAt + outcome.timings.durationMs;
    this.opts.observer.probeResult(this.identity(entry, p), outcome, state, lag);
    if (outcome.result === 'unknown' && !p.confirmed) {
      // No verdict yet: the condition shows why the probe cannot run, its status unchanged.
      const shown = conditionAfterResult(p, { state, outcome }, false, false);
      if (shown.reason !== p.reason || shown.message !== p.message) {
        this.setCondition(entry, p, p.state, shown.status, shown.reason, shown.message);
        const vmi = this.vmis.get(entry.ref.uid);
        if (vmi) this.report(entry, launcherPodsOf(vmi, this.podsOf(entry.ref.uid), this.opts.nodeName));
      }
    }
    if (p.log.isLevelEnabled('debug')) {
      p.log.debug(
        {
          result: outcome.result,
          reason: outcome.reason,
          durationMs: outcome.timings.durationMs,
          scheduleLagMs: lag,
          target: p.display,
        },
        outcome.message || 'probe result',
      );
    }
  }

  private onTransition(entry: VmiEntry, p: ProbeEntry, state: ProbeState, outcome: ProbeOutcome): void {
    p.lastRunState = state;
    p.confirmed = true;
    const shown = conditionAfterResult(p, { state, outcome }, true, true);
    p.lastRunShown = { reason: shown.reason, message: shown.message };
    this.setCondition(entry, p, state, shown.status, shown.reason, shown.message);
    const vmi = this.vmis.get(entry.ref.uid);
    if (!vmi) return;
    const launcherPods = launcherPodsOf(vmi, this.podsOf(entry.ref.uid), this.opts.nodeName);
    // Every failure verdict arms the action, the first one after a provisional 'failure' included
    // (resume after pause/migration/restart); the handler acts once per failure.
    if (armsLivenessAction(p.kind, state)) {
      this.opts.liveness?.onFailure({
        vmi: entry.ref,
        nodeName: this.opts.nodeName,
        probe: p.kind,
        launcherPods: launcherPods.filter((x) => x.spec?.nodeName === this.opts.nodeName).map(podRef),
        ...(typeof vmi.spec?.terminationGracePeriodSeconds === 'number'
          ? { terminationGracePeriodSeconds: vmi.spec.terminationGracePeriodSeconds }
          : {}),
        message: outcome.message,
      });
    }
    if (p.kind === 'startup' && state === 'success' && !entry.started) {
      entry.started = true;
      this.reconcile(entry.ref.uid); // stops the startup worker, starts the gated ones, reports
      return;
    }
    this.report(entry, launcherPods);
  }

  /**
   * The one place a probe's state and shown condition change. Side effects, both here so no caller
   * can skip them: leaving failure (success, suspension, a fixed condition) calls
   * `liveness.onRecovery` (isLivenessRecovery: cancels a pending stop, re-arms the action); a change
   * of status or reason goes to the observer and the info log. Reporting is the caller's (report()).
   */
  private setCondition(
    entry: VmiEntry,
    p: ProbeEntry,
    state: ProbeState,
    status: ConditionStatus,
    reason: string,
    message: string,
  ): void {
    const changed = p.status !== status || p.reason !== reason || p.lastTransitionTime === null;
    if (isLivenessRecovery(p.kind, p.state, state)) {
      this.opts.liveness?.onRecovery?.(entry.ref.uid);
    }
    if (p.status !== status || p.lastTransitionTime === null) p.lastTransitionTime = this.clock.now();
    p.state = state;
    p.status = status;
    p.reason = reason;
    p.message = message;
    if (changed) {
      this.opts.observer.probeState(this.identity(entry, p), state, reason);
      p.log.info(
        { state, status, reason, target: p.display },
        message || `${CONDITION_TYPE[p.kind]} ${status}`,
      );
    }
  }

  private report(entry: VmiEntry, launcherPods: readonly PodObject[]): void {
    const conditions = PROBE_KINDS.flatMap((kind) => {
      const p = entry.probes.get(kind);
      if (!p) return [];
      const c: ProbeConditionReport = { kind, status: p.status, reason: p.reason, message: p.message };
      // A failure carried into a worker that has no verdict yet (resume, restart): no Event for it.
      const carriedFailure = p.reason === REASON.ProbeFailed || p.reason === REASON.ProbeTimeout;
      if (p.worker && !p.confirmed && carriedFailure && p.message !== '') c.provisional = true;
      return [c];
    });
    const targetProbe =
      entry.probes.get('readiness') ?? entry.probes.get('liveness') ?? entry.probes.get('startup');
    const report: VmiProbeReport = {
      vmi: entry.ref,
      nodeName: this.opts.nodeName,
      ...(targetProbe?.address ? { target: targetProbe.address } : {}),
      conditions,
      launcherPods: entry.probes.has('readiness')
        ? launcherPods.filter((x) => !x.metadata?.deletionTimestamp && x.metadata?.name).map(podRef)
        : [],
    };
    // Enrolment (issue 9): the VMI's current launcher pod on this node, gated or not.
    const current = entry.probes.has('readiness')
      ? launcherPods.find(
          (x) =>
            x.spec?.nodeName === this.opts.nodeName && !x.metadata?.deletionTimestamp && x.metadata?.name,
        )
      : undefined;
    entry.readinessGate = current
      ? { enforced: podHasReadinessGate(current), pod: current.metadata?.name ?? '' }
      : undefined;
    if (entry.readinessGate) report.readinessGate = entry.readinessGate;
    if (entry.lastReport && sameReport(entry.lastReport, report)) return;
    entry.lastReport = report;
    this.opts.reporter.update(report);
  }

  private removeProbe(entry: VmiEntry, p: ProbeEntry): void {
    this.stopWorker(p);
    if (isLivenessRecovery(p.kind, p.state, 'removed')) this.opts.liveness?.onRecovery?.(entry.ref.uid);
    entry.probes.delete(p.kind);
    this.opts.observer.probeRemoved(this.identity(entry, p));
    p.log.info({}, 'probe removed');
  }

  private dropVmi(uid: string): void {
    const entry = this.entries.get(uid);
    if (!entry) return;
    for (const p of entry.probes.values()) this.removeProbe(entry, p);
    this.entries.delete(uid);
    this.opts.reporter.forget(uid);
    this.opts.liveness?.forget?.(uid);
  }

  private stopWorker(p: ProbeEntry): void {
    const w = p.worker;
    p.worker = undefined;
    w?.stop();
  }

  private identity(entry: VmiEntry, p: ProbeEntry): ProbeIdentity {
    if (p.identity?.handler !== p.handler)
      p.identity = { namespace: entry.ref.namespace, vmi: entry.ref.name, probe: p.kind, handler: p.handler };
    return p.identity;
  }
}

/** The VMI's last live migration completed onto `node` (its launcher pod here is the new one). */
function migratedHere(vmi: VmiObject, node: string): boolean {
  const m = vmi.status?.migrationState;
  return m?.completed === true && m.failed !== true && m.targetNode === node && vmi.status?.nodeName === node;
}

/** The VMI's Ready condition (virt-controller copies it from the launcher pod's). */
function vmiReady(vmi: VmiObject): boolean {
  return vmi.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Field-by-field equality of two reports (what JSON.stringify equality meant, without a string per
 *  VMI kept alive and built on every reconcile). */
export function sameReport(a: VmiProbeReport, b: VmiProbeReport): boolean {
  if (
    a.vmi.uid !== b.vmi.uid ||
    a.vmi.namespace !== b.vmi.namespace ||
    a.vmi.name !== b.vmi.name ||
    a.nodeName !== b.nodeName ||
    a.target !== b.target ||
    a.conditions.length !== b.conditions.length ||
    a.launcherPods.length !== b.launcherPods.length ||
    a.readinessGate?.enforced !== b.readinessGate?.enforced ||
    a.readinessGate?.pod !== b.readinessGate?.pod
  )
    return false;
  for (let i = 0; i < a.conditions.length; i++) {
    const x = a.conditions[i]!;
    const y = b.conditions[i]!;
    if (
      x.kind !== y.kind ||
      x.status !== y.status ||
      x.reason !== y.reason ||
      x.message !== y.message ||
      x.provisional !== y.provisional
    )
      return false;
  }
  for (let i = 0; i < a.launcherPods.length; i++) {
    const x = a.launcherPods[i]!;
    const y = b.launcherPods[i]!;
    if (x.uid !== y.uid || x.namespace !== y.namespace || x.name !== y.name) return false;
  }
  return true;
}

function podRef(p: PodObject): PodRef {
  return { namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' };
}
