// The agent's API client outside the watches: every write it makes and the reads the write path
// needs (list of this node's VMIProbeStatuses at start and per heartbeat, get after a 409, fresh GETs
// of a VMI and a pod before a liveness delete or a handover), with their plain types, through
// @kubernetes/client-node; every request has a deadline (./deadline.ts). Each call returns
// the object the API returned (plain JSON: dates as RFC 3339 strings) so the caller can verify that
// the write was really stored, reports itself to the AgentObserver (apiRequest), and throws an
// ApiWriteError with a stable `code` and the HTTP status (0 = network error) on failure.
//
// No retries here: the reporter and the liveness handler own backoff and rate limiting. The rest of
// the agent sees only the `KubeWrites` interface and the plain types below (never client-node's).
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  COMPONENT,
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  LABEL_PROBE_STATUS_NODE,
  PROBE_STATUS_KIND,
  PROBE_STATUS_PLURAL,
  VMI_KIND,
  VMI_PLURAL,
  VMPROBE_GROUP,
  VMPROBE_VERSION,
} from '@vmprobe/shared';
import type { ConditionStatus } from '../model/conditions.js';
import type { PodObject, VmiObject } from '../model/objects.js';
import { trimPod, trimVmi } from '../model/trim.js';
import { type AgentObserver, noopObserver } from '../observer.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, isDeadlineError, withDeadline } from './deadline.js';

// ---------------------------------------------------------------------------------------------
// Plain shapes (what the agent writes and reads back)

export interface ObjectMetaLite {
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ProbeStatusCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** RFC 3339, second precision. */
  lastTransitionTime: string;
}

/** Enrolment: does the VMI's current launcher pod list vmprobe's readiness gate (issue 9). */
export interface ReadinessGateStatus {
  enforced: boolean;
  /** The launcher pod this is about. */
  pod: string;
  /** Why not, with the remedy (only when not enforced). */
  message?: string;
}

export interface ProbeStatusBody {
  nodeName?: string;
  target?: string;
  vmiUID?: string;
  conditions?: ProbeStatusCondition[];
  readinessGate?: ReadinessGateStatus;
}

export interface ProbeStatusObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMetaLite;
  status?: ProbeStatusBody;
}

/** `null` deletes a field (merge-patch semantics). */
export type ProbeStatusPatch = {
  [K in keyof ProbeStatusBody]?: ProbeStatusBody[K] | null;
};

export interface PodConditionWrite {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** RFC 3339, second precision. */
  lastTransitionTime: string;
}

