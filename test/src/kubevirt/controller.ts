// The plumbing every emulated controller shares: a keyed work queue running `reconcile`, fed by
// handlers on informer events. start() subscribes the handlers, then starts the queue; stop()
// unsubscribes them (whoever added a listener removes it) and waits for the runs in flight. Both
// are idempotent. The controller owns its queue and the queue's timers; the informers belong to
// the caller.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { InformerEvent, InformerHandler, ResilientInformer } from './informer.js';
import { WorkQueue } from './workqueue.js';

export type ControllerErrorHandler = (component: string, key: string, err: unknown) => void;

/** One informer subscription: `handler` on each of `events`. */
export interface Subscription {
  on(): void;
  off(): void;
}

const ALL_EVENTS: ReadonlyArray<InformerEvent> = ['add', 'update', 'delete'];

/** `handler` for `events` (default add, update and delete) of `informer`. */
export function subscribe<T extends KubernetesObject>(
  informer: ResilientInformer<T>,
  handler: InformerHandler<T>,
  events: ReadonlyArray<InformerEvent> = ALL_EVENTS,
): Subscription {
  return {
    on: () => {
      for (const ev of events) informer.on(ev, handler);
    },
    off: () => {
      for (const ev of events) informer.off(ev, handler);
    },
  };
}

export interface QueueControllerOptions {
  /** The queue's name, passed to onError as the component. */
  name: string;
  concurrency: number;
  onError?: ControllerErrorHandler | undefined;
}

export abstract class QueueController {
  protected readonly queue: WorkQueue;
  private active: ReadonlyArray<Subscription> | undefined;

  constructor(opts: QueueControllerOptions) {
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: opts.name,
      concurrency: opts.concurrency,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }

  /** Brings the object named by `key` (namespace/name) to its desired state; a throw is retried. */
  protected abstract reconcile(key: string): Promise<void>;

  /** The informer events that enqueue work; asked once per start(). */
  protected abstract subscriptions(): ReadonlyArray<Subscription>;

  start(): void {
    if (this.active) return;
    this.active = this.subscriptions();
    for (const s of this.active) s.on();
    this.queue.start();
  }

  async stop(): Promise<void> {
    const active = this.active;
    if (!active) return;
    this.active = undefined;
    for (const s of active) s.off();
    await this.queue.stop();
  }

  /** True when nothing is queued, running or scheduled. */
  get idle(): boolean {
    return this.queue.idle;
  }
}
