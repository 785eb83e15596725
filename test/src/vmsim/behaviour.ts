import { VmSimError } from './errors.js';
import type { VmBehaviour, VmOptions } from './types.js';

/** Throws ERR_BAD_OPTIONS unless `b` is a well-formed behaviour. Returns a copy. */
export function checkBehaviour(b: VmBehaviour): VmBehaviour {
  const bad = (why: string): never => {
    throw new VmSimError('ERR_BAD_OPTIONS', `invalid VM behaviour ${JSON.stringify(b)}: ${why}`);
  };
  if (b === null || typeof b !== 'object') return bad('not an object');
  switch (b.kind) {
    case 'healthy':
    case 'hang':
    case 'refuse':
      return { kind: b.kind };
    case 'status':
      if (!Number.isInteger(b.code) || b.code < 100 || b.code > 599) bad('code must be an integer 100..599');
      return { kind: 'status', code: b.code };
    case 'slow':
      if (!Number.isFinite(b.delayMs) || b.delayMs < 0) bad('delayMs must be >= 0');
      return { kind: 'slow', delayMs: b.delayMs };
    case 'flap':
      if (!Number.isFinite(b.periodMs) || b.periodMs < 1) bad('periodMs must be >= 1');
      return { kind: 'flap', periodMs: b.periodMs };
    case 'blackhole':
      if (b.via !== undefined && b.via !== 'firewall' && b.via !== 'link-down')
        bad('via must be firewall|link-down');
      return b.via === undefined ? { kind: 'blackhole' } : { kind: 'blackhole', via: b.via };
    default:
      return bad('unknown kind');
  }
}

export interface PortSet {
  httpPorts: number[];
  tcpPorts: number[];
  httpsPorts: number[];
}

/** Validated ports of a VM: defaults applied, each port 1..65535 and used once. */
export function checkPorts(opts: VmOptions): PortSet {
  const ports: PortSet = {
    httpPorts: opts.httpPorts ?? [1500],
    tcpPorts: opts.tcpPorts ?? [],
    httpsPorts: opts.httpsPorts ?? [],
  };
  const seen = new Set<number>();
  for (const p of [...ports.httpPorts, ...ports.tcpPorts, ...ports.httpsPorts]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new VmSimError('ERR_BAD_OPTIONS', `invalid port ${p}: must be an integer 1..65535`);
    }
    if (seen.has(p)) throw new VmSimError('ERR_BAD_OPTIONS', `port ${p} is listed twice`);
    seen.add(p);
  }
  return ports;
}
