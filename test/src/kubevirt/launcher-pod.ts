// Pure builders: what virt-controller puts in a virt-launcher pod, which ports the simulated VM
// behind a VMI listens on, and where the VMI is placed. No I/O here.
import type { V1Pod } from '@kubernetes/client-node';
import { probesOfVmi } from '@vmprobe/shared';
import type { VmBehaviour, VmOptions } from '../vmsim/index.js';
import {
  ANNOTATION_DOMAIN,
  ANNOTATION_TEST_BEHAVIOUR,
  ANNOTATION_TEST_HTTP_PORTS,
  ANNOTATION_TEST_HTTPS_PORTS,
  ANNOTATION_TEST_NODE,
  ANNOTATION_TEST_TCP_PORTS,
  COMPUTE_CONTAINER,
  GATE_UNPAUSED,
  GATE_VMPROBE,
  KUBEVIRT_API_VERSION,
  LABEL_APP,
  LABEL_CREATED_BY,
  LABEL_HOSTNAME,
  LABEL_VM_NAME,
  LAUNCHER_APP,
  LAUNCHER_IMAGE,
  SEED_HTTP_PORT,
} from './names.js';
import type { ProbeSpec, Vmi } from './types.js';
import { randomSuffix } from './util.js';

/** KubeVirt's default VMI grace period, and the extra time the launcher pod gets on top. */
const DEFAULT_GRACE_SECONDS = 30;
const LAUNCHER_EXTRA_GRACE_SECONDS = 15;

export interface LauncherPodOptions {
  /**
   * Also list vmprobe's gate in spec.readinessGates — only for a VMI with a readiness probe
   * (`spec.readinessProbe` or the `vmprobe.io/readiness-probe` annotation), the only VMIs whose pods
   * the agent writes the gate condition on (design §4); any other pod would never become Ready.
   */
  vmprobeReadinessGate: boolean;
}

/** Whether the VMI defines a readiness probe, by the agent's own rule (annotation or spec). */
export function hasReadinessProbe(vmi: Vmi): boolean {
  return probesOfVmi(vmi).readiness !== undefined;
}

/** The virt-launcher pod for `vmi` on `node`, as virt-controller renders it (the parts that matter here). */
export function launcherPodFor(vmi: Vmi, node: string, opts: LauncherPodOptions): V1Pod {
  const name = vmi.metadata?.name ?? '';
  const uid = vmi.metadata?.uid ?? '';
  const gates = [{ conditionType: GATE_UNPAUSED }];
  if (opts.vmprobeReadinessGate && hasReadinessProbe(vmi)) gates.push({ conditionType: GATE_VMPROBE });
  const grace = vmi.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: launcherPodName(name),
      namespace: vmi.metadata?.namespace ?? 'default',
      labels: {
        ...(vmi.metadata?.labels ?? {}),
        [LABEL_APP]: LAUNCHER_APP,
        [LABEL_CREATED_BY]: uid,
        [LABEL_VM_NAME]: name,
      },
      annotations: {
        [ANNOTATION_DOMAIN]: name,
        'kubectl.kubernetes.io/default-container': COMPUTE_CONTAINER,
      },
      ownerReferences: [
        {
          apiVersion: KUBEVIRT_API_VERSION,
          kind: 'VirtualMachineInstance',
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeName: node,
      nodeSelector: { ...(vmi.spec?.nodeSelector ?? {}) },
      readinessGates: gates,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: grace + LAUNCHER_EXTRA_GRACE_SECONDS,
      automountServiceAccountToken: false,
      containers: [
        {
          name: COMPUTE_CONTAINER,
          image: LAUNCHER_IMAGE,
          command: ['/usr/bin/virt-launcher-monitor', '--name', name, '--uid', uid],
          resources: launcherResources(vmi),
        },
      ],
    },
  };
}

/**
 * The compute container's resources, from the VMI's `spec.domain.resources` as virt-controller
 * renders them: the VMI's requests and limits (so the pod's QoS class — computed by the API server —
 * is the VMI's), a cpu request of 100m when the VMI asks for none and sets no cpu limit (KubeVirt's
 * default with cpuAllocationRatio 10), and a memory request of 1024M when it asks for none. The
 * virt-launcher memory overhead KubeVirt adds to both is left out.
 */
export function launcherResources(vmi: Vmi): {
  requests: Record<string, string>;
  limits?: Record<string, string>;
} {
  const res = (
    vmi.spec?.domain as
      | { resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } }
      | undefined
  )?.resources;
  const str = (m: Record<string, unknown> | undefined) =>
    Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]));
  const limits = str(res?.limits);
  const requests = str(res?.requests);
  if (requests.cpu === undefined && limits.cpu === undefined) requests.cpu = '100m';
  if (requests.memory === undefined && limits.memory === undefined) requests.memory = '1024M';
  return Object.keys(limits).length > 0 ? { requests, limits } : { requests };
}

