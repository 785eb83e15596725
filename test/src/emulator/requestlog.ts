/** The record of every request the emulator answered, with query helpers for assertions. */

export interface RequestRecord {
  /** ms since epoch when the request arrived. */
  time: number;
  user: string;
  verb: string;
  method: string;
  path: string;
  query: string;
  apiGroup: string;
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  contentType?: string;
  status: number;
  durationMs: number;
}

export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface RequestFilter {
  since?: number;
  user?: string;
  verb?: string | string[];
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  status?: number;
}

export class RequestLog {
  private readonly records: RequestRecord[] = [];

  constructor(private readonly max = 200_000) {}

  /** @internal */
  add(r: RequestRecord): void {
    this.records.push(r);
    if (this.records.length > this.max) this.records.splice(0, this.records.length - this.max);
  }

  all(): readonly RequestRecord[] {
    return this.records;
  }

  filter(f: RequestFilter | ((r: RequestRecord) => boolean)): RequestRecord[] {
    if (typeof f === 'function') return this.records.filter(f);
    const verbs = f.verb === undefined ? undefined : Array.isArray(f.verb) ? f.verb : [f.verb];
    return this.records.filter(
      (r) =>
        (f.since === undefined || r.time >= f.since) &&
        (f.user === undefined || r.user === f.user) &&
        (verbs === undefined || verbs.includes(r.verb)) &&
        (f.resource === undefined || r.resource === f.resource) &&
        (f.subresource === undefined || r.subresource === f.subresource) &&
        (f.namespace === undefined || r.namespace === f.namespace) &&
        (f.name === undefined || r.name === f.name) &&
        (f.status === undefined || r.status === f.status),
    );
  }

  /** Writes (create/update/patch/delete/deletecollection), optionally narrowed. */
  writes(f: Omit<RequestFilter, 'verb'> = {}): RequestRecord[] {
    return this.filter({ ...f, verb: [...WRITE_VERBS] });
  }

  since(time: number): RequestRecord[] {
    return this.filter({ since: time });
  }

  count(f: RequestFilter = {}): number {
    return this.filter(f).length;
  }

  clear(): void {
    this.records.length = 0;
  }
}
