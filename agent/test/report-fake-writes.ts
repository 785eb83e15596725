// An in-memory KubeWrites for reporter and liveness unit tests: stores VMIProbeStatuses, pod gate
// conditions and Events like the API would, records every call, and injects failures per method
// (a queue of ApiWriteErrors), a "drop" mode (200 with the old object: a webhook revert), and a
// gate that holds calls in flight until the test releases them.

import {
  ApiWriteError,
  type ApiWriteErrorCode,
  type DeleteResult,
  type EventObject,
  type KubeWrites,
  type PodConditionRead,
  type PodStatusRead,
  type ProbeStatusObject,
} from '../src/kube/api.js';
import type { PodObject, VmiObject } from '../src/model/objects.js';

export type Method = keyof KubeWrites;

export function apiError(code: ApiWriteErrorCode, status: number, retryAfterSeconds?: number): ApiWriteError {
  return new ApiWriteError(code, status, 'verb', 'resource', `injected ${status}`, retryAfterSeconds);
}

export class FakeWrites implements KubeWrites {
  readonly calls: { method: Method; args: unknown[] }[] = [];
  readonly statuses = new Map<string, ProbeStatusObject>();
  readonly pods = new Map<string, { uid: string; conditions: PodConditionRead[]; nodeName?: string }>();
  /** VMIs as a fresh GET returns them (the liveness action's pre-delete check). */
  readonly vmis = new Map<string, VmiObject>();
  readonly events = new Map<string, EventObject>();
  readonly deleted: { kind: 'pod' | 'vmi'; namespace: string; name: string; uid: string; grace?: number }[] =
    [];
  readonly failures = new Map<Method, ApiWriteError[]>();
  /** Methods that answer 200 without storing anything. */
  readonly drop = new Set<Method>();
  /** When set, every call waits for it before acting. */
  gate: Promise<void> | undefined;
  /** Runs inside a call of that method, before it acts (e.g. a recovery during the Killing Event). */
  readonly during = new Map<Method, () => void | Promise<void>>();
  inFlight = 0;
  maxInFlight = 0;
  private seq = 0;

