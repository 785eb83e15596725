// The agent's Prometheus metrics: an AgentObserver backed by its own prom-client Registry (never the
// global one, so tests and several agents in one process do not share series).
//
// Per-probe series (results, seconds, status) live in one ProbeSeries record per VMI × probe kind,
// found through a WeakMap on the caller's ProbeIdentity object (workers keep theirs) or, failing
// that, a string key; probeResult() then only bumps numbers: no hashing, no allocation. They are
// written as text at scrape time from label strings rendered once per probe (text-format.ts);
// everything low-rate goes through prom-client. probeRemoved() drops the record, and with it every
// series of that probe.
import type { ProbeKind } from '@vmprobe/shared';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentObserver, HandlerType, ProbeIdentity, ProbeState } from '../observer.js';
import type { ProbeOutcome, ProbeResult } from '../probers/types.js';
import {
  API_DURATION_BUCKETS,
  METRIC,
  METRIC_PREFIX,
  PROBE_DURATION_BUCKETS,
  RESULT_VALUES,
  SCHEDULE_LAG_BUCKETS,
  STATUS_VALUES,
} from './names.js';
import { escapeLabelValue, FixedHistogram, familyHeader, formatValue } from './text-format.js';

export interface AgentMetricsOptions {
  /** Node name, on vmprobe_build_info. */
  node: string;
  version: string;
  /** prom-client's process and Node.js metrics with the vmprobe_ prefix (default true). They enable
   *  a perf_hooks event-loop-delay monitor and a GC observer: no timers, nothing to stop, but they
   *  live as long as the process — turn them off in unit tests that create many instances. */
  processMetrics?: boolean;
}

const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const RESULT_INDEX: Readonly<Record<ProbeResult, number>> = {
  success: 0,
  warning: 1,
  failure: 2,
  unknown: 3,
};

/** Everything exported about one probe (VMI × kind). Mutated in place on the hot path. */
interface ProbeSeries {
  readonly namespace: string;
  readonly vmi: string;
  readonly probe: ProbeKind;
  handler: HandlerType;
  /** `namespace="…",vmi="…",probe="…"`, escaped once. */
  readonly labels: string;
  /** Attempts per result, indexed by RESULT_INDEX. */
  readonly results: Float64Array;
  seconds: number;
  state: ProbeState;
  /** The node-wide duration histogram of (probe, handler). */
  duration: FixedHistogram;
  removed: boolean;
}

function seriesKey(namespace: string, vmi: string, probe: string): string {
  return `${namespace}\u0000${vmi}\u0000${probe}`;
}

export class AgentMetrics implements AgentObserver {
  readonly registry = new Registry();
  private readonly byIdentity = new WeakMap<object, ProbeSeries>();
  private readonly byKey = new Map<string, ProbeSeries>();
  /** Node-wide duration histograms per `${probe}/${handler}`. */
  private readonly durations = new Map<
    string,
    { probe: ProbeKind; handler: HandlerType; hist: FixedHistogram }
  >();
  private readonly scheduleLag = new FixedHistogram(SCHEDULE_LAG_BUCKETS);
  private readonly apiDuration: Histogram<'verb' | 'resource' | 'code'>;
  private readonly reporterWrites: Counter<'target' | 'result'>;
  private readonly watchRestarts: Counter<'resource' | 'reason'>;
  private readonly kills: Counter<'action' | 'outcome'>;

