/**
 * Pod QoS class as kube-apiserver computes it at creation (pkg/apis/core/helper/qos): Guaranteed
 * when every container (init containers included) has cpu and memory limits and its requests equal
 * them (a missing request defaults to the limit); BestEffort when no container requests or limits
 * anything; Burstable otherwise. Only cpu and memory count.
 */
// biome-ignore lint/suspicious/noExplicitAny: pod specs are arbitrary JSON.
type Any = any;

const COMPUTE = ['cpu', 'memory'];

/** Parses a Kubernetes quantity ("100m", "1Gi", "2", "1e3") into a number (for equality only). */
export function parseQuantity(q: unknown): number {
  const s = String(q).trim();
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(s);
  if (!m) return Number.NaN;
  const mult: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return Number(m[1]) * (m[2] ? (mult[m[2]] as number) : 1);
}

export function podQosClass(spec: Any): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers: Any[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req: Record<string, unknown> = c?.resources?.requests ?? {};
    const lim: Record<string, unknown> = c?.resources?.limits ?? {};
    for (const r of COMPUTE) {
      const hasReq = req[r] !== undefined && parseQuantity(req[r]) !== 0;
      const hasLim = lim[r] !== undefined && parseQuantity(lim[r]) !== 0;
      if (hasReq || hasLim) any = true;
      if (!hasLim) guaranteed = false;
      else if (req[r] !== undefined && parseQuantity(req[r]) !== parseQuantity(lim[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
