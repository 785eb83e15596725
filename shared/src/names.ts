// Names fixed by the design (design.md §4): conditions, reasons, labels, annotations, the CRD.
// Every other module takes these constants instead of spelling the strings.
import type { ProbeKind } from './probe.js';

/** VMIProbeStatus condition type per probe kind. */
export const CONDITION_TYPE: Readonly<Record<ProbeKind, string>> = {
  liveness: 'LivenessProbe',
  readiness: 'ReadinessProbe',
  startup: 'StartupProbe',
};

/** The launcher pod's readiness-gate condition written by the agent. */
export const POD_READINESS_CONDITION = 'vmprobe.io/ReadinessProbe';

/** Reasons on VMIProbeStatus conditions and the pod gate condition. */
export const REASON = {
  ProbeSucceeded: 'ProbeSucceeded',
  ProbeFailed: 'ProbeFailed',
  ProbeTimeout: 'ProbeTimeout',
  ProbeWarning: 'ProbeWarning',
  InvalidProbe: 'InvalidProbe',
  UnsupportedProbe: 'UnsupportedProbe',
  NoTargetAddress: 'NoTargetAddress',
  Suspended: 'Suspended',
  LivenessKill: 'LivenessKill',
  KillHeldBack: 'KillHeldBack',
  Initializing: 'Initializing',
  StartupPending: 'StartupPending',
  /** The probe could not be run here (e.g. ICMP without CAP_NET_RAW); says nothing about the target. */
  ProbeError: 'ProbeError',
  /** The attempt was cancelled by its caller (worker stopped); the result is discarded. */
  ProbeAborted: 'ProbeAborted',
} as const;
export type Reason = (typeof REASON)[keyof typeof REASON];

/** Annotation carrying a probe as JSON; takes precedence over spec.<kind>Probe. */
export function probeAnnotation(kind: ProbeKind): string {
  return `vmprobe.io/${kind}-probe`;
}
export const ANNOTATION_PROBE_NETWORK = 'vmprobe.io/probe-network';
export const ANNOTATION_IP_FAMILY = 'vmprobe.io/ip-family';

/** KubeVirt's labels and names the agent reads. */
export const LABEL_VMI_NODE_NAME = 'kubevirt.io/nodeName';
export const LABEL_CREATED_BY = 'kubevirt.io/created-by';
export const LABEL_KUBEVIRT = 'kubevirt.io';
export const LAUNCHER_LABEL_VALUE = 'virt-launcher';
export const KUBEVIRT_UNPAUSED_GATE = 'kubevirt.io/virtual-machine-unpaused';

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
export const VMI_PLURAL = 'virtualmachineinstances';
export const VMI_KIND = 'VirtualMachineInstance';

/** vmprobe's own custom resource. */
export const VMPROBE_GROUP = 'vmprobe.io';
export const VMPROBE_VERSION = 'v1alpha1';
export const PROBE_STATUS_KIND = 'VMIProbeStatus';
export const PROBE_STATUS_PLURAL = 'vmiprobestatuses';
/** Label on every VMIProbeStatus: the node whose agent writes it (each agent lists its own at start). */
export const LABEL_PROBE_STATUS_NODE = 'vmprobe.io/node';

/** Event reasons, as the kubelet names them. */
export const EVENT_REASON = {
  Unhealthy: 'Unhealthy',
  Killing: 'Killing',
  KillHeldBack: 'KillHeldBack',
  InvalidProbe: 'InvalidProbe',
} as const;

/** Component name on Events and the field manager on writes. */
export const COMPONENT = 'vmprobe';