  fail(method: Method, ...errors: ApiWriteError[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...errors]);
  }

  count(method?: Method): number {
    return method ? this.calls.filter((c) => c.method === method).length : this.calls.length;
  }

  writeCount(): number {
    return this.calls.filter(
      (c) => !['listProbeStatuses', 'getProbeStatus', 'getVmi', 'getPod'].includes(c.method),
    ).length;
  }

  addPod(
    namespace: string,
    name: string,
    uid: string,
    conditions: PodConditionRead[] = [],
    nodeName = 'node-a',
  ): void {
    this.pods.set(`${namespace}/${name}`, { uid, conditions, nodeName });
  }

  /** A VMI the API holds (Running on `nodeName`; `status` merged over that). */
  addVmi(namespace: string, name: string, uid: string, nodeName = 'node-a', status: object = {}): void {
    this.vmis.set(`${namespace}/${name}`, {
      metadata: { namespace, name, uid },
      status: { nodeName, phase: 'Running', ...status },
    });
  }

  async getVmi(namespace: string, name: string): Promise<VmiObject> {
    await this.enter('getVmi', [namespace, name]);
    const v = this.vmis.get(`${namespace}/${name}`);
    if (!v) throw apiError('NotFound', 404);
    return structuredClone(v);
  }

  async getPod(namespace: string, name: string): Promise<PodObject> {
    await this.enter('getPod', [namespace, name]);
    const p = this.pods.get(`${namespace}/${name}`);
    if (!p) throw apiError('NotFound', 404);
    return { metadata: { namespace, name, uid: p.uid }, spec: { nodeName: p.nodeName ?? 'node-a' } };
  }

  private async enter(method: Method, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate;
      await this.during.get(method)?.();
    } finally {
      this.inFlight--;
    }
    const queue = this.failures.get(method);
    const err = queue?.shift();
    if (err) throw err;
  }

  async listProbeStatuses(nodeName: string): Promise<ProbeStatusObject[]> {
    await this.enter('listProbeStatuses', [nodeName]);
    return [...this.statuses.values()]
      .filter((o) => o.metadata.labels?.['vmprobe.io/node'] === nodeName)
      .map((o) => structuredClone(o));
  }

  async getProbeStatus(namespace: string, name: string): Promise<ProbeStatusObject> {
    await this.enter('getProbeStatus', [namespace, name]);
    const o = this.statuses.get(`${namespace}/${name}`);
    if (!o) throw apiError('NotFound', 404);
    return structuredClone(o);
  }

  async createProbeStatus(obj: ProbeStatusObject): Promise<ProbeStatusObject> {
    await this.enter('createProbeStatus', [structuredClone(obj)]);
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (this.statuses.has(key)) throw apiError('AlreadyExists', 409);
    // The status subresource: status in a create body is dropped, as the real server does.
    const stored: ProbeStatusObject = {
      ...structuredClone(obj),
      metadata: { ...structuredClone(obj.metadata), uid: `ps-${++this.seq}`, resourceVersion: '1' },
    };
    delete stored.status;
    if (!this.drop.has('createProbeStatus')) this.statuses.set(key, stored);
    return structuredClone(stored);
  }

  async patchProbeStatusMetadata(
    namespace: string,
    name: string,
    metadata: Parameters<KubeWrites['patchProbeStatusMetadata']>[2],
  ): Promise<ProbeStatusObject> {
    await this.enter('patchProbeStatusMetadata', [namespace, name, structuredClone(metadata)]);
    const o = this.statuses.get(`${namespace}/${name}`);
    if (!o) throw apiError('NotFound', 404);
    if (!this.drop.has('patchProbeStatusMetadata')) {
      o.metadata.resourceVersion = String(Number(o.metadata.resourceVersion ?? '0') + 1);
      if (metadata.labels) o.metadata.labels = { ...o.metadata.labels, ...metadata.labels };
      if (metadata.ownerReferences) o.metadata.ownerReferences = metadata.ownerReferences;
    }
    return structuredClone(o);
  }

  async patchProbeStatusStatus(
    namespace: string,
    name: string,
    status: Parameters<KubeWrites['patchProbeStatusStatus']>[2],
    resourceVersion?: string,
  ): Promise<ProbeStatusObject> {
    await this.enter('patchProbeStatusStatus', [namespace, name, structuredClone(status)]);
    const o = this.statuses.get(`${namespace}/${name}`);
    if (!o) throw apiError('NotFound', 404);
    if (resourceVersion !== undefined && resourceVersion !== o.metadata.resourceVersion)
      throw apiError('Conflict', 409);
    if (!this.drop.has('patchProbeStatusStatus')) {
      o.metadata.resourceVersion = String(Number(o.metadata.resourceVersion ?? '0') + 1);
      const next: Record<string, unknown> = { ...(o.status ?? {}) };
      for (const [k, v] of Object.entries(status)) {
        if (v === null) delete next[k];
        else next[k] = structuredClone(v);
      }
      o.status = next;
    }
    return structuredClone(o);
  }

  async patchPodCondition(
    namespace: string,
    name: string,
    condition: Parameters<KubeWrites['patchPodCondition']>[2],
  ): Promise<PodStatusRead> {
    await this.enter('patchPodCondition', [namespace, name, structuredClone(condition)]);
    const p = this.pods.get(`${namespace}/${name}`);
    if (!p) throw apiError('NotFound', 404);
    if (!this.drop.has('patchPodCondition')) {
      const i = p.conditions.findIndex((c) => c.type === condition.type);
      if (i >= 0) p.conditions[i] = { ...condition };
      else p.conditions.push({ ...condition });
    }
    return { metadata: { namespace, name, uid: p.uid }, conditions: structuredClone(p.conditions) };
  }

  async createEvent(ev: Parameters<KubeWrites['createEvent']>[0]): Promise<EventObject> {
    await this.enter('createEvent', [structuredClone(ev)]);
    const name = `${ev.vmi.name}.${++this.seq}`;
    const obj: EventObject = {
      metadata: { name, namespace: ev.vmi.namespace },
      type: ev.type,
      reason: ev.reason,
      message: ev.message,
      count: 1,
      involvedObject: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        namespace: ev.vmi.namespace,
        name: ev.vmi.name,
        uid: ev.vmi.uid,
      },
    };
    this.events.set(`${ev.vmi.namespace}/${name}`, obj);
    return structuredClone(obj);
  }

  async patchEvent(
    namespace: string,
    name: string,
    count: number,
    lastTimestamp: number,
  ): Promise<EventObject> {
    await this.enter('patchEvent', [namespace, name, count, lastTimestamp]);
    const e = this.events.get(`${namespace}/${name}`);
    if (!e) throw apiError('NotFound', 404);
    e.count = count;
    return structuredClone(e);
  }

  async deletePod(namespace: string, name: string, uid: string, grace: number): Promise<DeleteResult> {
    await this.enter('deletePod', [namespace, name, uid, grace]);
    const p = this.pods.get(`${namespace}/${name}`);
    if (!p) throw apiError('NotFound', 404);
    if (p.uid !== uid) throw apiError('Conflict', 409);
    this.pods.delete(`${namespace}/${name}`);
    this.deleted.push({ kind: 'pod', namespace, name, uid, grace });
    return { uid };
  }

  async deleteVmi(namespace: string, name: string, uid: string): Promise<DeleteResult> {
    await this.enter('deleteVmi', [namespace, name, uid]);
    const v = this.vmis.get(`${namespace}/${name}`);
    if (v && v.metadata?.uid !== uid) throw apiError('Conflict', 409);
    this.vmis.delete(`${namespace}/${name}`);
    this.deleted.push({ kind: 'vmi', namespace, name, uid });
    return { uid };
  }
}

/** Lets pending promise chains run (the fake writes answer in microtasks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
