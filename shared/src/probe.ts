// The KubeVirt Probe schema (kubevirt.io/v1 Probe, as in the seed document) plus vmprobe's
// `icmp: {}` extension. These are the shapes users write; `ResolvedProbe` (probe-defaults.ts) is what
// the agent runs after defaulting and validation.

/** Which probe of a VMI: the three kinds the kubelet knows. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export const PROBE_KINDS: readonly ProbeKind[] = ['startup', 'liveness', 'readiness'];

/** Kubernetes IntOrString: a port number or a named port. */
export type IntOrString = number | string;

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPGetAction {
  port: IntOrString;
  path?: string;
  host?: string;
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: HTTPHeader[];
}

export interface TCPSocketAction {
  port: IntOrString;
  host?: string;
}

export interface ExecAction {
  command?: string[];
}

/** KubeVirt's guest-agent ping: needs the guest agent, which a node agent cannot reach. */
export type GuestAgentPing = Record<string, never>;

/** vmprobe extension: one ICMP echo per attempt to the target address. */
export type IcmpAction = Record<string, never>;

/** A probe exactly as written in `spec.<kind>Probe` or the `vmprobe.io/<kind>-probe` annotation. */
export interface Probe {
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  exec?: ExecAction;
  guestAgentPing?: GuestAgentPing;
  icmp?: IcmpAction;
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** The handler field names, in the order they are reported. */
export const HANDLER_FIELDS = ['httpGet', 'tcpSocket', 'exec', 'guestAgentPing', 'icmp'] as const;
export type HandlerField = (typeof HANDLER_FIELDS)[number];
