export const VMPROBE_AGENT = true;
