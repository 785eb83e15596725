// The webhook's Prometheus metrics, in their own prom-client Registry (never the global one).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics/names.js';
import type { Decision } from './admission.js';

export const WEBHOOK_METRIC = {
  /** counter {decision}: admission calls answered (decision: patched, already_gated, no_readiness_probe,
   *  not_launcher, not_pod_create, no_vmi_owner, vmi_not_found, vmi_unreadable). */
  admissions: 'vmprobe_webhook_admissions_total',
  /** histogram: time to answer one admission call (includes the VMI GET). */
  admissionDuration: 'vmprobe_webhook_admission_duration_seconds',
  /** counter: request bodies that were not an AdmissionReview (answered 400). */
  badRequests: 'vmprobe_webhook_bad_requests_total',
  /** counter {result}: serving-certificate reloads (result ok|error). */
  certReloads: 'vmprobe_webhook_certificate_reloads_total',
  /** gauge: notAfter of the serving certificate in use, Unix seconds. */
  certExpiry: 'vmprobe_webhook_certificate_expiry_timestamp_seconds',
  /** gauge {version} = 1. */
  buildInfo: 'vmprobe_webhook_build_info',
} as const;

export class WebhookMetrics {
  readonly registry = new Registry();
  private readonly admissions: Counter<'decision'>;
  private readonly duration: Histogram;
  private readonly bad: Counter;
  private readonly reloads: Counter<'result'>;
  private readonly expiry: Gauge;

  constructor(opts: { version: string; processMetrics?: boolean }) {
    const registers = [this.registry];
    this.admissions = new Counter({
      name: WEBHOOK_METRIC.admissions,
      help: 'Admission calls answered, by decision.',
      labelNames: ['decision'],
      registers,
    });
    this.duration = new Histogram({
      name: WEBHOOK_METRIC.admissionDuration,
      help: 'Time to answer one admission call, including the VMI read.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.bad = new Counter({
      name: WEBHOOK_METRIC.badRequests,
      help: 'Request bodies that were not an AdmissionReview (HTTP 400).',
      registers,
    });
    this.reloads = new Counter({
      name: WEBHOOK_METRIC.certReloads,
      help: 'Serving certificate reloads after a change of its files.',
      labelNames: ['result'],
      registers,
    });
    this.expiry = new Gauge({
      name: WEBHOOK_METRIC.certExpiry,
      help: 'notAfter of the serving certificate in use (Unix seconds).',
      registers,
    });
    new Gauge({
      name: WEBHOOK_METRIC.buildInfo,
      help: 'vmprobe webhook build information.',
      labelNames: ['version'],
      registers,
    }).set({ version: opts.version }, 1);
    if (opts.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  admission(decision: Decision, seconds: number): void {
    this.admissions.inc({ decision });
    this.duration.observe(seconds);
  }

  badRequest(): void {
    this.bad.inc();
  }

  certReload(ok: boolean, notAfterSeconds?: number): void {
    this.reloads.inc({ result: ok ? 'ok' : 'error' });
    if (notAfterSeconds !== undefined) this.expiry.set(notAfterSeconds);
  }

  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
