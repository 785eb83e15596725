// One sync of one VMI: writes what differs between its desired report and what the API stores, to
// three independent targets, and says how it went. It does not schedule, retry or back off — the
// caller (ApiReporter) runs at most one sync per VMI at a time and decides what a SyncResult means.
//
// - VMIProbeStatus: create on first sight (409 AlreadyExists → read it and adopt it by a metadata
//   merge patch: owner + node label), then a status merge patch when the status differs. A 404 on a
//   patch forgets the object (created next time); a 409 re-reads it first.
// - Pod gate: one strategic merge of `vmprobe.io/ReadinessProbe` per launcher pod when it differs
//   (the last returned value, else the informer cache). 404 or another pod under that name: nothing
//   to write.
// - Handover between nodes (issue 8 item 6): decided by the VMI's `status.nodeName` alone. An object
//   last written by another node's agent (its node label or status.nodeName) is taken over only
//   after a fresh GET of the VMI says `status.nodeName` is this node; otherwise this agent does not
//   write it (its own view is stale; the manager forgets the VMI when its watch catches up). Status
//   patches carry the object's resourceVersion, so a stale agent's write after a takeover gets a 409,
//   re-reads, sees the other node and stops: the object is never relabelled back and forth.
// - Events: the VMI's pending Events; a denied one, or one failed `maxEventAttempts` times, is dropped.
// - Every write takes a token (aborted by the VMI's AbortSignal) and is verified against the object
//   the API returned: a write not stored is a WriteNotStoredError, never a success.
// A failing target does not stop the others (a missing RBAC rule breaks only its own call).
import { LABEL_PROBE_STATUS_NODE, POD_READINESS_CONDITION } from '@vmprobe/shared';
import type { Clock } from '../clock.js';
import {
  ApiWriteError,
  type KubeWrites,
  type PodConditionRead,
  type PodConditionWrite,
  type ProbeStatusObject,
  rfc3339,
  vmiOwnerReference,
} from '../kube/api.js';
import type { Logger } from '../log.js';
import type { AgentObserver } from '../observer.js';
import { type EventRecorder, resultOf } from './events.js';
import { RateLimiterAbortedError, type TokenBucket } from './rate-limit.js';
import type { ProbeConditionReport, VmiProbeReport } from './types.js';
import {
  claimGateExpress,
  eventFailed,
  eventWritten,
  forgetPodCondition,
  forgetUnlistedPods,
  gateExpressStarted,
  inGateLane,
  rememberObject,
  rememberPodCondition,
  type VmiState,
} from './vmi-state.js';
import {
  desiredStatus,
  errText,
  newProbeStatusObject,
  podConditionMatches,
  statusMatches,
} from './write-plan.js';

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

export interface SyncResult {
  ok: boolean;
  /** Failed for a reason that heals (429/5xx/network/409/not stored): back off exponentially. */
  health?: boolean;
  /** Among those, a network error or 5xx and no 429: an API outage (short backoff, apiReachable). */
  outage?: boolean;
  retryAfterSeconds?: number | undefined;
}

export interface VmiSyncOptions {
  writes: KubeWrites;
  nodeName: string;
  clock: Clock;
  log: Logger;
  observer: AgentObserver;
  limiter: TokenBucket;
  events: EventRecorder;
  maxEventAttempts: number;
  podCondition: ((namespace: string, name: string) => PodConditionRead | undefined) | undefined;
}

export class VmiSync {
  constructor(private readonly o: VmiSyncOptions) {}

  /** Writes the latest desired state of `st` to all three targets; failures are returned, not thrown. */
  async sync(st: VmiState): Promise<SyncResult> {
    const failures: unknown[] = [];
    const report = st.desired;
    // The pod gate first (issue 9): once launcher pods carry the readiness gate, a pod is not Ready
    // until this write lands, so it is on the critical path of every VM start; the VMIProbeStatus
    // and Events follow (and their tokens queue behind every VMI's gate write, see TokenBucket).
    // The gate writes run in the VMI's gate lane, after any express gate sync still running.
    const gates = await inGateLane(st, () => this.syncGates(st));
    if (gates === 'aborted') return { ok: false };
    failures.push(...gates);
    if (st.abort.signal.aborted) return { ok: false };
    try {
      await this.syncProbeStatus(st, report);
    } catch (err) {
      failures.push(err);
      this.logFailure(st, 'probestatus', err);
    }
    for (const [key, pe] of [...st.pendingEvents]) {
      if (st.abort.signal.aborted) return { ok: false };
      try {
        await this.o.events.record(st.vmi, pe.intent, st.abort.signal);
        eventWritten(st, key);
      } catch (err) {
        if (err instanceof RateLimiterAbortedError) return { ok: false };
        const permanent = !(err instanceof ApiWriteError && err.retryable);
        if (eventFailed(st, key, permanent, this.o.maxEventAttempts) === 'drop') {
          this.o.log.warn(
            { vmi: st.vmi.name, namespace: st.vmi.namespace, reason: pe.intent.reason, err: errText(err) },
            'dropping event after failed write',
          );
        } else {
          failures.push(err);
          this.logFailure(st, 'event', err);
        }
      }
    }
    return summarize(failures);
  }

