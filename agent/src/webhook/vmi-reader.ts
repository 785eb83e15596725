// How the webhook reads the owning VMI: one GET per admission call (kube/vmi-reader.ts implements
// it). Why a GET and not a cache: the launcher pod is created right after its VMI, so a watch cache
// can lag behind and miss the VMI, which would decide wrongly; one GET is always current, needs only
// `get` on VMIs, and costs one request per VM start.

export type VmiLookup = { found: true; vmi: unknown } | { found: false };

export interface VmiReader {
  /** The VMI, or `{found:false}` for a 404. Rejects on any other failure or when `signal` aborts. */
  get(namespace: string, name: string, signal: AbortSignal): Promise<VmiLookup>;
}
