/** Public types of the VM simulator. Other test-bed modules and tests code against these names. */

/** How a simulated VM answers. Switchable at run time with `SimVm.setBehaviour`. */
export type VmBehaviour =
  /** HTTP 200 "Hello World!" on every HTTP(S) port, TCP ports accept, ICMP answers. */
  | { kind: 'healthy' }
  /** HTTP answers with this status (a 3xx carries a Location to the same path). */
  | { kind: 'status'; code: number }
  /** HTTP waits delayMs before sending headers; TCP accept stays immediate. */
  | { kind: 'slow'; delayMs: number }
  /** Connections are accepted, HTTP requests never answered. */
  | { kind: 'hang' }
  /** Nothing listens: a connect gets ECONNREFUSED. */
  | { kind: 'refuse' }
  /** Root only: every packet to (and in netns mode from) the VM is dropped, ICMP too. */
  | { kind: 'blackhole'; via?: 'firewall' | 'link-down' }
  /** Alternates healthy and HTTP 500 every periodMs, starting healthy. */
  | { kind: 'flap'; periodMs: number };

export interface VmOptions {
  /** Plain HTTP ports; default [1500] (the seed's "Hello World!" server). */
  httpPorts?: number[];
  /** Extra plain TCP listeners (accept, then hold the connection until the peer closes). */
  tcpPorts?: number[];
  /** HTTPS ports, served with a self-signed certificate for the VM's addresses. */
  httpsPorts?: number[];
  /** Initial behaviour; default healthy. */
  behaviour?: VmBehaviour;
}

/** One HTTP request as the VM saw it. */
export interface RecordedRequest {
  /** Date.now() when the request's headers arrived. */
  time: number;
  method: string;
  path: string;
  /** Lower-cased header names, as Node parses them. */
  headers: Record<string, string | string[] | undefined>;
  /** Port the request arrived on. */
  port: number;
}

export interface SimVm {
  readonly id: string;
  /** IPv4 address the VM answers on. */
  readonly ip: string;
  /** IPv6 address, when the mode provides one (netns mode). */
  readonly ip6?: string;
  readonly behaviour: VmBehaviour;
  /** Resolves once the behaviour is in effect (listeners, firewall, link state). */
  setBehaviour(b: VmBehaviour): Promise<void>;
  /** The last REQUEST_LOG_SIZE requests, oldest first. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  /** Every request since creation (not bounded by the ring). */
  requestCount(): number;
  /**
   * Resolves once every request the VM has answered so far is visible in `requests`.
   * A no-op in loopback mode; in netns mode a round trip to the VM's process.
   */
  flushRequests(): Promise<void>;
}

export interface VmSimulatorOptions {
  /** Default 'loopback' (unprivileged). 'netns' needs root. */
  mode?: 'loopback' | 'netns';
}

export interface VmSimulator {
  readonly mode: 'loopback' | 'netns';
  /** Random 5-hex id embedded in every kernel object name it creates (vmp-<id>-N, vmpbr<id>, vmph<id>N, vmpsim_<id>). */
  readonly instanceId: string;
  /** Rejects with ERR_VM_EXISTS for a live id, ERR_NEEDS_ROOT for a root-only behaviour. */
  createVm(id: string, opts?: VmOptions): Promise<SimVm>;
  vm(id: string): SimVm | undefined;
  /** Idempotent: an unknown id resolves. Frees the VM's address (reused last). */
  destroyVm(id: string): Promise<void>;
  /** Removes everything it created (servers, processes, namespaces, veths, bridge, rules). Idempotent. */
  stop(): Promise<void>;
}

export const REQUEST_LOG_SIZE = 100;