  /**
   * An express gate sync: while this VMI's sync is running (its VMIProbeStatus write may be waiting
   * for a token behind other VMIs), a newer readiness goes to the pod gate(s) at once through the
   * VMI's gate lane (a 'high' token), not after that sync. At most one is queued per VMI; it writes
   * the latest readiness. Its failures are only logged: the running sync is marked dirty, and the
   * sync that follows it writes the gate again (in the same lane, so never twice at once).
   */
  expressGates(st: VmiState): void {
    if (st.abort.signal.aborted || !claimGateExpress(st)) return;
    void inGateLane(st, () => {
      gateExpressStarted(st);
      return this.syncGates(st);
    });
  }

  /** The gate of every launcher pod the desired report lists: its failures (logged), or 'aborted'. */
  private async syncGates(st: VmiState): Promise<unknown[] | 'aborted'> {
    const failures: unknown[] = [];
    const report = st.desired;
    const readiness = report.conditions.find((c) => c.kind === 'readiness');
    forgetUnlistedPods(st);
    if (!readiness) return failures;
    for (const pod of report.launcherPods) {
      if (st.abort.signal.aborted) return 'aborted';
      try {
        await this.syncPod(st, pod, readiness);
      } catch (err) {
        failures.push(err);
        this.logFailure(st, 'pod', err, pod.name);
      }
    }
    return failures;
  }

  private async syncProbeStatus(st: VmiState, report: VmiProbeReport): Promise<void> {
    const { writes, limiter, observer, clock } = this.o;
    const node = this.o.nodeName;
    const { namespace, name, uid } = report.vmi;
    if (!st.object) {
      const body = newProbeStatusObject(report, node, clock.now());
      await limiter.take(st.abort.signal);
      try {
        rememberObject(st, await writes.createProbeStatus(body));
        observer.reporterWrite('probestatus', 'ok');
      } catch (err) {
        if (err instanceof ApiWriteError && err.code === 'AlreadyExists') {
          observer.reporterWrite('probestatus', 'conflict');
          rememberObject(st, await writes.getProbeStatus(namespace, name));
        } else {
          observer.reporterWrite('probestatus', resultOf(err));
          throw err;
        }
      }
    }
    const created = st.object;
    if (!created) return; // unreachable: remembered above (a failed create throws)
    const meta = created.metadata;
    const ownerOk = (meta.ownerReferences ?? []).some((o) => o.uid === uid);
    const nodeOk = meta.labels?.[LABEL_PROBE_STATUS_NODE] === node;
    const writtenBy = writerNodeOf(created);
    if (writtenBy !== undefined && writtenBy !== node && !(await this.vmiIsHere(st))) {
      this.o.log.info(
        { namespace, vmi: name, writtenBy },
        'VMIProbeStatus belongs to another node (the VMI status.nodeName says so); not writing it',
      );
      return;
    }
    if (!ownerOk || !nodeOk) {
      // An object left by an earlier VMI of the same name (its GC is pending) or by another node's
      // agent before a migration: adopt it.
      const patch: Parameters<KubeWrites['patchProbeStatusMetadata']>[2] = {
        labels: { [LABEL_PROBE_STATUS_NODE]: node },
      };
      if (!ownerOk) patch.ownerReferences = [vmiOwnerReference(report.vmi)];
      await limiter.take(st.abort.signal);
      rememberObject(
        st,
        await this.guarded(st, () => writes.patchProbeStatusMetadata(namespace, name, patch)),
      );
    }
    const current = st.object ?? created;
    const desired = desiredStatus(report, current.status, clock.now());
    if (statusMatches(current.status, desired)) return;
    const patch = {
      ...desired,
      target: desired.target ?? null,
      readinessGate: desired.readinessGate ?? null,
    };
    await limiter.take(st.abort.signal);
    const rv = current.metadata.resourceVersion;
    const returned = await this.guarded(st, () => writes.patchProbeStatusStatus(namespace, name, patch, rv));
    rememberObject(st, returned);
    if (!statusMatches(returned.status, desired)) {
      observer.reporterWrite('probestatus', 'error');
      throw new WriteNotStoredError(
        'probestatus',
        `VMIProbeStatus ${namespace}/${name}: the API returned 200 but the status written is not stored`,
      );
    }
    observer.reporterWrite('probestatus', 'ok');
  }

