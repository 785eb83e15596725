// The parts of KubeVirt VMIs and launcher pods the agent reads, as they arrive from list/watch
// (plain JSON). Everything is optional: the agent must survive any object it is given.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string | Date;
}

export interface VmiInterfaceStatus {
  name?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  interfaceName?: string;
}

export interface VmiNetwork {
  name?: string;
  pod?: Record<string, unknown>;
  multus?: { networkName?: string; default?: boolean };
}

export interface VmiPortSpec {
  name?: string;
  port?: number;
  protocol?: string;
}

export interface VmiCondition {
  type?: string;
  status?: string;
  reason?: string;
}

export interface VmiObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    domain?: { devices?: { interfaces?: { name?: string; ports?: VmiPortSpec[] }[] } };
    networks?: VmiNetwork[];
    terminationGracePeriodSeconds?: number;
    livenessProbe?: unknown;
    readinessProbe?: unknown;
  };
  status?: {
    nodeName?: string;
    phase?: string;
    interfaces?: VmiInterfaceStatus[];
    conditions?: VmiCondition[];
    migrationState?: {
      startTimestamp?: string | Date;
      endTimestamp?: string | Date;
      completed?: boolean;
      failed?: boolean;
      sourceNode?: string;
      targetNode?: string;
    };
    phaseTransitionTimestamps?: { phase?: string; phaseTransitionTimestamp?: string | Date }[];
  };
}

export interface PodObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: { nodeName?: string; readinessGates?: { conditionType?: string }[] };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
    conditions?: {
      type?: string;
      status?: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
  };
}
