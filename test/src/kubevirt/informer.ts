// A ListWatch that survives a flaky API server.
//
// client-node's ListWatch relists after a 410 and re-watches after a clean end, but after a network
// error or an error status (5xx, 429, outage) it only calls its error handlers and stays down. This
// wrapper restarts it with exponential backoff (reset by the next successful list or event). It owns
// its one retry timer; stop() clears it and is idempotent.
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import { errorMessage } from './util.js';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** Used in error messages. */
  name: string;
  kc: KubeConfig;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Told about every error that caused a restart (default: ignored). */
  onError?: (name: string, err: unknown) => void;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private synced = false;
  private syncWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  /** Errors seen since start (for diagnostics). */
  errors = 0;

  constructor(private readonly opts: InformerOptions<T>) {
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 3_000;
    this.backoffMs = this.minBackoffMs;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await opts.list();
      this.backoffMs = this.minBackoffMs;
      // ListWatch fills its cache synchronously right after this promise settles.
      setImmediate(() => this.markSynced());
      return result;
    };
    this.lw = new ListWatch<T>(
      opts.path,
      new Watch(opts.kc),
      list,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    this.lw.on('error', this.onError);
    const resetBackoff = (): void => {
      this.backoffMs = this.minBackoffMs;
    };
    this.lw.on('add', resetBackoff);
    this.lw.on('update', resetBackoff);
    this.lw.on('delete', resetBackoff);
  }

  on(event: InformerEvent, cb: InformerHandler<T>): void {
    this.lw.on(event, cb);
  }

  off(event: InformerEvent, cb: InformerHandler<T>): void {
    this.lw.off(event, cb);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.lw.list(namespace);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts list+watch; resolves once the first list is in the cache (retrying through errors). */
  start(): Promise<void> {
    if (!this.stopped) return this.waitForSync();
    this.stopped = false;
    this.run();
    return this.waitForSync();
  }

  /** Stops the watch and the retry timer; idempotent. Pending start() promises reject. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.lw.stop();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.reject(new Error(`informer ${this.opts.name} stopped before sync`));
  }

  private waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  private markSynced(): void {
    if (this.synced || this.stopped) return;
    this.synced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private run(): void {
    this.lw.start().catch(this.onError);
  }

  private readonly onError = (err: unknown): void => {
    if (this.stopped) return; // stop() surfaces as an AbortError: expected
    this.errors++;
    this.opts.onError?.(this.opts.name, err);
    if (this.retryTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.run();
    }, delay);
  };
}

export function describeError(err: unknown): string {
  return errorMessage(err);
}
