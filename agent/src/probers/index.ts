// Dispatch by target type. Every prober resolves with an outcome and never throws for anything the
// target does; an aborted attempt resolves `unknown` with reason ProbeAborted.
import { probeHttp } from './http.js';
import { probeIcmp } from './icmp.js';
import { probeTcp } from './tcp.js';
import type { ProbeOptions, ProbeOutcome, ProbeTarget } from './types.js';

export function runProbe(
  target: ProbeTarget,
  options: ProbeOptions,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  switch (target.type) {
    case 'http':
      return probeHttp(target, options, signal);
    case 'tcp':
      return probeTcp(target, options, signal);
    case 'icmp':
      return probeIcmp(target, options, signal);
  }
}

export { MAX_BODY_BYTES, MAX_HTTP_REQUESTS, probeHttp, USER_AGENT } from './http.js';
export { closeIcmpSessions, openIcmpSessionCount, probeIcmp } from './icmp.js';
export { probeTcp } from './tcp.js';
export * from './types.js';
