/** Stable error codes of the VM simulator. */
export type VmSimErrorCode =
  | 'ERR_NEEDS_ROOT' // the operation needs root (netns mode, blackhole)
  | 'ERR_UNSUPPORTED_IN_MODE' // e.g. blackhole via link-down in loopback mode
  | 'ERR_VM_EXISTS' // createVm with an id that is live
  | 'ERR_VM_DESTROYED' // setBehaviour on a destroyed VM
  | 'ERR_SIMULATOR_STOPPED' // createVm after stop()
  | 'ERR_BAD_OPTIONS' // invalid port, behaviour or id
  | 'ERR_ADDRESSES_EXHAUSTED' // no free address / slot left
  | 'ERR_LISTEN' // a VM port could not be bound
  | 'ERR_COMMAND_FAILED' // ip / nft / iptables exited non-zero
  | 'ERR_VM_PROCESS'; // the netns VM's child process failed or died

export class VmSimError extends Error {
  override readonly name = 'VmSimError';
  constructor(
    readonly code: VmSimErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
