// Watched caches of the node's VMIs and launcher pods. A ResourceWatcher wraps client-node's
// ListWatch (list, then watch from the list's resourceVersion; it relists by itself after a 410 and
// re-watches after a clean end) and adds what ListWatch lacks: a restart with jittered exponential
// backoff after any other error (network error, 5xx, outage — ListWatch just stops), a `synced`
// signal after every complete list, a server-side watch timeout plus a client-side stall watchdog,
// bookmarks, and an AgentObserver report of every list/watch and every restart.
//
// Trimmed caches: every listed item and every ADDED/MODIFIED/DELETED object is passed through the
// watcher's `trim` (model/trim.ts: only the fields the agent reads) before ListWatch sees it, so
// ListWatch's cache, the handlers and the manager's maps hold only trimmed objects and each full
// object (client-node's model instance from a list, raw JSON from a watch) is garbage at once.
// BOOKMARK and ERROR objects pass unchanged (ListWatch reads their resourceVersion / code).
//
// Ownership: the watcher owns its backoff timer and stall timers; stop() clears them, aborts the
// watch and is idempotent. The AbortError that client-node reports for our own stop is ignored.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import {
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  LABEL_KUBEVIRT,
  LABEL_VMI_NODE_NAME,
  LAUNCHER_LABEL_VALUE,
  VMI_PLURAL,
} from '@vmprobe/shared';
import { type BackoffPolicy, backoffDelay } from '../backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { type Logger, silentLogger } from '../log.js';
import type { PodObject, VmiObject } from '../model/objects.js';
import { trimPod, trimVmi } from '../model/trim.js';
import { type AgentObserver, noopObserver } from '../observer.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, withDeadline } from './deadline.js';

export interface WatcherHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
  /** A complete list was applied to the cache (first sync, and after every relist). */
  synced?(): void;
}

/** What a list call returns: its resourceVersion, the next page's token, and items (any shape;
 *  `trim` makes them T). */
export interface ListResult {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: readonly unknown[];
}

/** Which page to list: `limit` items after `continueToken` (both undefined: the whole list). */
export interface ListPage {
  limit?: number;
  continueToken?: string;
}

/** A relist holds at most this many whole objects at once (each page is trimmed before the next is
 *  asked for), not the whole list: the transient peak of a relist of 1,000 pods stays ~1/10. */
export const LIST_PAGE_SIZE = 100;

/** Watch phases whose object is a resource (trimmed); BOOKMARK and ERROR objects are not. */
const OBJECT_PHASES = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** A paginated list stopped between pages because the watcher was stopped (never reported). */
class ListAbandoned extends Error {
  override readonly name = 'AbortError';
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

export interface ResourceWatcherOptions<T> {
  kubeConfig: KubeConfig;
  /** Resource name for metrics and logs ("virtualmachineinstances", "pods"). */
  resource: string;
  /** Watch path, e.g. /api/v1/pods. */
  path: string;
  /** One page of the list call (same selectors as the watch); `limit` undefined = the whole list.
   *  Each page's items are trimmed before the next page is asked for. */
  list: (page: ListPage) => Promise<ListResult>;
  /** Items per list page (default LIST_PAGE_SIZE). */
  listPageSize?: number;
  /** The object as cached: called once per listed item and per watched ADDED/MODIFIED/DELETED
   *  object, before ListWatch or a handler sees it. Must return `metadata` with name, namespace
   *  and resourceVersion as given (ListWatch keys and compares by them). */
  trim: (raw: unknown) => T;
  labelSelector?: string;
  fieldSelector?: string;
  observer?: AgentObserver;
  logger?: Logger;
  clock?: Clock;
  backoff?: BackoffPolicy;
  /** Server-side watch timeout; a random value in [t, 2t) is sent so watches do not align. */
  watchTimeoutSeconds?: number;
  /** Random source for jitter (tests pin it). */
  random?: () => number;
}

function errorCode(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return 0;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function isAbortError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    ((err as { name?: unknown }).name === 'AbortError' || (err as { type?: unknown }).type === 'aborted')
  );
}

