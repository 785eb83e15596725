export const VMPROBE_SHARED = true;
