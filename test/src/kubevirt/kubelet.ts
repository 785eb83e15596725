// The kubelet's share of a launcher pod's life, for the emulated nodes: it starts the pod (phase
// Running, podIP from the simulated VM, the compute container ready), keeps the pod's conditions the
// way the kubelet computes them — Ready = ContainersReady AND every spec.readinessGates condition
// True (an absent one counts as False) — recomputing whenever anybody changes a condition, and
// finishes a graceful deletion (containers stop, terminal phase, delete with grace 0).
//
// It writes pods/status with a full PUT carrying the resourceVersion it computed from, so a
// concurrent gate patch (the agent's strategic merge) makes it recompute instead of overwriting.
// Owns its queue (and the queue's timers); stop() is idempotent.
import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { VmSimulator } from '../vmsim/index.js';
import type { KubeApi } from './api.js';
import { type ControllerErrorHandler, QueueController, type Subscription, subscribe } from './controller.js';
import { EventRecorder } from './events.js';
import type { ResilientInformer } from './informer.js';
import { COMPUTE_CONTAINER, LABEL_APP, LABEL_CREATED_BY, LAUNCHER_APP, LAUNCHER_IMAGE } from './names.js';
import { type Condition, findCondition, setCondition } from './types.js';
import { clone, freshOnConflict, ignoreNotFound, isNotFound, kubeTime } from './util.js';
import { objectKey, splitKey } from './workqueue.js';

export interface KubeletOptions {
  api: KubeApi;
  pods: ResilientInformer<V1Pod>;
  vmsim: VmSimulator;
  nodes: ReadonlyArray<string>;
  /** How long a deleted pod's containers take to stop (capped by its grace period). */
  terminateMs: number;
  onError?: ControllerErrorHandler;
}

const HOST_IP = '127.0.0.1';

export class Kubelet extends QueueController {
  private readonly nodes: Set<string>;
  /** pod uid → when this kubelet first saw its deletionTimestamp. */
  private readonly terminating = new Map<string, number>();

  private readonly events: EventRecorder;

  constructor(private readonly opts: KubeletOptions) {
    super({ name: 'kubelet', concurrency: 4, onError: opts.onError });
    this.events = new EventRecorder(opts.api, { component: 'kubelet' });
    this.nodes = new Set(opts.nodes);
  }

  protected subscriptions(): Subscription[] {
    return [
      subscribe(this.opts.pods, this.onPod, ['add', 'update']),
      subscribe(this.opts.pods, this.onPodDeleted, ['delete']),
    ];
  }

  private readonly onPod = (pod: V1Pod): void => {
    if (this.manages(pod)) this.queue.add(objectKey(pod));
  };