export class ResourceWatcher<T> {
  private readonly handlers = new Set<WatcherHandlers<T>>();
  private readonly observer: AgentObserver;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private listWatch: ListWatch<T & KubernetesObject> | undefined;
  private running = false;
  private attempt = 0;
  private restartTimer: TimerHandle | undefined;
  private listedSinceWatch = false;
  private everSynced = false;
  /** Bumps on every stop so late callbacks from an old ListWatch are ignored. */
  private generation = 0;
  private readonly stallTimers = new Set<TimerHandle>();

  constructor(private readonly opts: ResourceWatcherOptions<T>) {
    this.observer = opts.observer ?? noopObserver;
    this.logger = (opts.logger ?? silentLogger).child({ resource: opts.resource });
    this.clock = opts.clock ?? systemClock;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.random = opts.random ?? Math.random;
  }

  /** Adds handlers; returns the function that removes them. */
  on(handlers: WatcherHandlers<T>): () => void {
    this.handlers.add(handlers);
    return () => {
      this.handlers.delete(handlers);
    };
  }

  /** True once a complete list has been applied (stays true through later outages). */
  get synced(): boolean {
    return this.everSynced;
  }

  list(): readonly T[] {
    return this.listWatch ? this.listWatch.list() : [];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch?.get(name, namespace);
  }

  /** Starts list+watch; never rejects — failures are retried with backoff. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const generation = this.generation;
    const watch = this.instrumentedWatch(generation);
    const lw = new ListWatch<T & KubernetesObject>(
      this.opts.path,
      watch,
      () => this.timedList(generation),
      false,
      this.opts.labelSelector,
      this.opts.fieldSelector,
    );
    lw.on('add', (o) => this.emit(generation, 'add', o));
    lw.on('update', (o) => this.emit(generation, 'update', o));
    lw.on('delete', (o) => this.emit(generation, 'delete', o));
    lw.on('error', (err) => this.onError(generation, err));
    this.listWatch = lw;
    this.runListWatch(generation);
  }

  /** Stops the watch and every timer; idempotent. The cache stays readable. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    if (this.restartTimer) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    for (const t of this.stallTimers) this.clock.clearTimeout(t);
    this.stallTimers.clear();
    await this.listWatch?.stop();
  }

  private runListWatch(generation: number): void {
    const lw = this.listWatch;
    if (!lw) return;
    lw.start().catch((err: unknown) => this.onError(generation, err));
  }

  private emit(generation: number, verb: 'add' | 'update' | 'delete', obj: T): void {
    if (generation !== this.generation) return;
    for (const h of [...this.handlers]) {
      try {
        h[verb]?.(obj);
      } catch (err) {
        this.logger.error({ err: errorText(err), verb }, 'watch handler threw');
      }
    }
  }

  private emitSynced(generation: number): void {
    if (generation !== this.generation) return;
    const first = !this.everSynced;
    this.everSynced = true;
    this.attempt = 0;
    this.logger[first ? 'info' : 'debug'](
      { objects: this.list().length },
      first ? 'initial list synced' : 'relisted',
    );
    for (const h of [...this.handlers]) {
      try {
        h.synced?.();
      } catch (err) {
        this.logger.error({ err: errorText(err) }, 'synced handler threw');
      }
    }
  }

  /**
   * One complete list for ListWatch, in pages of `listPageSize` (a consistent snapshot: the API
   * serves every page from the first page's resourceVersion), each page trimmed before the next is
   * asked for. A continue token that expired (410) restarts as one unpaginated list, as client-go's
   * pager does. Only what ListWatch reads is returned: the resourceVersion and the trimmed items.
   */
  private async timedList(generation: number): Promise<KubernetesListObject<T & KubernetesObject>> {
    const limit = this.opts.listPageSize ?? LIST_PAGE_SIZE;
    const items: (T & KubernetesObject)[] = [];
    let page: ListPage = { limit };
    let resourceVersion: string | undefined;
    for (;;) {
      let result: ListResult;
      try {
        result = await this.timedPage(page);
      } catch (err) {
        if (page.continueToken === undefined || errorCode(err) !== 410) throw err;
        items.length = 0;
        page = {};
        continue;
      }
      for (const item of result.items ?? []) items.push(this.opts.trim(item) as T & KubernetesObject);
      resourceVersion = result.metadata?.resourceVersion;
      const next = result.metadata?.continue;
      if (!next || page.limit === undefined) break;
      if (generation !== this.generation) throw new ListAbandoned();
      page = { limit, continueToken: next };
    }
    if (generation === this.generation) this.listedSinceWatch = true;
    return { metadata: resourceVersion === undefined ? {} : { resourceVersion }, items };
  }

