/**
 * Low-level storage: objects per group-resource, ONE global resourceVersion counter, the event
 * history kept for watch resumption (older versions → 410 Expired), the watch hub (fan-out is
 * O(watchers of that resource and namespace)) and the uid / owner indexes garbage collection uses.
 * Stored objects are never mutated after commit: every write stores a fresh object. No semantics
 * here (validation, admission, preconditions live in rest.ts); no timers.
 */
import type { KubeObject } from './util.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  gr: string;
  namespace: string;
  object: KubeObject;
  /** Previous state for MODIFIED (selector transitions turn into ADDED / DELETED per watcher). */
  old?: KubeObject;
}

export interface Watcher {
  gr: string;
  /** Undefined = all namespaces. */
  namespace?: string;
  matches(obj: KubeObject): boolean;
  deliver(type: EventType, obj: KubeObject, rv: number): void;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export class Storage {
  private rv = 0;
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly byUid = new Map<string, { gr: string; key: string }>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly history: StoreEvent[] = [];
  private historyStart = 0;
  /** Highest rv dropped from history: watching from an rv below it is 410 Expired. */
  private compacted = 0;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly historySize: number) {}

  get resourceVersion(): number {
    return this.rv;
  }
  get compactedResourceVersion(): number {
    return this.compacted;
  }

  nextRv(): number {
    this.rv += 1;
    return this.rv;
  }

  get(gr: string, key: string): KubeObject | undefined {
    return this.data.get(gr)?.get(key);
  }

  /** Objects of a resource (optionally in one namespace), sorted by key like etcd. */
  list(gr: string, namespace?: string): KubeObject[] {
    const m = this.data.get(gr);
    if (!m) return [];
    const out: [string, KubeObject][] = [];
    if (namespace) {
      const prefix = `${namespace}/`;
      for (const [k, v] of m) if (k.startsWith(prefix)) out.push([k, v]);
    } else for (const e of m) out.push(e);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out.map((e) => e[1]);
  }

  count(gr: string): number {
    return this.data.get(gr)?.size ?? 0;
  }

  locateUid(uid: string): { gr: string; key: string; object: KubeObject } | undefined {
    const loc = this.byUid.get(uid);
    if (!loc) return undefined;
    const object = this.get(loc.gr, loc.key);
    return object ? { ...loc, object } : undefined;
  }

  /** Keys (`gr\0key`) of objects that list `uid` in their ownerReferences. */
  dependentsOf(uid: string): string[] {
    return [...(this.dependents.get(uid) ?? [])];
  }

  /** Stores `obj` (its metadata.resourceVersion must already be `rv`) and emits the event. */
  put(gr: string, obj: KubeObject, rv: number): void {
    const ns: string = obj.metadata.namespace ?? '';
    const key = objectKey(ns, obj.metadata.name);
    let m = this.data.get(gr);
    if (!m) {
      m = new Map();
      this.data.set(gr, m);
    }
    const old = m.get(key);
    m.set(key, obj);
    if (old) this.unindex(gr, key, old);
    this.index(gr, key, obj);
    this.emit(
      old
        ? { type: 'MODIFIED', rv, gr, namespace: ns, object: obj, old }
        : { type: 'ADDED', rv, gr, namespace: ns, object: obj },
    );
  }

  /** Removes the object; `finalState` (with the deletion rv) is what watchers receive. */
  remove(gr: string, key: string, finalState: KubeObject, rv: number): void {
    const m = this.data.get(gr);
    const old = m?.get(key);
    if (!m || !old) return;
    m.delete(key);
    this.unindex(gr, key, old);
    this.emit({
      type: 'DELETED',
      rv,
      gr,
      namespace: finalState.metadata.namespace ?? '',
      object: finalState,
    });
  }

  private index(gr: string, key: string, obj: KubeObject): void {
    if (obj.metadata.uid) this.byUid.set(obj.metadata.uid, { gr, key });
    for (const ref of obj.metadata.ownerReferences ?? []) {
      if (!ref?.uid) continue;
      let s = this.dependents.get(ref.uid);
      if (!s) {
        s = new Set();
        this.dependents.set(ref.uid, s);
      }
      s.add(`${gr}\0${key}`);
    }
  }

  private unindex(gr: string, key: string, obj: KubeObject): void {
    if (obj.metadata.uid && this.byUid.get(obj.metadata.uid)?.key === key)
      this.byUid.delete(obj.metadata.uid);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const s = ref?.uid ? this.dependents.get(ref.uid) : undefined;
      if (!s) continue;
      s.delete(`${gr}\0${key}`);
      if (s.size === 0) this.dependents.delete(ref.uid);
    }
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length - this.historyStart > this.historySize) {
      const dropped = this.history[this.historyStart];
      this.historyStart += 1;
      if (dropped) this.compacted = dropped.rv;
      // Reclaim the array lazily.
      if (this.historyStart > 4096 && this.historyStart * 2 > this.history.length) {
        this.history.splice(0, this.historyStart);
        this.historyStart = 0;
      }
    }
    this.dispatch(e);
    for (const l of this.listeners) l(e);
  }

  private dispatch(e: StoreEvent): void {
    for (const set of [this.watchers.get(e.gr), this.watchers.get(`${e.gr}|${e.namespace}`)]) {
      if (!set) continue;
      for (const w of set) deliverTo(w, e);
    }
  }

  /** Events after `rv` for a resource, or undefined when they are compacted away. */
  eventsSince(gr: string, rv: number): StoreEvent[] | undefined {
    if (rv < this.compacted) return undefined;
    const out: StoreEvent[] = [];
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.history[mid] as StoreEvent).rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++) {
      const e = this.history[i] as StoreEvent;
      if (e.gr === gr) out.push(e);
    }
    return out;
  }

  addWatcher(w: Watcher): () => void {
    const k = w.namespace ? `${w.gr}|${w.namespace}` : w.gr;
    let s = this.watchers.get(k);
    if (!s) {
      s = new Set();
      this.watchers.set(k, s);
    }
    s.add(w);
    return () => {
      const set = this.watchers.get(k);
      set?.delete(w);
      if (set && set.size === 0) this.watchers.delete(k);
    };
  }

  watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  /** Every committed event, in order (GC, in-process watches). Returns the unsubscribe function. */
  onEvent(l: (e: StoreEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/** Turns a store event into what one watcher sees, honouring selector transitions. */
export function deliverTo(w: Watcher, e: StoreEvent): void {
  if (w.namespace && w.namespace !== e.namespace) return;
  if (e.type === 'MODIFIED' && e.old) {
    const now = w.matches(e.object);
    const before = w.matches(e.old);
    if (now && before) w.deliver('MODIFIED', e.object, e.rv);
    else if (now) w.deliver('ADDED', e.object, e.rv);
    else if (before) w.deliver('DELETED', e.object, e.rv);
    return;
  }
  if (w.matches(e.object)) w.deliver(e.type, e.object, e.rv);
}
