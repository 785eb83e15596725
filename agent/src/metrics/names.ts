// Every metric family the agent exports, in one place (dashboards, alerts and tests use these names).
// Naming: `vmprobe_` prefix, base units (seconds), `_total` only on counters, `_info` for the
// constant build-info gauge. Labels: `probe` = liveness | readiness | startup (the probe kind),
// `kind` = http | tcp | icmp | exec | guestAgentPing (the handler), `result` = success | warning |
// failure | unknown (one attempt), `status` = success | failure | unknown (the thresholded state).

export const METRIC_PREFIX = 'vmprobe_';

export const METRIC = {
  /** counter {namespace,vmi,probe,kind,result}: finished attempts. */
  probeResults: 'vmprobe_probe_results_total',
  /** counter {namespace,vmi,probe,kind}: seconds spent in attempts (÷ results = mean duration). */
  probeSeconds: 'vmprobe_probe_seconds_total',
  /** histogram {probe,kind}: attempt duration, node-wide (per-VMI histograms cost too many series). */
  probeDuration: 'vmprobe_probe_duration_seconds',
  /** gauge {namespace,vmi,probe,status}: 1 for the current state, 0 for the other two. */
  probeStatus: 'vmprobe_probe_status',
  /** histogram: how late attempts started against their due time. */
  scheduleLag: 'vmprobe_probe_schedule_lag_seconds',
  /** counter {target,result}: reporter writes (target probestatus|pod|event; result ok|conflict|error|retry). */
  reporterWrites: 'vmprobe_reporter_writes_total',
  /** histogram {verb,resource,code}: API requests; code "0" = network error. Errors: _count by code. */
  apiRequestDuration: 'vmprobe_api_request_duration_seconds',
  /** counter {resource,reason}: informer watch restarts (reason error|gone|closed). */
  watchRestarts: 'vmprobe_watch_restarts_total',
  /** counter {action,outcome}: liveness actions (outcome done|held_back|failed). */
  livenessKills: 'vmprobe_liveness_kills_total',
  /** gauge: VMIs on this node with a readiness probe whose launcher pod lacks the vmprobe.io/ReadinessProbe
   *  readiness gate (created before `vmprobe webhook`): readiness reported but not enforced. */
  readinessNotEnforced: 'vmprobe_readiness_not_enforced_vmis',
  /** gauge {version,node} = 1. */
  buildInfo: 'vmprobe_build_info',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Label values of `result` on vmprobe_probe_results_total, in exposition order. */
export const RESULT_VALUES = ['success', 'warning', 'failure', 'unknown'] as const;
/** Label values of `status` on vmprobe_probe_status, in exposition order. */
export const STATUS_VALUES = ['success', 'failure', 'unknown'] as const;

/** Bucket bounds in seconds. Few on purpose: the per-kind histogram is node-wide, so it is cheap
 *  anyway, but alerts and dashboards only need "fast / slow / near the 1 s default timeout". */
export const PROBE_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const SCHEDULE_LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
export const API_DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 10, 60];