  /** One list request, reported to the observer. */
  private async timedPage(page: ListPage): Promise<ListResult> {
    const started = performance.now();
    try {
      const result = await this.opts.list(page);
      this.observer.apiRequest('list', this.opts.resource, 200, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      this.observer.apiRequest(
        'list',
        this.opts.resource,
        errorCode(err),
        (performance.now() - started) / 1000,
      );
      throw err;
    }
  }

  /** ListWatch calls watch() right after it applied a list: that is the moment the cache is synced. */
  private instrumentedWatch(generation: number): Watch {
    const owner = this;
    const timeoutBase = this.opts.watchTimeoutSeconds ?? 300;
    class InstrumentedWatch extends Watch {
      override async watch(
        path: string,
        queryParams: Record<string, string | number | boolean | undefined>,
        callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
        done: (err: unknown) => void,
      ): Promise<AbortController> {
        if (owner.listedSinceWatch) {
          owner.listedSinceWatch = false;
          owner.emitSynced(generation);
        }
        const timeoutSeconds = Math.floor(timeoutBase * (1 + owner.random()));
        const started = performance.now();
        let stall: TimerHandle | undefined;
        let controller: AbortController | undefined;
        let finished = false;
        let sawGone = false;
        const clearStall = () => {
          if (stall) {
            owner.clock.clearTimeout(stall);
            owner.stallTimers.delete(stall);
            stall = undefined;
          }
        };
        // No line for the server timeout + 30 s means a dead connection the kernel has not noticed.
        const armStall = () => {
          clearStall();
          if (finished || generation !== owner.generation) return;
          stall = owner.clock.setTimeout(
            () => {
              if (stall) owner.stallTimers.delete(stall);
              stall = undefined;
              owner.logger.warn({ timeoutSeconds }, 'watch stalled; aborting it');
              controller?.abort();
            },
            (timeoutSeconds + 30) * 1000,
          );
          owner.stallTimers.add(stall);
        };
        const wrappedDone = (err: unknown) => {
          finished = true;
          clearStall();
          owner.observer.apiRequest(
            'watch',
            owner.opts.resource,
            err ? errorCode(err) : 200,
            (performance.now() - started) / 1000,
          );
          if (generation === owner.generation && owner.running) {
            // ListWatch restarts by itself after a clean end (server timeout, dropped watch) and
            // relists after a 410; other errors reach onError, which reports them.
            if (!err) owner.observer.watchRestart(owner.opts.resource, sawGone ? 'gone' : 'closed');
            else if (errorCode(err) === 410) owner.observer.watchRestart(owner.opts.resource, 'gone');
          }
          done(err);
        };
        const wrappedCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => {
          owner.attempt = 0;
          if (phase === 'ERROR' && errorCode(apiObj) === 410) sawGone = true;
          armStall();
          if (OBJECT_PHASES.has(phase)) callback(phase, owner.opts.trim(apiObj), undefined);
          else callback(phase, apiObj, watchObj);
        };
        controller = await super.watch(
          path,
          { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
          wrappedCallback,
          wrappedDone,
        );
        armStall();
        return controller;
      }
    }
    return new InstrumentedWatch(this.opts.kubeConfig);
  }

  private onError(generation: number, err: unknown): void {
    if (generation !== this.generation || !this.running) return; // our own stop(): AbortError
    if (this.restartTimer) return; // a restart is already scheduled
    const code = errorCode(err);
    const reason = isAbortError(err) ? 'closed' : 'error';
    const delay = backoffDelay(this.backoff, this.attempt + 1, this.random);
    this.attempt++;
    this.observer.watchRestart(this.opts.resource, reason);
    this.logger[this.attempt > 3 ? 'warn' : 'info'](
      { err: errorText(err), code, attempt: this.attempt, retryInMs: delay },
      this.everSynced ? 'watch failed; restarting' : 'cannot reach the API server; retrying',
    );
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (generation !== this.generation || !this.running) return;
      this.runListWatch(generation);
    }, delay);
  }
}

