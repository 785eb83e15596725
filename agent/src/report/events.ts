// Events on VMIs, correlated like the kubelet's recorder: the same (VMI, reason, message) again
// patches the existing Event's count and lastTimestamp instead of creating a new object; a
// different message creates a new Event. Shared by the reporter (Unhealthy, InvalidProbe) and the
// liveness handler (Killing, KillHeldBack). Every write takes a token from the shared write limiter.
//
// Best effort, as the kubelet's: a failed write throws ApiWriteError to the caller, which decides
// whether to retry; a patch that finds the Event gone (expired after its TTL) creates a new one.

import type { Clock } from '../clock.js';
import { ApiWriteError, type KubeWrites } from '../kube/api.js';
import { boundMessage } from '../model/message.js';
import type { AgentObserver } from '../observer.js';
import type { TokenBucket } from './rate-limit.js';
import type { VmiRef } from './types.js';

export interface EventIntent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

interface Recorded {
  name: string;
  namespace: string;
  message: string;
  count: number;
}

export interface EventRecorderOptions {
  writes: KubeWrites;
  limiter: TokenBucket;
  clock: Clock;
  observer: AgentObserver;
  /** Messages are cut to this many characters (an Event message may hold 1 KiB in practice). */
  maxMessageLength?: number;
}

export class EventRecorder {
  private readonly byVmi = new Map<string, Map<string, Recorded>>();
  private readonly maxLen: number;

  constructor(private readonly opts: EventRecorderOptions) {
    this.maxLen = opts.maxMessageLength ?? 1024;
  }

  /** Writes the event (create, or patch of a correlated one). Throws ApiWriteError; `signal` drops
   *  the wait for a write token (RateLimiterAbortedError). */
  async record(vmi: VmiRef, intent: EventIntent, signal?: AbortSignal): Promise<void> {
    const message = boundMessage(intent.message, this.maxLen);
    let perVmi = this.byVmi.get(vmi.uid);
    const prev = perVmi?.get(intent.reason);
    const now = this.opts.clock.now();
    if (prev && prev.message === message) {
      await this.opts.limiter.take(signal);
      try {
        const ev = await this.opts.writes.patchEvent(prev.namespace, prev.name, prev.count + 1, now);
        prev.count = Math.max(prev.count + 1, ev.count);
        this.opts.observer.reporterWrite('event', 'ok');
        return;
      } catch (err) {
        if (!(err instanceof ApiWriteError) || err.code !== 'NotFound') {
          this.opts.observer.reporterWrite('event', resultOf(err));
          throw err;
        }
        // Expired (Event TTL): fall through to a fresh one.
      }
    }
    await this.opts.limiter.take(signal);
    try {
      const ev = await this.opts.writes.createEvent({
        vmi,
        type: intent.type,
        reason: intent.reason,
        message,
        time: now,
      });
      if (!perVmi) {
        perVmi = new Map();
        this.byVmi.set(vmi.uid, perVmi);
      }
      perVmi.set(intent.reason, {
        name: ev.metadata.name,
        namespace: ev.metadata.namespace || vmi.namespace,
        message,
        count: ev.count,
      });
      this.opts.observer.reporterWrite('event', 'ok');
    } catch (err) {
      this.opts.observer.reporterWrite('event', resultOf(err));
      throw err;
    }
  }

  /** Drops the correlation memory of a VMI (it is gone). */
  /** VMIs with Events remembered for correlation (tests, /debug). */
  get trackedVmis(): number {
    return this.byVmi.size;
  }

  forget(vmiUid: string): void {
    this.byVmi.delete(vmiUid);
  }
}

export function resultOf(err: unknown): 'conflict' | 'retry' | 'error' {
  if (err instanceof ApiWriteError) {
    if (err.status === 409) return 'conflict';
    if (err.retryable) return 'retry';
  }
  return 'error';
}
