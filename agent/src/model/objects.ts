// The parts of KubeVirt VMIs and launcher pods the agent reads — and nothing else: the watchers
// trim every object to these shapes as it arrives (./trim.ts), before it enters any cache, so a
// reader of a field not listed here fails to compile instead of reading `undefined` at run time.
// Adding a read means adding the field here AND keeping it in trim.ts (its table test says which).
// Timestamps are RFC 3339 strings (a listed pod's Dates are converted on the way in). Everything is
// optional: the agent must survive any object it is given.

/** KubeVirt's kubevirt.io/pause-guest-agent-probes, read with Go's strconv.ParseBool truthiness. */
export const ANNOTATION_PAUSE_GUEST_AGENT_PROBES = 'kubevirt.io/pause-guest-agent-probes';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  /** Pods: only kubevirt.io/created-by (the owning VMI's uid). VMIs: none. */
  labels?: Record<string, string>;
  /** VMIs: only vmprobe.io/* and kubevirt.io/pause-guest-agent-probes. Pods: none. */
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface VmiInterfaceStatus {
  name?: string;
  ipAddress?: string;
  ipAddresses?: string[];
}

export interface VmiNetwork {
  name?: string;
  /** Present (always `{}` once trimmed) when this is the pod network. */
  pod?: Record<string, unknown>;
}

export interface VmiPortSpec {
  name?: string;
  port?: number;
}

/** Only the condition types the agent reads: Paused (liveness suspension) and Ready (migration). */
export interface VmiCondition {
  type?: string;
  status?: string;
}

export interface VmiObject {
  metadata?: ObjectMeta;
  spec?: {
    domain?: { devices?: { interfaces?: { name?: string; ports?: VmiPortSpec[] }[] } };
    networks?: VmiNetwork[];
    terminationGracePeriodSeconds?: number;
    /** Kept as given: validated and defaulted by @vmprobe/shared on every reconcile. */
    livenessProbe?: unknown;
    readinessProbe?: unknown;
  };
  status?: {
    nodeName?: string;
    phase?: string;
    interfaces?: VmiInterfaceStatus[];
    conditions?: VmiCondition[];
    migrationState?: {
      startTimestamp?: string;
      endTimestamp?: string;
      completed?: boolean;
      failed?: boolean;
      targetNode?: string;
    };
    /** Only the latest Running entry (runningSince reads no other). */
    phaseTransitionTimestamps?: { phase?: string; phaseTransitionTimestamp?: string }[];
  };
}

/** Only vmprobe's own condition (vmprobe.io/ReadinessProbe): the reporter's gate drift check. */
export interface PodCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface PodObject {
  metadata?: ObjectMeta;
  spec?: { nodeName?: string; readinessGates?: { conditionType?: string }[] };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
    conditions?: PodCondition[];
  };
}