export interface PodConditionRead {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface PodStatusRead {
  metadata: ObjectMetaLite;
  conditions: PodConditionRead[];
}

export interface EventObject {
  metadata: ObjectMetaLite;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  count: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  involvedObject: { apiVersion: string; kind: string; namespace: string; name: string; uid: string };
}

export interface EventCreate {
  /** Defaults to `<vmi name>.<hex time>` like the kubelet's recorder. */
  name?: string;
  vmi: { namespace: string; name: string; uid: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Epoch ms. */
  time: number;
}

export interface DeleteResult {
  /** The object as the API returned it (with deletionTimestamp while terminating), when it said. */
  uid?: string;
  deletionTimestamp?: string;
}

/** The agent's API surface for reporting and the liveness action. */
export interface KubeWrites {
  listProbeStatuses(nodeName: string): Promise<ProbeStatusObject[]>;
  getProbeStatus(namespace: string, name: string): Promise<ProbeStatusObject>;
  createProbeStatus(obj: ProbeStatusObject): Promise<ProbeStatusObject>;
  /** Merge patch on metadata (node label, ownerReferences). */
  patchProbeStatusMetadata(
    namespace: string,
    name: string,
    metadata: { labels?: Record<string, string>; ownerReferences?: OwnerReference[] },
  ): Promise<ProbeStatusObject>;
  /** Merge patch (application/merge-patch+json) on `…/vmiprobestatuses/<name>/status`; with
   *  `resourceVersion`, only if the object is unchanged since (409 Conflict otherwise). */
  patchProbeStatusStatus(
    namespace: string,
    name: string,
    status: ProbeStatusPatch,
    resourceVersion?: string,
  ): Promise<ProbeStatusObject>;
  /** Strategic merge on `pods/<name>/status` with only this condition (merged by type). */
  patchPodCondition(namespace: string, name: string, condition: PodConditionWrite): Promise<PodStatusRead>;
  createEvent(event: EventCreate): Promise<EventObject>;
  /** Merge patch of a repeated event's count and lastTimestamp (epoch ms). */
  patchEvent(namespace: string, name: string, count: number, lastTimestamp: number): Promise<EventObject>;
  /** Delete with grace and a uid precondition (409 when the name now holds another pod). */
  deletePod(namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<DeleteResult>;
  /** Delete with a uid precondition. Needs the delete-vmi overlay's RBAC rule. */
  deleteVmi(namespace: string, name: string, uid: string): Promise<DeleteResult>;
  /** GET of the VMI from the API (never a cache): the liveness action's fresh check before a delete. */
  getVmi(namespace: string, name: string): Promise<VmiObject>;
  /** GET of a pod from the API (never a cache): the liveness action's fresh check before a delete. */
  getPod(namespace: string, name: string): Promise<PodObject>;
}

// ---------------------------------------------------------------------------------------------
// Errors

export type ApiWriteErrorCode =
  | 'Network'
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'ServerError'
  | 'Unexpected';

export class ApiWriteError extends Error {
  override readonly name = 'ApiWriteError';
  constructor(
    readonly code: ApiWriteErrorCode,
    /** HTTP status; 0 for a network error. */
    readonly status: number,
    readonly verb: string,
    readonly resource: string,
    message: string,
    /** Seconds from a Retry-After header (429/503), when the server sent one. */
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth retrying unchanged (after backoff): network, 429, 5xx, and 409 after a re-read. */
  get retryable(): boolean {
    return (
      this.code === 'Network' ||
      this.code === 'TooManyRequests' ||
      this.code === 'ServerError' ||
      this.code === 'Conflict'
    );
  }
}

function codeFor(status: number, reason: string | undefined): ApiWriteErrorCode {
  if (status === 0) return 'Network';
  if (status === 409) return reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
  if (status === 400) return 'BadRequest';
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'Forbidden';
  if (status === 404) return 'NotFound';
  if (status === 410) return 'Gone';
  if (status === 415) return 'UnsupportedMediaType';
  if (status === 422) return 'Invalid';
  if (status === 429) return 'TooManyRequests';
  if (status >= 500) return 'ServerError';
  return 'Unexpected';
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Turns whatever client-node threw into an ApiWriteError. */
export function toApiWriteError(err: unknown, verb: string, resource: string): ApiWriteError {
  if (err instanceof ApiWriteError) return err;
  if (err instanceof ApiException) {
    const status = typeof err.code === 'number' ? err.code : 0;
    let reason: string | undefined;
    let message = `${verb} ${resource}: HTTP ${status}`;
    const body: unknown = err.body;
    let parsed: unknown = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
        if (body) message += `: ${body.slice(0, 200)}`;
      }
    }
    if (parsed && typeof parsed === 'object') {
      const s = parsed as { reason?: unknown; message?: unknown };
      if (typeof s.reason === 'string') reason = s.reason;
      if (typeof s.message === 'string') message += `: ${s.message}`;
    }
    const ra = headerValue(err.headers, 'retry-after');
    const retryAfter = ra !== undefined && /^\d+$/.test(ra.trim()) ? Number(ra) : undefined;
    return new ApiWriteError(codeFor(status, reason), status, verb, resource, message, retryAfter, {
      cause: err,
    });
  }
  const text = err instanceof Error ? err.message : String(err);
  return new ApiWriteError('Network', 0, verb, resource, `${verb} ${resource}: ${text}`, undefined, {
    cause: err,
  });
}

// ---------------------------------------------------------------------------------------------
// Normalisation of what client-node returns (typed models carry Date objects)

function timeString(v: unknown): string | undefined {
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (typeof v === 'string') return v;
  return undefined;
}

/** RFC 3339 at second precision, as metav1.Time stores it. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function metaOf(raw: unknown): ObjectMetaLite {
  const m = (raw ?? {}) as Record<string, unknown>;
  const out: ObjectMetaLite = { name: String(m.name ?? ''), namespace: String(m.namespace ?? '') };
  if (typeof m.uid === 'string') out.uid = m.uid;
  if (typeof m.resourceVersion === 'string') out.resourceVersion = m.resourceVersion;
  if (m.labels && typeof m.labels === 'object') out.labels = { ...(m.labels as Record<string, string>) };
  if (Array.isArray(m.ownerReferences)) out.ownerReferences = m.ownerReferences as OwnerReference[];
  const dt = timeString(m.deletionTimestamp);
  if (dt) out.deletionTimestamp = dt;
  return out;
}

function probeStatusOf(raw: unknown): ProbeStatusObject {
  const o = (raw ?? {}) as Record<string, unknown>;
  const out: ProbeStatusObject = {
    apiVersion: String(o.apiVersion ?? `${VMPROBE_GROUP}/${VMPROBE_VERSION}`),
    kind: String(o.kind ?? PROBE_STATUS_KIND),
    metadata: metaOf(o.metadata),
  };
  if (o.status && typeof o.status === 'object') out.status = o.status as ProbeStatusBody;
  return out;
}

function podStatusOf(raw: unknown): PodStatusRead {
  const o = (raw ?? {}) as { metadata?: unknown; status?: { conditions?: unknown[] } };
  const conditions: PodConditionRead[] = [];
  for (const c of o.status?.conditions ?? []) {
    const r = c as Record<string, unknown>;
    const cond: PodConditionRead = { type: String(r.type ?? ''), status: String(r.status ?? '') };
    if (typeof r.reason === 'string') cond.reason = r.reason;
    if (typeof r.message === 'string') cond.message = r.message;
    const t = timeString(r.lastTransitionTime);
    if (t) cond.lastTransitionTime = t;
    conditions.push(cond);
  }
  return { metadata: metaOf(o.metadata), conditions };
}

function eventOf(raw: unknown): EventObject {
  const o = (raw ?? {}) as Record<string, unknown>;
  const io = (o.involvedObject ?? {}) as Record<string, unknown>;
  const out: EventObject = {
    metadata: metaOf(o.metadata),
    type: o.type === 'Warning' ? 'Warning' : 'Normal',
    reason: String(o.reason ?? ''),
    message: String(o.message ?? ''),
    count: typeof o.count === 'number' ? o.count : 1,
    involvedObject: {
      apiVersion: String(io.apiVersion ?? ''),
      kind: String(io.kind ?? ''),
      namespace: String(io.namespace ?? ''),
      name: String(io.name ?? ''),
      uid: String(io.uid ?? ''),
    },
  };
  const ft = timeString(o.firstTimestamp);
  if (ft) out.firstTimestamp = ft;
  const lt = timeString(o.lastTimestamp);
  if (lt) out.lastTimestamp = lt;
  return out;
}

function deleteResultOf(raw: unknown): DeleteResult {
  const o = (raw ?? {}) as { metadata?: Record<string, unknown> };
  const out: DeleteResult = {};
  if (typeof o.metadata?.uid === 'string') out.uid = o.metadata.uid;
  const dt = timeString(o.metadata?.deletionTimestamp);
  if (dt) out.deletionTimestamp = dt;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The client-node implementation

export interface KubeWritesOptions {
  kubeConfig: KubeConfig;
  /** reportingInstance and source.host of Events. */
  nodeName: string;
  observer?: AgentObserver;
  /** Deadline of each request (default 30 s): past it the request is abandoned and fails as a
   *  retryable network error (see deadline.ts). */
  requestTimeoutMs?: number;
}

let eventSeq = 0;

export function createKubeWrites(opts: KubeWritesOptions): KubeWrites {
  const custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const observer = opts.observer ?? noopObserver;
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const deadline = withDeadline(timeoutMs);
  const mergePatch = withDeadline(timeoutMs, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const strategicPatch = withDeadline(
    timeoutMs,
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );

  async function call<T>(verb: string, resource: string, fn: () => Promise<unknown>, map: (r: unknown) => T) {
    const started = performance.now();
    try {
      const result = await fn();
      observer.apiRequest(verb, resource, 200, (performance.now() - started) / 1000);
      return map(result);
    } catch (err) {
      const e = isDeadlineError(err)
        ? new ApiWriteError(
            'Network',
            0,
            verb,
            resource,
            `${verb} ${resource}: no answer within ${timeoutMs} ms (request deadline); abandoned`,
            undefined,
            { cause: err },
          )
        : toApiWriteError(err, verb, resource);
      observer.apiRequest(verb, resource, e.status, (performance.now() - started) / 1000);
      throw e;
    }
  }

  const ps = { group: VMPROBE_GROUP, version: VMPROBE_VERSION, plural: PROBE_STATUS_PLURAL };

  return {
    listProbeStatuses(nodeName) {
      return call(
        'list',
        PROBE_STATUS_PLURAL,
        () =>
          custom.listClusterCustomObject(
            {
              ...ps,
              labelSelector: `${LABEL_PROBE_STATUS_NODE}=${nodeName}`,
            },
            deadline,
          ),
        (r) => ((r as { items?: unknown[] }).items ?? []).map(probeStatusOf),
      );
    },
    getProbeStatus(namespace, name) {
      return call(
        'get',
        PROBE_STATUS_PLURAL,
        () => custom.getNamespacedCustomObject({ ...ps, namespace, name }, deadline),
        probeStatusOf,
      );
    },
    createProbeStatus(obj) {
      return call(
        'create',
        PROBE_STATUS_PLURAL,
        () =>
          custom.createNamespacedCustomObject(
            {
              ...ps,
              namespace: obj.metadata.namespace,
              body: obj,
              fieldManager: COMPONENT,
            },
            deadline,
          ),
        probeStatusOf,
      );
    },
    patchProbeStatusMetadata(namespace, name, metadata) {
      return call(
        'patch',
        PROBE_STATUS_PLURAL,
        () =>
          custom.patchNamespacedCustomObject(
            { ...ps, namespace, name, body: { metadata }, fieldManager: COMPONENT },
            mergePatch,
          ),
        probeStatusOf,
      );
    },
    patchProbeStatusStatus(namespace, name, status, resourceVersion) {
      const metadata = resourceVersion !== undefined ? { metadata: { resourceVersion } } : {};
      return call(
        'patch',
        `${PROBE_STATUS_PLURAL}/status`,
        () =>
          custom.patchNamespacedCustomObjectStatus(
            { ...ps, namespace, name, body: { ...metadata, status }, fieldManager: COMPONENT },
            mergePatch,
          ),
        probeStatusOf,
      );
    },
    patchPodCondition(namespace, name, condition) {
      const body = { status: { conditions: [{ ...condition, lastProbeTime: null }] } };
      return call(
        'patch',
        'pods/status',
        () =>
          core.patchNamespacedPodStatus({ namespace, name, body, fieldManager: COMPONENT }, strategicPatch),
        podStatusOf,
      );
    },
    createEvent(ev) {
      const time = rfc3339(ev.time);
      eventSeq = (eventSeq + 1) % 0x1000;
      const name =
        ev.name ?? `${ev.vmi.name}.${ev.time.toString(16)}${eventSeq.toString(16).padStart(3, '0')}`;
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ev.vmi.namespace },
        involvedObject: {
          apiVersion: `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`,
          kind: VMI_KIND,
          namespace: ev.vmi.namespace,
          name: ev.vmi.name,
          uid: ev.vmi.uid,
        },
        type: ev.type,
        reason: ev.reason,
        message: ev.message,
        count: 1,
        firstTimestamp: time,
        lastTimestamp: time,
        source: { component: COMPONENT, host: opts.nodeName },
        reportingComponent: COMPONENT,
        reportingInstance: opts.nodeName,
      };
      return call(
        'create',
        'events',
        // Dates as strings: client-node's serializer passes non-Date values through unchanged.
        () => core.createNamespacedEvent({ namespace: ev.vmi.namespace, body: body as never }, deadline),
        eventOf,
      );
    },
    patchEvent(namespace, name, count, lastTimestamp) {
      return call(
        'patch',
        'events',
        () =>
          core.patchNamespacedEvent(
            {
              namespace,
              name,
              body: { count, lastTimestamp: rfc3339(lastTimestamp) },
              fieldManager: COMPONENT,
            },
            mergePatch,
          ),
        eventOf,
      );
    },
    deletePod(namespace, name, uid, gracePeriodSeconds) {
      return call(
        'delete',
        'pods',
        () =>
          core.deleteNamespacedPod(
            {
              namespace,
              name,
              gracePeriodSeconds,
              body: { gracePeriodSeconds, preconditions: { uid } },
            },
            deadline,
          ),
        deleteResultOf,
      );
    },
    getVmi(namespace, name) {
      return call(
        'get',
        VMI_PLURAL,
        () =>
          custom.getNamespacedCustomObject(
            {
              group: KUBEVIRT_GROUP,
              version: KUBEVIRT_VERSION,
              plural: VMI_PLURAL,
              namespace,
              name,
            },
            deadline,
          ),
        trimVmi,
      );
    },
    getPod(namespace, name) {
      return call('get', 'pods', () => core.readNamespacedPod({ namespace, name }, deadline), trimPod);
    },
    deleteVmi(namespace, name, uid) {
      return call(
        'delete',
        VMI_PLURAL,
        () =>
          custom.deleteNamespacedCustomObject(
            {
              group: KUBEVIRT_GROUP,
              version: KUBEVIRT_VERSION,
              plural: VMI_PLURAL,
              namespace,
              name,
              body: { preconditions: { uid } },
            },
            deadline,
          ),
        deleteResultOf,
      );
    },
  };
}

/** The ownerReference a VMIProbeStatus carries: GC'd with its VMI; no blockOwnerDeletion (that
 * would need virtualmachineinstances/finalizers rights); not `controller` (the VMI does not
 * reconcile it). */
export function vmiOwnerReference(vmi: { name: string; uid: string }): OwnerReference {
  return {
    apiVersion: `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`,
    kind: VMI_KIND,
    name: vmi.name,
    uid: vmi.uid,
  };
}