/** The injectable parts of a watcher (what the node's VMI and pod watchers let callers set). */
export type NodeWatcherDeps = Pick<
  ResourceWatcherOptions<unknown>,
  'observer' | 'logger' | 'clock' | 'backoff' | 'watchTimeoutSeconds' | 'random' | 'listPageSize'
> & {
  /** Deadline of each list request (default 30 s, deadline.ts); a list past it fails and is retried. */
  requestTimeoutMs?: number;
};

function depsOf(
  d: NodeWatcherDeps,
): Omit<ResourceWatcherOptions<unknown>, 'kubeConfig' | 'resource' | 'path' | 'list' | 'trim'> {
  return {
    ...(d.observer ? { observer: d.observer } : {}),
    ...(d.logger ? { logger: d.logger } : {}),
    ...(d.clock ? { clock: d.clock } : {}),
    ...(d.backoff ? { backoff: d.backoff } : {}),
    ...(d.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: d.watchTimeoutSeconds } : {}),
    ...(d.random ? { random: d.random } : {}),
    ...(d.listPageSize !== undefined ? { listPageSize: d.listPageSize } : {}),
  };
}

/** VMIs labelled for this node (KubeVirt sets kubevirt.io/nodeName; status.nodeName decides). */
export function createVmiWatcher(
  kc: KubeConfig,
  nodeName: string,
  deps: NodeWatcherDeps = {},
): ResourceWatcher<VmiObject> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const labelSelector = `${LABEL_VMI_NODE_NAME}=${nodeName}`;
  return new ResourceWatcher<VmiObject>({
    ...depsOf(deps),
    kubeConfig: kc,
    resource: VMI_PLURAL,
    path: `/apis/${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}/${VMI_PLURAL}`,
    labelSelector,
    trim: trimVmi,
    list: async (page) =>
      (await api.listClusterCustomObject(
        {
          group: KUBEVIRT_GROUP,
          version: KUBEVIRT_VERSION,
          plural: VMI_PLURAL,
          labelSelector,
          ...(page.limit !== undefined ? { limit: page.limit } : {}),
          ...(page.continueToken !== undefined ? { _continue: page.continueToken } : {}),
        },
        withDeadline(deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
      )) as ListResult,
  });
}

/** virt-launcher pods on this node. */
export function createLauncherPodWatcher(
  kc: KubeConfig,
  nodeName: string,
  deps: NodeWatcherDeps = {},
): ResourceWatcher<PodObject> {
  const api = kc.makeApiClient(CoreV1Api);
  const labelSelector = `${LABEL_KUBEVIRT}=${LAUNCHER_LABEL_VALUE}`;
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return new ResourceWatcher<PodObject>({
    ...depsOf(deps),
    kubeConfig: kc,
    resource: 'pods',
    path: '/api/v1/pods',
    labelSelector,
    fieldSelector,
    trim: trimPod,
    list: async (page) => {
      const list = await api.listPodForAllNamespaces(
        {
          labelSelector,
          fieldSelector,
          ...(page.limit !== undefined ? { limit: page.limit } : {}),
          ...(page.continueToken !== undefined ? { _continue: page.continueToken } : {}),
        },
        withDeadline(deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
      );
      // client-node's V1ListMeta names the token `_continue` (raw JSON, as for VMIs: `continue`).
      const token = list.metadata?._continue;
      return {
        metadata: {
          ...(list.metadata?.resourceVersion !== undefined
            ? { resourceVersion: list.metadata.resourceVersion }
            : {}),
          ...(token ? { continue: token } : {}),
        },
        items: list.items,
      };
    },
  });
}
