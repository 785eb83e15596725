// The readiness-gate decision, pure: AdmissionReview in, AdmissionReview out. No I/O here — the
// owning VMI comes in as a lookup result from the caller (webhook/handler.ts), so every rule is unit
// tested without a server. Contract (design §7 "Readiness-gate injection"):
// - CREATE of a pod labelled kubevirt.io=virt-launcher whose owning VMI (ownerReference kind
//   VirtualMachineInstance; same namespace, as ownerReferences are) has a readiness probe —
//   `spec.readinessProbe` or the `vmprobe.io/readiness-probe` annotation, valid or not, exactly the
//   VMIs the agent writes the pod condition for (`probesOfVmi`) — gets a JSONPatch adding
//   `{conditionType: vmprobe.io/ReadinessProbe}` to `spec.readinessGates` (array created when absent,
//   existing gates kept, never twice: a pod that already has it gets no patch).
// - Everything else: allowed, no patch. Never denied.
import {
  KUBEVIRT_GROUP,
  LABEL_KUBEVIRT,
  LAUNCHER_LABEL_VALUE,
  POD_READINESS_CONDITION,
  podHasReadinessGate,
  probesOfVmi,
  VMI_KIND,
} from '@vmprobe/shared';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

/** The fields of an AdmissionRequest the webhook reads. */
export interface AdmissionRequestLite {
  uid: string;
  operation?: string;
  namespace?: string;
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  object?: unknown;
}

export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

export interface AdmissionResponseBody {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: {
    uid: string;
    allowed: true;
    patchType?: 'JSONPatch';
    /** base64 of the JSON patch array. */
    patch?: string;
    warnings?: string[];
  };
}

/** A body that is not an AdmissionReview admission.k8s.io/v1 with a request.uid (HTTP 400). */
export class BadAdmissionReviewError extends Error {
  override readonly name = 'BadAdmissionReviewError';
  readonly code = 'ERR_BAD_ADMISSION_REVIEW';
}

/** Parses the request body; throws BadAdmissionReviewError saying what is wrong. */
export function parseAdmissionReview(body: string): AdmissionRequestLite {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new BadAdmissionReviewError(
      `body is not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!isObject(doc)) throw new BadAdmissionReviewError('body is not a JSON object');
  if (doc.kind !== ADMISSION_KIND || doc.apiVersion !== ADMISSION_API_VERSION) {
    throw new BadAdmissionReviewError(
      `expected kind ${ADMISSION_KIND} apiVersion ${ADMISSION_API_VERSION}, got kind ${JSON.stringify(doc.kind)} apiVersion ${JSON.stringify(doc.apiVersion)}`,
    );
  }
  const req = doc.request;
  if (!isObject(req)) throw new BadAdmissionReviewError('AdmissionReview has no request');
  if (typeof req.uid !== 'string' || req.uid === '')
    throw new BadAdmissionReviewError('AdmissionReview request has no uid');
  return req as unknown as AdmissionRequestLite;
}

/** Why a request is answered without a patch, or that it needs the owning VMI. */
export type PodTriage =
  | { kind: 'skip'; decision: SkipDecision }
  | { kind: 'lookup'; namespace: string; vmiName: string };

export type SkipDecision = 'not_pod_create' | 'not_launcher' | 'already_gated' | 'no_vmi_owner';

/** Every decision the webhook reports (metric label `decision`, log field). */
export type Decision = SkipDecision | 'patched' | 'no_readiness_probe' | 'vmi_not_found' | 'vmi_unreadable';

/** The first step: which requests can be answered without reading the VMI. */
export function triage(req: AdmissionRequestLite): PodTriage {
  const r = req.resource ?? {};
  if (
    req.operation !== 'CREATE' ||
    (r.group ?? '') !== '' ||
    r.resource !== 'pods' ||
    (req.subResource ?? '') !== '' ||
    !isObject(req.object)
  ) {
    return { kind: 'skip', decision: 'not_pod_create' };
  }
  const pod = req.object;
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : {};
  if (labels[LABEL_KUBEVIRT] !== LAUNCHER_LABEL_VALUE) return { kind: 'skip', decision: 'not_launcher' };
  if (hasVmprobeGate(pod)) return { kind: 'skip', decision: 'already_gated' };
  const owner = vmiOwnerName(meta.ownerReferences);
  const namespace =
    typeof req.namespace === 'string' && req.namespace !== ''
      ? req.namespace
      : typeof meta.namespace === 'string'
        ? meta.namespace
        : '';
  if (owner === undefined || namespace === '') return { kind: 'skip', decision: 'no_vmi_owner' };
  return { kind: 'lookup', namespace, vmiName: owner };
}

/** True when the VMI is one the agent writes the pod condition for (a readiness probe from the
 *  annotation or the spec, valid or not). */
export function vmiHasReadinessProbe(vmi: unknown): boolean {
  return probesOfVmi(vmi).readiness !== undefined;
}

/** The JSONPatch adding vmprobe's gate to `pod`, or undefined when it already has it. */
export function gatePatch(pod: unknown): JsonPatchOp[] | undefined {
  if (hasVmprobeGate(pod)) return undefined;
  const gate = { conditionType: POD_READINESS_CONDITION };
  const spec = isObject(pod) && isObject(pod.spec) ? pod.spec : undefined;
  if (spec === undefined) return [{ op: 'add', path: '/spec', value: { readinessGates: [gate] } }];
  if (!Array.isArray(spec.readinessGates))
    return [{ op: 'add', path: '/spec/readinessGates', value: [gate] }];
  return [{ op: 'add', path: '/spec/readinessGates/-', value: gate }];
}

/** The pod already lists vmprobe's gate (the shared rule the agent's enrolment report uses too). */
export const hasVmprobeGate = podHasReadinessGate;

/** The allowed response; with a patch when one is given. `uid` echoes the request's. */
export function admissionResponse(
  uid: string,
  patch?: readonly JsonPatchOp[],
  warnings?: readonly string[],
): AdmissionResponseBody {
  const response: AdmissionResponseBody['response'] = { uid, allowed: true };
  if (patch && patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings && warnings.length > 0) response.warnings = [...warnings];
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

function vmiOwnerName(refs: unknown): string | undefined {
  if (!Array.isArray(refs)) return undefined;
  for (const ref of refs) {
    if (!isObject(ref) || ref.kind !== VMI_KIND || typeof ref.name !== 'string' || ref.name === '') continue;
    const group = typeof ref.apiVersion === 'string' ? ref.apiVersion.split('/')[0] : '';
    if (group === KUBEVIRT_GROUP) return ref.name;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
