// One admission call: body → AdmissionReview response. Owns no timers beyond the one deadline timer
// of a call in flight (cleared when the call settles).
//
// Rule when the owning VMI cannot be read in time (API error, timeout): **no gate** — the pod is
// allowed unpatched, the response carries a warning, a warn log line is written and
// vmprobe_webhook_admissions_total{decision="vmi_unreadable"} counts it. Why not add the gate
// anyway: for a VMI without a readiness probe nobody would ever write the condition, so its pod
// would never be Ready (Service endpoints and the VMI's Ready lost for good); an ungated pod only
// loses enforcement of readiness, which the agent reports as "not enforced" with the remedy.
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import {
  type AdmissionResponseBody,
  admissionResponse,
  BadAdmissionReviewError,
  type Decision,
  gatePatch,
  parseAdmissionReview,
  triage,
  vmiHasReadinessProbe,
} from './admission.js';
import type { WebhookMetrics } from './metrics.js';
import type { VmiReader } from './vmi-reader.js';

/** Below every sane `timeoutSeconds` of the MutatingWebhookConfiguration (the shipped one is 5). */
export const DEFAULT_VMI_READ_TIMEOUT_MS = 2_000;

export interface AdmissionHandlerOptions {
  reader: VmiReader;
  metrics?: WebhookMetrics;
  logger?: Logger;
  /** Deadline of the VMI GET (default DEFAULT_VMI_READ_TIMEOUT_MS). */
  vmiReadTimeoutMs?: number;
}

export type HandlerResult =
  | { status: 200; body: AdmissionResponseBody; decision: Decision }
  | { status: 400; message: string };

export class AdmissionHandler {
  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(private readonly opts: AdmissionHandlerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.timeoutMs = opts.vmiReadTimeoutMs ?? DEFAULT_VMI_READ_TIMEOUT_MS;
  }

  /** Never rejects: a bad body is a 400, every other outcome an allowed response. */
  async review(body: string, signal?: AbortSignal): Promise<HandlerResult> {
    const started = performance.now();
    let req: ReturnType<typeof parseAdmissionReview>;
    try {
      req = parseAdmissionReview(body);
    } catch (err) {
      if (!(err instanceof BadAdmissionReviewError)) throw err;
      this.opts.metrics?.badRequest();
      this.log.warn({ err: err.message }, 'rejected a body that is not an AdmissionReview');
      return { status: 400, message: err.message };
    }
    const t = triage(req);
    let decision: Decision;
    let patch: ReturnType<typeof gatePatch>;
    const warnings: string[] = [];
    if (t.kind === 'skip') decision = t.decision;
    else {
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(new Error('deadline')), this.timeoutMs);
      const onAbort = () => ctl.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const got = await this.opts.reader.get(t.namespace, t.vmiName, ctl.signal);
        if (!got.found) decision = 'vmi_not_found';
        else if (!vmiHasReadinessProbe(got.vmi)) decision = 'no_readiness_probe';
        else {
          patch = gatePatch(req.object);
          decision = patch ? 'patched' : 'already_gated';
        }
      } catch (err) {
        decision = 'vmi_unreadable';
        const why = ctl.signal.aborted
          ? `no answer within ${this.timeoutMs} ms`
          : err instanceof Error
            ? err.message
            : String(err);
        warnings.push(
          `vmprobe: could not read VirtualMachineInstance ${t.namespace}/${t.vmiName} (${why}); the pod is created without the vmprobe.io/ReadinessProbe readiness gate, so its readiness probe is not enforced until the VMI is restarted or live-migrated`,
        );
        this.log.warn(
          { namespace: t.namespace, vmi: t.vmiName, uid: req.uid, err: why },
          'VMI unreadable: launcher pod admitted without the readiness gate',
        );
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      this.log.debug(
        { namespace: t.namespace, vmi: t.vmiName, uid: req.uid, decision },
        'launcher pod admitted',
      );
    }
    this.opts.metrics?.admission(decision, (performance.now() - started) / 1000);
    return { status: 200, body: admissionResponse(req.uid, patch, warnings), decision };
  }
}