  /** Handover check: the VMI read fresh from the API (never a cache) is this one and its
   *  `status.nodeName` is this node. A failed read throws (retried like any write). */
  private async vmiIsHere(st: VmiState): Promise<boolean> {
    try {
      const vmi = await this.o.writes.getVmi(st.vmi.namespace, st.vmi.name);
      return vmi.metadata?.uid === st.vmi.uid && vmi.status?.nodeName === this.o.nodeName;
    } catch (err) {
      if (err instanceof ApiWriteError && err.code === 'NotFound') return false;
      throw err;
    }
  }

  /** Runs a VMIProbeStatus patch; maps 404 (object gone: create next time) and 409 (re-read) onto `st`. */
  private async guarded(st: VmiState, fn: () => Promise<ProbeStatusObject>): Promise<ProbeStatusObject> {
    try {
      return await fn();
    } catch (err) {
      this.o.observer.reporterWrite('probestatus', resultOf(err));
      if (err instanceof ApiWriteError && err.code === 'NotFound') rememberObject(st, undefined);
      if (err instanceof ApiWriteError && err.code === 'Conflict') {
        try {
          rememberObject(st, await this.o.writes.getProbeStatus(st.vmi.namespace, st.vmi.name));
        } catch (getErr) {
          if (getErr instanceof ApiWriteError && getErr.code === 'NotFound') rememberObject(st, undefined);
        }
      }
      throw err;
    }
  }

  private async syncPod(
    st: VmiState,
    pod: { namespace: string; name: string; uid: string },
    atStart: ProbeConditionReport,
  ): Promise<void> {
    const { writes, observer } = this.o;
    const knownAtStart = st.pods.get(pod.uid) ?? this.o.podCondition?.(pod.namespace, pod.name);
    if (knownAtStart && podConditionMatches(knownAtStart, atStart)) {
      rememberPodCondition(st, pod.uid, knownAtStart);
      return;
    }
    await this.o.limiter.take(st.abort.signal, 'high'); // gate writes first (issue 9)
    // The token can take a while (a node starting with 1,000 VMIs queues 1,000 gate writes): write
    // the latest verdict, not the one this sync started with — the first probe has usually turned
    // Initializing/False into True meanwhile, and the pod is Ready with this one write.
    const readiness = st.desired.conditions.find((c) => c.kind === 'readiness') ?? atStart;
    const known = st.pods.get(pod.uid) ?? this.o.podCondition?.(pod.namespace, pod.name);
    if (known && podConditionMatches(known, readiness)) {
      rememberPodCondition(st, pod.uid, known);
      return;
    }
    const now = this.o.clock.now();
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
    let returned: Awaited<ReturnType<KubeWrites['patchPodCondition']>>;
    try {
      returned = await writes.patchPodCondition(pod.namespace, pod.name, write);
    } catch (err) {
      if (err instanceof ApiWriteError && err.code === 'NotFound') {
        // The pod is gone (the manager will list the new one): nothing to write.
        forgetPodCondition(st, pod.uid);
        observer.reporterWrite('pod', 'ok');
        return;
      }
      observer.reporterWrite('pod', resultOf(err));
      throw err;
    }
    if (returned.metadata.uid && returned.metadata.uid !== pod.uid) {
      // Same name, another pod: not ours to gate.
      forgetPodCondition(st, pod.uid);
      observer.reporterWrite('pod', 'ok');
      return;
    }
    const stored = returned.conditions.find((c) => c.type === POD_READINESS_CONDITION);
    if (!stored || !podConditionMatches(stored, readiness)) {
      forgetPodCondition(st, pod.uid);
      observer.reporterWrite('pod', 'error');
      throw new WriteNotStoredError(
        'pod',
        `pod ${pod.namespace}/${pod.name}: the API returned 200 but condition ${POD_READINESS_CONDITION} is not stored`,
      );
    }
    rememberPodCondition(st, pod.uid, stored);
    observer.reporterWrite('pod', 'ok');
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
    if (err instanceof WriteNotStoredError) this.o.log.warn(fields, 'write not stored; will retry');
    else if (err instanceof ApiWriteError && err.retryable)
      this.o.log.info(fields, 'write failed; will retry');
    else this.o.log.error(fields, 'write failed');
  }
}

/** The node whose agent last wrote a VMIProbeStatus: its node label, else its status.nodeName. */
export function writerNodeOf(obj: ProbeStatusObject): string | undefined {
  return obj.metadata.labels?.[LABEL_PROBE_STATUS_NODE] || obj.status?.nodeName || undefined;
}

/** What the failures of one sync mean for its retry. */
function summarize(failures: unknown[]): SyncResult {
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