  private readonly onPodDeleted = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const killed = this.terminating.has(uid);
    this.terminating.delete(uid);
    // Removed without a graceful termination this kubelet carried out (grace 0): it kills the
    // still-running containers all the same.
    if (!killed && this.manages(pod) && pod.status?.phase === 'Running') void this.recordKilling(pod);
  };

  private recordKilling(pod: V1Pod): Promise<void> {
    return this.events
      .onHost(pod.spec?.nodeName ?? '')
      .record(
        { ...pod, apiVersion: 'v1', kind: 'Pod' },
        'Normal',
        'Killing',
        `Stopping container ${COMPUTE_CONTAINER}`,
        `spec.containers{${COMPUTE_CONTAINER}}`,
      );
  }

  private manages(pod: V1Pod): boolean {
    return (
      pod.metadata?.labels?.[LABEL_APP] === LAUNCHER_APP &&
      pod.spec?.nodeName !== undefined &&
      this.nodes.has(pod.spec.nodeName)
    );
  }

  protected async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    await freshOnConflict(async (fresh) => {
      const cached = fresh
        ? await ignoreNotFound(this.opts.api.core.readNamespacedPod({ name, namespace }))
        : this.opts.pods.get(name, namespace);
      if (!cached || !this.manages(cached)) return;
      const pod = clone(cached);
      if (pod.metadata?.deletionTimestamp) return this.terminate(key, pod);
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      const vm = this.opts.vmsim.vm(pod.metadata?.labels?.[LABEL_CREATED_BY] ?? '');
      if (!vm) {
        // The VM is created before its pod; without one the pod cannot start (yet).
        this.queue.addAfter(key, 250);
        return;
      }
      const now = kubeTime();
      const status: V1PodStatus = pod.status ?? {};
      let changed = false;
      const set = <K extends keyof V1PodStatus>(k: K, v: V1PodStatus[K]): void => {
        if (JSON.stringify(status[k]) !== JSON.stringify(v)) {
          status[k] = v;
          changed = true;
        }
      };
      set('phase', 'Running');
      set('hostIP', HOST_IP);
      set('hostIPs', [{ ip: HOST_IP }]);
      set('podIP', vm.ip);
      set('podIPs', vm.ip6 ? [{ ip: vm.ip }, { ip: vm.ip6 }] : [{ ip: vm.ip }]);
      set('qosClass', status.qosClass ?? 'Burstable');
      if (!status.startTime) set('startTime', new Date(now));
      const containers = status.containerStatuses ?? [];
      const compute = containers.find((c) => c.name === COMPUTE_CONTAINER);
      const starting = compute === undefined;
      if (compute?.ready !== true || !compute.state?.running) {
        set('containerStatuses', [runningContainer(now)]);
      }
      const conditions = (status.conditions ?? []) as Condition[];
      changed = setKubeletConditions(pod, conditions, true, now) || changed;
      status.conditions = conditions as V1PodStatus['conditions'];
      if (!changed) return;
      pod.status = status;
      const written = await this.opts.api.core.replaceNamespacedPodStatus({ name, namespace, body: pod });
      if (starting) await this.recordStart(written);
    });
  }

  /** The kubelet's events for a container it started (image present, created, started). */
  private async recordStart(pod: V1Pod): Promise<void> {
    const events = this.events.onHost(pod.spec?.nodeName ?? '');
    const obj = { ...pod, apiVersion: 'v1', kind: 'Pod' };
    const field = `spec.containers{${COMPUTE_CONTAINER}}`;
    const image = pod.spec?.containers?.find((c) => c.name === COMPUTE_CONTAINER)?.image ?? LAUNCHER_IMAGE;
    await events.record(
      obj,
      'Normal',
      'Pulled',
      `Container image "${image}" already present on machine`,
      field,
    );
    await events.record(obj, 'Normal', 'Created', `Created container ${COMPUTE_CONTAINER}`, field);
    await events.record(obj, 'Normal', 'Started', `Started container ${COMPUTE_CONTAINER}`, field);
  }

  /** Graceful deletion: containers stop after terminateMs (≤ grace), then the pod object goes. */
  private async terminate(key: string, pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    const seen = this.terminating.get(uid) ?? Date.now();
    if (!this.terminating.has(uid)) await this.recordKilling(pod);
    this.terminating.set(uid, seen);
    const graceMs = (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
    const remaining = seen + Math.min(graceMs, this.opts.terminateMs) - Date.now();
    const now = kubeTime();
    const status: V1PodStatus = pod.status ?? {};
    const conditions = (status.conditions ?? []) as Condition[];
    if (remaining > 0) {
      // Stopping: containers no longer ready, so the pod leaves Ready at once.
      const changed = setKubeletConditions(pod, conditions, false, now);
      if (changed) {
        status.conditions = conditions as V1PodStatus['conditions'];
        status.containerStatuses = (status.containerStatuses ?? []).map((c) => ({ ...c, ready: false }));
        pod.status = status;
        await this.opts.api.core.replaceNamespacedPodStatus({ name, namespace, body: pod });
      }
      this.queue.addAfter(key, remaining);
      return;
    }
    if (status.phase !== 'Succeeded') {
      setKubeletConditions(pod, conditions, false, now, 'PodCompleted');
      status.conditions = conditions as V1PodStatus['conditions'];
      status.phase = 'Succeeded';
      status.containerStatuses = [terminatedContainer(status.containerStatuses, now)];
      pod.status = status;
      try {
        await this.opts.api.core.replaceNamespacedPodStatus({ name, namespace, body: pod });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
    }
    try {
      await this.opts.api.core.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: 0,
        body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err; // 409: not this pod any more; the fresh retry sees it
    }
    this.terminating.delete(uid);
  }
}

function runningContainer(now: string): V1ContainerStatus {
  return {
    name: COMPUTE_CONTAINER,
    image: LAUNCHER_IMAGE,
    imageID: `${LAUNCHER_IMAGE}@sha256:${'0'.repeat(64)}`,
    containerID: `containerd://${Buffer.from(now).toString('hex').padEnd(64, '0').slice(0, 64)}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: new Date(now) } },
    lastState: {},
  };
}

function terminatedContainer(prev: V1ContainerStatus[] | undefined, now: string): V1ContainerStatus {
  const p = prev?.find((c) => c.name === COMPUTE_CONTAINER);
  return {
    name: COMPUTE_CONTAINER,
    image: LAUNCHER_IMAGE,
    imageID: p?.imageID ?? '',
    ...(p?.containerID ? { containerID: p.containerID } : {}),
    ready: false,
    started: false,
    restartCount: p?.restartCount ?? 0,
    state: {
      terminated: {
        exitCode: 0,
        reason: 'Completed',
        startedAt: p?.state?.running?.startedAt ?? new Date(now),
        finishedAt: new Date(now),
      },
    },
    lastState: {},
  };
}

/**
 * The kubelet's conditions: PodReadyToStartContainers, Initialized, PodScheduled, ContainersReady
 * and Ready (= containers ready AND every readiness gate's condition True). Conditions of other
 * types (readiness gates) are left as they are. Returns true when anything changed.
 */
export function setKubeletConditions(
  pod: V1Pod,
  conditions: Condition[],
  containersReady: boolean,
  now: string,
  notReadyReason = 'ContainersNotReady',
): boolean {
  let changed = false;
  const put = (c: Condition): void => {
    changed = setCondition(conditions, { lastProbeTime: null, ...c }, now) || changed;
  };
  put({ type: 'PodReadyToStartContainers', status: containersReady ? 'True' : 'False' });
  put({ type: 'Initialized', status: 'True' });
  put({ type: 'PodScheduled', status: 'True' });
  if (containersReady) put({ type: 'ContainersReady', status: 'True' });
  else
    put({
      type: 'ContainersReady',
      status: 'False',
      reason: notReadyReason,
      message: `containers with unready status: [${COMPUTE_CONTAINER}]`,
    });
  put(podReadyCondition(pod, conditions, containersReady, notReadyReason));
  return changed;
}

/** Ready as the kubelet's GeneratePodReadyCondition computes it. */
export function podReadyCondition(
  pod: V1Pod,
  conditions: ReadonlyArray<Condition>,
  containersReady: boolean,
  notReadyReason = 'ContainersNotReady',
): Condition {
  if (!containersReady) {
    return {
      type: 'Ready',
      status: 'False',
      reason: notReadyReason,
      message: `containers with unready status: [${COMPUTE_CONTAINER}]`,
    };
  }
  const unready: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const c = findCondition(conditions, gate.conditionType);
    if (!c)
      unready.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    else if (c.status !== 'True')
      unready.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${c.status}`);
  }
  if (unready.length > 0) {
    return { type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', message: unready.join(', ') };
  }
  return { type: 'Ready', status: 'True' };
}
