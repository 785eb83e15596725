export const VMPROBE_TESTBED = true;
