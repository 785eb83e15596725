/**
 * The VM simulator: addresses that behave like VMs (HTTP, HTTPS, TCP, ICMP), switchable at run
 * time. See docs/ARCHITECTURE.md "VM simulator" and docs/TESTBED.md.
 */
import { VmSimError } from './errors.js';
import { LoopbackSimulator } from './loopback.js';
import { which } from './run.js';
import type { VmSimulator, VmSimulatorOptions } from './types.js';

export { sweepOrphansSync } from './cleanup.js';
export { VmSimError, type VmSimErrorCode } from './errors.js';
export { loopbackVmCidr } from './loopback.js';
export type {
  RecordedRequest,
  SimVm,
  VmBehaviour,
  VmOptions,
  VmSimulator,
  VmSimulatorOptions,
} from './types.js';
export { REQUEST_LOG_SIZE } from './types.js';

/** True when running as root (netns mode and blackholes also need their tools: see below). */
export const isRoot: boolean = process.getuid?.() === 0;

/** Why netns mode cannot run here (root and the `ip` tool), or undefined when it can. Tests skip
 *  with this reason printed instead of failing on a machine without them. */
export const netnsUnavailable: string | undefined = !isRoot
  ? 'network namespaces need root'
  : !which('ip')
    ? 'network namespaces need the ip tool (apt-get install iproute2)'
    : undefined;

/** Why blackholes (packet drops) cannot run here (root and nft or iptables), or undefined. */
export const blackholeUnavailable: string | undefined = !isRoot
  ? 'blackholes need root'
  : !which('nft') && !which('iptables')
    ? 'blackholes need nft or iptables (apt-get install nftables)'
    : undefined;

/** Prints why a test file or test is skipped (vitest shows only "skipped"). */
export function logSkip(what: string, reason: string | undefined): void {
  if (reason) console.log(`SKIP ${what}: ${reason}`);
}

/** Start a simulator. netns mode rejects with ERR_NEEDS_ROOT when not root. */
export async function startVmSimulator(opts: VmSimulatorOptions = {}): Promise<VmSimulator> {
  const mode = opts.mode ?? 'loopback';
  if (mode === 'loopback') return LoopbackSimulator.start();
  if (mode === 'netns') {
    if (!isRoot) throw new VmSimError('ERR_NEEDS_ROOT', 'netns mode needs root');
    const { NetnsSimulator } = await import('./netns.js');
    return NetnsSimulator.start();
  }
  throw new VmSimError('ERR_BAD_OPTIONS', `unknown VM simulator mode ${JSON.stringify(mode)}`);
}