/** `virt-launcher-<vmi>-<5 random>`; the VMI part shortened so the name stays a DNS subdomain. */
export function launcherPodName(vmiName: string): string {
  const prefix = `virt-launcher-${vmiName}`.slice(0, 63 - 6);
  return `${prefix}-${randomSuffix()}`;
}

function numericPort(port: number | string | undefined): number | undefined {
  const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

function parsePortList(raw: string | undefined): number[] {
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => numericPort(s.trim()))
    .filter((p): p is number => p !== undefined);
}

function probesOf(vmi: Vmi): ProbeSpec[] {
  const probes: ProbeSpec[] = [];
  if (vmi.spec?.livenessProbe) probes.push(vmi.spec.livenessProbe);
  if (vmi.spec?.readinessProbe) probes.push(vmi.spec.readinessProbe);
  for (const kind of ['liveness', 'readiness', 'startup']) {
    const raw = vmi.metadata?.annotations?.[`vmprobe.io/${kind}-probe`];
    if (!raw) continue;
    try {
      const p: unknown = JSON.parse(raw);
      if (p && typeof p === 'object') probes.push(p as ProbeSpec);
    } catch {
      // an invalid annotation is the agent's to report; the VM just gets no extra port
    }
  }
  return probes;
}

/**
 * The ports the simulated VM serves: the seed's HTTP server on 1500 always (the seed VMIs' cloud-init
 * starts it), every numeric httpGet port (HTTPS ones on TLS), every other tcpSocket port as a plain
 * TCP listener, plus the test-bed annotations `vmprobe.test/{http,https,tcp}-ports`.
 */
export function vmPortsFor(vmi: Vmi): Required<Pick<VmOptions, 'httpPorts' | 'httpsPorts' | 'tcpPorts'>> {
  const ann = vmi.metadata?.annotations ?? {};
  const http = new Set<number>([SEED_HTTP_PORT, ...parsePortList(ann[ANNOTATION_TEST_HTTP_PORTS])]);
  const https = new Set<number>(parsePortList(ann[ANNOTATION_TEST_HTTPS_PORTS]));
  const tcp = new Set<number>(parsePortList(ann[ANNOTATION_TEST_TCP_PORTS]));
  for (const p of probesOf(vmi)) {
    const hp = numericPort(p.httpGet?.port);
    if (hp !== undefined) {
      if ((p.httpGet?.scheme ?? 'HTTP').toUpperCase() === 'HTTPS') https.add(hp);
      else http.add(hp);
    }
    const tp = numericPort(p.tcpSocket?.port);
    if (tp !== undefined) tcp.add(tp);
  }
  for (const p of https) http.delete(p);
  for (const p of [...http, ...https]) tcp.delete(p); // an HTTP listener accepts TCP connects too
  const sort = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);
  return { httpPorts: sort(http), httpsPorts: sort(https), tcpPorts: sort(tcp) };
}

const BEHAVIOUR_KINDS = new Set(['healthy', 'status', 'slow', 'hang', 'refuse', 'blackhole', 'flap']);

/** The initial behaviour from `vmprobe.test/behaviour` (JSON), when present and well-formed. */
export function initialBehaviourFor(vmi: Vmi): VmBehaviour | undefined {
  const raw = vmi.metadata?.annotations?.[ANNOTATION_TEST_BEHAVIOUR];
  if (!raw) return undefined;
  try {
    const b = JSON.parse(raw) as { kind?: unknown };
    if (b && typeof b.kind === 'string' && BEHAVIOUR_KINDS.has(b.kind)) return b as VmBehaviour;
  } catch {
    // fall through: a malformed annotation means "healthy"
  }
  return undefined;
}

/** Where the VMI asked to run: nodeSelector kubernetes.io/hostname, else the test annotation. */
export function requestedNode(vmi: Vmi): string | undefined {
  return vmi.spec?.nodeSelector?.[LABEL_HOSTNAME] ?? vmi.metadata?.annotations?.[ANNOTATION_TEST_NODE];
}

/** Deterministic locally administered MAC from the VMI uid (KubeVirt's pod network uses 02:…). */
export function macFor(uid: string): string {
  let h = 2166136261;
  for (let i = 0; i < uid.length; i++) h = Math.imul(h ^ uid.charCodeAt(i), 16777619) >>> 0;
  const b = [0x02, 0x42, (h >>> 24) & 255, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
