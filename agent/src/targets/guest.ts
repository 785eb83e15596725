// Targets of guest probes (exec, guestAgentPing): the virt-launcher's command socket on this node
// and the libvirt domain name. Pure, like the rest of targets/.
//
// The socket lives in the launcher pod's `sockets` emptyDir:
//   <kubelet pods dir>/<podUID>/volumes/kubernetes.io~empty-dir/sockets/launcher-sock
// The agent sees the kubelet's pods directory at a short mount root (default /pods, as
// virt-handler mounts it) because a unix socket path must fit in 107 bytes and
// /var/lib/kubelet/pods/<uid>/… does not (111).
import type { ResolvedHandler } from '@vmprobe/shared';
import { REASON } from '@vmprobe/shared';
import { ANNOTATION_PAUSE_GUEST_AGENT_PROBES, type PodObject, type VmiObject } from '../model/objects.js';

export const LAUNCHER_SOCKET_SUFFIX = 'volumes/kubernetes.io~empty-dir/sockets/launcher-sock';
/** sun_path holds 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;
/** A pod UID is a 36-character UUID. */
const POD_UID_LENGTH = 36;
export const DEFAULT_PODS_ROOT = '/pods';

/** Guest probes are enabled (the agent's --guest-probes) with the kubelet pods dir mounted here. */
export interface GuestProbeConfig {
  podsRoot: string;
}

export const ENABLE_HINT =
  'start the agent with --guest-probes (kustomize component manifests/components/guest-probes, see docs/OPERATIONS.md "Guest probes")';

/** Why a pods root cannot hold launcher socket paths, or undefined when it can. */
export function podsRootProblem(root: string): string | undefined {
  if (!root.startsWith('/')) return `must be an absolute path, got ${JSON.stringify(root)}`;
  const longest = Buffer.byteLength(launcherSocketPath(root, 'x'.repeat(POD_UID_LENGTH)));
  if (longest > MAX_UNIX_SOCKET_PATH_BYTES) {
    return `${JSON.stringify(root)} is too long: launcher socket paths under it are ${longest} bytes, a unix socket path may have ${MAX_UNIX_SOCKET_PATH_BYTES} (mount the kubelet's pods directory at a short path such as /pods)`;
  }
  return undefined;
}

export function launcherSocketPath(podsRoot: string, podUid: string): string {
  return `${podsRoot.replace(/\/+$/, '')}/${podUid}/${LAUNCHER_SOCKET_SUFFIX}`;
}

/** libvirt's domain name for a VMI, as KubeVirt builds it: `<namespace>_<name>`. */
export function domainNameOf(vmi: VmiObject): string {
  return `${vmi.metadata?.namespace ?? ''}_${vmi.metadata?.name ?? ''}`;
}

// KubeVirt's kubevirt.io/pause-guest-agent-probes (defined in model/objects.ts, so trimming keeps
// it), read with Go's strconv.ParseBool truthiness.
export { ANNOTATION_PAUSE_GUEST_AGENT_PROBES };

const PARSE_BOOL_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
export function guestAgentProbesPaused(vmi: VmiObject): boolean {
  const v = vmi.metadata?.annotations?.[ANNOTATION_PAUSE_GUEST_AGENT_PROBES];
  return v !== undefined && PARSE_BOOL_TRUE.has(v);
}

export type GuestTargetChoice =
  | {
      ok: true;
      target:
        | { type: 'exec'; socketPath: string; domainName: string; command: string; args: string[] }
        | { type: 'guestAgentPing'; socketPath: string; domainName: string };
      address: string;
      display: string;
    }
  | { ok: false; reason: string; message: string };

/** The target of an exec / guestAgentPing probe; UnsupportedProbe (with how to enable) when off. */
export function resolveGuestTarget(
  handler: Extract<ResolvedHandler, { type: 'exec' | 'guestAgentPing' }>,
  vmi: VmiObject,
  launcherPods: readonly PodObject[],
  config: GuestProbeConfig | undefined,
): GuestTargetChoice {
  if (!config) {
    return {
      ok: false,
      reason: REASON.UnsupportedProbe,
      message: `${handler.type} probes run through the virt-launcher's command socket, which this agent was not given: ${ENABLE_HINT}`,
    };
  }
  const node = vmi.status?.nodeName;
  const here = launcherPods.filter(
    (p) =>
      node !== undefined &&
      p.spec?.nodeName === node &&
      p.status?.phase === 'Running' &&
      !p.metadata?.deletionTimestamp &&
      typeof p.metadata?.uid === 'string' &&
      /^[0-9a-zA-Z-]+$/.test(p.metadata.uid),
  );
  if (here.length !== 1) {
    return {
      ok: false,
      reason: REASON.NoTargetAddress,
      message:
        here.length === 0
          ? 'no running launcher pod of this VMI on this node (its command socket is where guest probes go)'
          : `${here.length} running launcher pods of this VMI on this node: waiting for one`,
    };
  }
  const socketPath = launcherSocketPath(config.podsRoot, here[0]?.metadata?.uid as string);
  const domainName = domainNameOf(vmi);
  const target =
    handler.type === 'exec'
      ? {
          type: 'exec' as const,
          socketPath,
          domainName,
          command: handler.command[0] ?? '',
          args: handler.command.slice(1),
        }
      : { type: 'guestAgentPing' as const, socketPath, domainName };
  return { ok: true, target, address: socketPath, display: `${domainName} via ${socketPath}` };
}