  constructor(opts: AgentMetricsOptions) {
    const registers = [this.registry];
    if (opts.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      // prom-client names three gauges `…_total`, which Prometheus reserves for counters; the same
      // numbers are exported by type without the suffix (vmprobe_nodejs_active_handles{type}).
      for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(METRIC_PREFIX + name);
    }

    new Gauge({
      name: METRIC.buildInfo,
      help: 'Always 1; labels carry the agent version and the node it runs on.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: opts.version, node: opts.node }, 1);

    this.apiDuration = new Histogram({
      name: METRIC.apiRequestDuration,
      help: 'Kubernetes API requests made by the agent, by verb, resource and HTTP code (0 = network error).',
      labelNames: ['verb', 'resource', 'code'],
      buckets: API_DURATION_BUCKETS,
      registers,
    });
    this.reporterWrites = new Counter({
      name: METRIC.reporterWrites,
      help: 'Status writes by the reporter, by target object and result (ok, conflict, error, retry).',
      labelNames: ['target', 'result'],
      registers,
    });
    this.watchRestarts = new Counter({
      name: METRIC.watchRestarts,
      help: 'Informer watch restarts, by resource and reason (error, gone, closed).',
      labelNames: ['resource', 'reason'],
      registers,
    });
    this.kills = new Counter({
      name: METRIC.livenessKills,
      help: 'Liveness actions on failing VMIs, by action and outcome (done, held_back by the kill budget, failed).',
      labelNames: ['action', 'outcome'],
      registers,
    });
    // Known outcomes start at 0 so that increase() sees the first one.
    for (const target of ['probestatus', 'pod', 'event']) {
      for (const result of ['ok', 'conflict', 'error', 'retry'])
        this.reporterWrites.inc({ target, result }, 0);
    }
  }

  /** Exports vmprobe_readiness_not_enforced_vmis, read from `count` at scrape time. Call once. */
  countReadinessNotEnforced(count: () => number): void {
    new Gauge({
      name: METRIC.readinessNotEnforced,
      help: 'VMIs on this node whose readiness probe is not enforced: their launcher pod lacks the vmprobe.io/ReadinessProbe readiness gate (restart or live-migrate them).',
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** The exposition text and its content type (for /metrics). */
  async expose(): Promise<{ contentType: string; body: string }> {
    const registered = await this.registry.metrics();
    return { contentType: this.registry.contentType, body: registered + this.writeProbeFamilies() };
  }

  /** Number of probes with series (for tests and the debug page). */
  get probeCount(): number {
    return this.byKey.size;
  }

  // --- AgentObserver ---------------------------------------------------------------------------

  probeResult(id: ProbeIdentity, outcome: ProbeOutcome, _state: ProbeState, scheduleLagMs: number): void {
    const s = this.seriesFor(id);
    const seconds = outcome.timings.durationMs / 1000;
    s.results[RESULT_INDEX[outcome.result] ?? 3]!++;
    s.seconds += seconds;
    s.duration.observe(seconds);
    this.scheduleLag.observe(scheduleLagMs > 0 ? scheduleLagMs / 1000 : 0);
  }

  probeState(id: ProbeIdentity, state: ProbeState, _reason: string): void {
    this.seriesFor(id).state = state;
  }

  probeRemoved(id: Omit<ProbeIdentity, 'handler'> & { handler?: HandlerType }): void {
    const key = seriesKey(id.namespace, id.vmi, id.probe);
    const s = this.byKey.get(key);
    if (!s) return;
    s.removed = true;
    this.byKey.delete(key);
  }

  apiRequest(verb: string, resource: string, code: number, durationSeconds: number): void {
    this.apiDuration.observe({ verb, resource, code: String(code) }, durationSeconds);
  }

  reporterWrite(
    target: 'probestatus' | 'pod' | 'event',
    result: 'ok' | 'conflict' | 'error' | 'retry',
  ): void {
    this.reporterWrites.inc({ target, result });
  }

  watchRestart(resource: string, reason: string): void {
    this.watchRestarts.inc({ resource, reason });
  }

  kill(
    _namespace: string,
    _vmi: string,
    action: string,
    outcome: 'done' | 'held_back' | 'failed',
    _reason: string,
  ): void {
    // Per-VMI labels are left out on purpose: a kill outlives its VMI, so the series could never be
    // deleted; the event and the log line name the VMI.
    this.kills.inc({ action, outcome });
  }

  // --- internals --------------------------------------------------------------------------------

  private seriesFor(id: ProbeIdentity): ProbeSeries {
    let s = this.byIdentity.get(id);
    if (s === undefined || s.removed) {
      const key = seriesKey(id.namespace, id.vmi, id.probe);
      s = this.byKey.get(key);
      if (s === undefined) {
        s = {
          namespace: id.namespace,
          vmi: id.vmi,
          probe: id.probe,
          handler: id.handler,
          labels: `namespace="${escapeLabelValue(id.namespace)}",vmi="${escapeLabelValue(id.vmi)}",probe="${id.probe}"`,
          results: new Float64Array(RESULT_VALUES.length),
          seconds: 0,
          state: 'unknown',
          duration: this.durationFor(id.probe, id.handler),
          removed: false,
        };
        this.byKey.set(key, s);
      }
      this.byIdentity.set(id, s);
    }
    if (s.handler !== id.handler) {
      // The probe changed handler (http → tcp): the old `kind` series end, new ones start at 0.
      s.handler = id.handler;
      s.results.fill(0);
      s.seconds = 0;
      s.duration = this.durationFor(id.probe, id.handler);
    }
    return s;
  }

  private durationFor(probe: ProbeKind, handler: HandlerType): FixedHistogram {
    const key = `${probe}/${handler}`;
    let d = this.durations.get(key);
    if (!d) {
      d = { probe, handler, hist: new FixedHistogram(PROBE_DURATION_BUCKETS) };
      this.durations.set(key, d);
    }
    return d.hist;
  }

  /** The per-probe and hot-path families, as exposition text. */
  private writeProbeFamilies(): string {
    let results = familyHeader(
      METRIC.probeResults,
      'Finished probe attempts per VMI probe and attempt result.',
      'counter',
    );
    let seconds = familyHeader(
      METRIC.probeSeconds,
      'Seconds spent in probe attempts per VMI probe; divided by the rate of vmprobe_probe_results_total, the mean attempt duration.',
      'counter',
    );
    let status = familyHeader(
      METRIC.probeStatus,
      'Current thresholded probe state per VMI probe: 1 for the current status, 0 for the other two.',
      'gauge',
    );
    for (const s of this.byKey.values()) {
      const withKind = `${s.labels},kind="${s.handler}"`;
      for (let i = 0; i < RESULT_VALUES.length; i++) {
        results += `${METRIC.probeResults}{${withKind},result="${RESULT_VALUES[i]}"} ${s.results[i]}\n`;
      }
      seconds += `${METRIC.probeSeconds}{${withKind}} ${formatValue(s.seconds)}\n`;
      for (const st of STATUS_VALUES) {
        status += `${METRIC.probeStatus}{${s.labels},status="${st}"} ${s.state === st ? 1 : 0}\n`;
      }
    }
    let duration = familyHeader(
      METRIC.probeDuration,
      'Duration of probe attempts on this node, per probe kind and handler.',
      'histogram',
    );
    for (const d of this.durations.values()) {
      duration += d.hist.write(METRIC.probeDuration, `probe="${d.probe}",kind="${d.handler}"`);
    }
    const lag =
      familyHeader(METRIC.scheduleLag, 'How late probe attempts started after their due time.', 'histogram') +
      this.scheduleLag.write(METRIC.scheduleLag, '');
    return `\n${results}\n${seconds}\n${status}\n${duration}\n${lag}`;
  }
}
