/**
 * Watch streams over HTTP: headers flushed at once, newline-delimited JSON events, replay from a
 * resourceVersion out of the store's history (410 Expired as an ERROR event when compacted),
 * synthetic ADDED events for rv ""/"0", periodic BOOKMARKs when asked, `timeoutSeconds`.
 * Each stream owns its bookmark/timeout timers and its watcher registration; `close()` releases all
 * and is idempotent. Serialised event lines are cached per object+type+apiVersion so fan-out to
 * many watchers serialises once.
 */
import type { ServerResponse } from 'node:http';
import { errors } from './errors.js';
import { apiVersionOf, groupResource, type ResourceType } from './resources.js';
import type { Rest } from './rest.js';
import { deliverTo, type EventType, type Storage } from './storage.js';
import type { KubeObject } from './util.js';

export interface WatchParams {
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  sendInitialEvents?: boolean;
  /** Renders each event's object for the client (a one-row Table for `as=Table` watches); no line cache then. */
  render?: (obj: KubeObject) => unknown;
}

const lineCache = new WeakMap<object, Map<string, string>>();

function eventLine(type: string, obj: KubeObject, apiVersion: string): string {
  let m = lineCache.get(obj);
  const k = `${type}|${apiVersion}`;
  const hit = m?.get(k);
  if (hit) return hit;
  const object = obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
  const line = `${JSON.stringify({ type, object })}\n`;
  if (!m) {
    m = new Map();
    lineCache.set(obj, m);
  }
  m.set(k, line);
  return line;
}

export class WatchStream {
  private closed = false;
  private unregister?: () => void;
  private bookmarkTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly onClose: (s: WatchStream) => void,
  ) {}

  /** Validates parameters (throws ApiError before any byte is written), then streams. */
  start(
    rest: Rest,
    storage: Storage,
    rt: ResourceType,
    namespace: string | undefined,
    version: string,
    p: WatchParams,
    forcedGone: boolean,
    bookmarkIntervalMs: number,
  ): void {
    const match = rest.compileSelectors(rt, p);
    const gr = groupResource(rt.group, rt.plural);
    const apiVersion = apiVersionOf(rt.group, version);
    let fromRv: number | undefined;
    if (p.resourceVersion && p.resourceVersion !== '0') {
      const n = Number(p.resourceVersion);
      if (!Number.isInteger(n) || n < 0)
        throw errors.badRequest(`invalid resource version "${p.resourceVersion}"`);
      fromRv = n;
    }
    this.res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    this.res.flushHeaders();
    this.res.on('close', () => this.close());

    const gone = (msg: string) => {
      const status = errors.expired(msg).toStatus();
      this.res.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      this.close();
    };
    if (forcedGone) {
      gone(`too old resource version: ${fromRv ?? 0} (${storage.resourceVersion})`);
      return;
    }

    const ns = rt.namespaced ? namespace : undefined;
    const render = p.render;
    const line = render
      ? (type: string, obj: KubeObject) =>
          `${JSON.stringify({ type, object: render(obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion }) })}\n`
      : (type: string, obj: KubeObject) => eventLine(type, obj, apiVersion);
    const watcher = {
      gr,
      namespace: ns,
      matches: match,
      deliver: (type: EventType, obj: KubeObject) => this.write(line(type, obj)),
    };
    if (fromRv === undefined) {
      for (const obj of storage.list(gr, ns)) if (match(obj)) this.write(line('ADDED', obj));
      if (p.sendInitialEvents && p.allowWatchBookmarks) {
        this.write(
          `${JSON.stringify({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion, metadata: { resourceVersion: String(storage.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } } } })}\n`,
        );
      }
    } else {
      const events = storage.eventsSince(gr, fromRv);
      if (!events) {
        gone(`too old resource version: ${fromRv} (${storage.compactedResourceVersion})`);
        return;
      }
      for (const e of events) deliverTo(watcher, e);
    }
    this.unregister = storage.addWatcher(watcher);
    if (p.allowWatchBookmarks && bookmarkIntervalMs > 0) {
      this.bookmarkTimer = setInterval(() => {
        this.write(
          `${JSON.stringify({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion, metadata: { resourceVersion: String(storage.resourceVersion) } } })}\n`,
        );
      }, bookmarkIntervalMs);
    }
    if (p.timeoutSeconds !== undefined && p.timeoutSeconds > 0) {
      this.timeoutTimer = setTimeout(() => this.close(), p.timeoutSeconds * 1000);
    }
  }

  private write(line: string): void {
    if (!this.closed) this.res.write(line);
  }

  /** Ends the stream cleanly (the client sees the body end). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister?.();
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (!this.res.writableEnded) this.res.end();
    this.onClose(this);
  }
}
