// Events as the real components record them (client-go's EventRecorder writing core/v1 Events):
// the scheduler's Scheduled, the kubelet's Pulled / Created / Started / Killing on the launcher pod,
// virt-controller's SuccessfulCreate / SuccessfulDelete and virt-handler's Created / Started /
// Stopped on the VMI, the VM controller's SuccessfulCreate / SuccessfulDelete on the VM — so
// `kubectl get events` and `kubectl describe` read like a real cluster next to the agent's Events.
//
// Best effort, like the real recorder: a failed write is dropped (never fails the reconcile).
// Each call is one create (no aggregation into `count` of identical events).
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { KubeApi } from './api.js';
import { kubeTime } from './util.js';

export interface EventSource {
  /** `source.component` / `reportingComponent`: kubelet, default-scheduler, virt-handler, … */
  component: string;
  /** `source.host` (node-local components). */
  host?: string;
}

export class EventRecorder {
  private seq = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly source: EventSource,
  ) {}

  /** A recorder for the same component on another host (the kubelet and virt-handler are per node). */
  onHost(host: string): EventRecorder {
    return new EventRecorder(this.api, { ...this.source, host });
  }

  async record(
    obj: KubernetesObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    fieldPath?: string,
  ): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    const name = obj.metadata?.name ?? '';
    const now = kubeTime();
    const suffix = (Date.now() * 1000 + (this.seq++ % 1000)).toString(16);
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${suffix}`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name,
        namespace,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
        ...(fieldPath ? { fieldPath } : {}),
      },
      reason,
      message,
      type,
      source: { component: this.source.component, ...(this.source.host ? { host: this.source.host } : {}) },
      firstTimestamp: new Date(now),
      lastTimestamp: new Date(now),
      count: 1,
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
    };
    try {
      await this.api.core.createNamespacedEvent({ namespace, body });
    } catch {
      // dropped, as client-go's recorder drops events it cannot write
    }
  }
}
