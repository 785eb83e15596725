// virt-controller's and virt-handler's share of a VMI's life, for the emulated nodes:
//   (new) → Pending → Scheduling (VM simulated, launcher pod created on the chosen node)
//         → Scheduled (pod running: nodeName, label kubevirt.io/nodeName, KubeVirt's gate True)
//         → Running (after bootMs: interfaces, guest OS info, Ready copied from the launcher pod)
//   launcher pod gone or terminating → Failed (simulated VM destroyed, leftover pods deleted).
// It keeps KubeVirt's readiness gate on every live launcher pod equal to "not paused", and the
// VMI's Ready condition equal to its active pod's Ready. Writes the VMI with a full PUT carrying
// the resourceVersion it read (a VMI has no status subresource), re-reading on 409.
// Owns its work queue; stop() is idempotent and does not delete anything.
import type { V1Pod } from '@kubernetes/client-node';
import { podQosClass } from '../emulator/qos.js';
import type { VmSimulator } from '../vmsim/index.js';
import type { KubeApi, KubevirtResource } from './api.js';
import { type ControllerErrorHandler, QueueController, type Subscription, subscribe } from './controller.js';
import { EventRecorder } from './events.js';
import type { ResilientInformer } from './informer.js';
import {
  initialBehaviourFor,
  launcherPodFor,
  launcherResources,
  macFor,
  requestedNode,
  vmPortsFor,
} from './launcher-pod.js';
import { GATE_UNPAUSED, LABEL_NODE_NAME, LABEL_VM_NAME, LAUNCHER_IMAGE, VMI_PLURAL } from './names.js';
import { activePod, apiPodsOf, cachedPodsOf, isLive, setPodCondition } from './pods.js';
import {
  type Condition,
  findCondition,
  isFinished,
  removeCondition,
  setCondition,
  type Vmi,
} from './types.js';
import { clone, freshOnConflict, ignoreNotFound, kubeTime } from './util.js';
import { objectKey, splitKey } from './workqueue.js';

export interface VmiLifecycleOptions {
  api: KubeApi;
  vmis: ResilientInformer<Vmi>;
  pods: ResilientInformer<V1Pod>;
  vmsim: VmSimulator;
  nodes: ReadonlyArray<string>;
  vmprobeReadinessGate: boolean;
  scheduleMs: number;
  bootMs: number;
  onError?: ControllerErrorHandler;
}

export class VmiLifecycleController extends QueueController {
  private readonly vmis: KubevirtResource<Vmi>;
  /** VMI key → uid of the VMI whose simulated VM this controller created. */
  private readonly vmOwner = new Map<string, string>();
  /** VMI uid → Date.now() when it entered its current phase (timestamps on the wire are seconds). */
  private readonly phaseEntered = new Map<string, { phase: string; at: number }>();
  private nextNode = 0;

  constructor(private readonly opts: VmiLifecycleOptions) {
    super({ name: 'vmi-lifecycle', concurrency: 4, onError: opts.onError });
    this.vmis = opts.api.kubevirt<Vmi>(VMI_PLURAL);
    this.controllerEvents = new EventRecorder(opts.api, { component: 'virtualmachine-controller' });
    this.handlerEvents = new EventRecorder(opts.api, { component: 'virt-handler' });
    this.schedulerEvents = new EventRecorder(opts.api, { component: 'default-scheduler' });
  }

  protected subscriptions(): Subscription[] {
    return [subscribe(this.opts.vmis, this.onVmi), subscribe(this.opts.pods, this.onPod)];
  }

  /** Re-run the reconcile of a VMI now (after an out-of-band change such as pause). */
  enqueue(namespace: string, name: string): void {
    this.queue.add(`${namespace}/${name}`);
  }

  private readonly onVmi = (vmi: Vmi): void => this.queue.add(objectKey(vmi));

  private readonly onPod = (pod: V1Pod): void => {
    const vmiName = pod.metadata?.labels?.[LABEL_VM_NAME];
    if (vmiName) this.queue.add(`${pod.metadata?.namespace ?? ''}/${vmiName}`);
  };

  protected async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    await freshOnConflict(async (fresh) => {
      const found = fresh
        ? await ignoreNotFound(this.vmis.get(namespace, name))
        : this.opts.vmis.get(name, namespace);
      const owner = this.vmOwner.get(key);
      if (owner && owner !== found?.metadata?.uid) {
        // The VMI this VM belonged to is gone (maybe replaced by a new one of the same name).
        await this.teardown(namespace, owner);
        this.vmOwner.delete(key);
      }
      if (!found) return;
      const vmi = clone(found);
      if (vmi.metadata?.deletionTimestamp) {
        await this.teardown(namespace, vmi.metadata.uid ?? '');
        return;
      }
      switch (vmi.status?.phase ?? '') {
        case '':
          return this.toPending(vmi);
        case 'Pending':
          return this.schedule(key, vmi);
        case 'Scheduling':
          return this.whenPodRunning(key, vmi);
        case 'Scheduled':
          return this.boot(key, vmi);
        case 'Running':
          return this.syncRunning(vmi);
        default:
          if (isFinished(vmi)) return this.syncFinished(key, vmi);
      }
    });
  }

  private enterPhase(vmi: Vmi, phase: string): void {
    const status = vmi.status ?? {};
    vmi.status = status;
    status.phase = phase;
    status.phaseTransitionTimestamps = [
      ...(status.phaseTransitionTimestamps ?? []),
      { phase, phaseTransitionTimestamp: kubeTime() },
    ];
    this.phaseEntered.set(vmi.metadata?.uid ?? '', { phase, at: Date.now() });
  }

  /** Milliseconds since the VMI entered its current phase (∞ when this process did not see it). */
  private inPhaseMs(vmi: Vmi): number {
    const e = this.phaseEntered.get(vmi.metadata?.uid ?? '');
    return e && e.phase === vmi.status?.phase ? Date.now() - e.at : Number.POSITIVE_INFINITY;
  }

  private readonly controllerEvents: EventRecorder;
  private readonly handlerEvents: EventRecorder;
  private readonly schedulerEvents: EventRecorder;

  private async write(vmi: Vmi): Promise<Vmi> {
    return this.vmis.replace(vmi);
  }

  private async toPending(vmi: Vmi): Promise<void> {
    this.enterPhase(vmi, 'Pending');
    const status = vmi.status ?? {};
    status.guestOSInfo = {};
    // virt-controller copies the launcher pod's QoS class, which the API server computes from the
    // compute container's resources (the VMI's own).
    status.qosClass = podQosClass({ containers: [{ resources: launcherResources(vmi) }] });
    status.conditions = status.conditions ?? [];
    await this.write(vmi);
  }

  private pickNode(vmi: Vmi): string | undefined {
    const wanted = requestedNode(vmi);
    if (wanted !== undefined) return this.opts.nodes.includes(wanted) ? wanted : undefined;
    const node = this.opts.nodes[this.nextNode % this.opts.nodes.length];
    this.nextNode++;
    return node;
  }

  private async schedule(key: string, vmi: Vmi): Promise<void> {
    const wait = this.opts.scheduleMs - this.inPhaseMs(vmi);
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return;
    }
    const uid = vmi.metadata?.uid ?? '';
    const pods = (await apiPodsOf(this.opts.api, vmi)).filter(isLive);
    const node = pods[0]?.spec?.nodeName ?? this.pickNode(vmi);
    const conditions = (vmi.status?.conditions ?? []) as Condition[];
    const now = kubeTime();
    if (node === undefined) {
      // No emulated node matches: stays Pending, like a pod the scheduler cannot place.
      const changed = setCondition(
        conditions,
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: `0/${this.opts.nodes.length} nodes are available: ${this.opts.nodes.length} node(s) didn't match Pod's node affinity/selector.`,
          lastProbeTime: null,
        },
        now,
      );
      if (changed) {
        (vmi.status ?? {}).conditions = conditions;
        await this.write(vmi);
      }
      return;
    }
    if (!this.opts.vmsim.vm(uid)) {
      const behaviour = initialBehaviourFor(vmi);
      await this.opts.vmsim.createVm(uid, { ...vmPortsFor(vmi), ...(behaviour ? { behaviour } : {}) });
    }
    this.vmOwner.set(key, uid);
    if (pods.length === 0) {
      const pod = await this.opts.api.core.createNamespacedPod({
        namespace: vmi.metadata?.namespace ?? '',
        body: launcherPodFor(vmi, node, { vmprobeReadinessGate: this.opts.vmprobeReadinessGate }),
      });
      const podName = pod.metadata?.name ?? '';
      await this.controllerEvents.record(
        vmiObject(vmi),
        'Normal',
        'SuccessfulCreate',
        `Created virtual machine pod ${podName}`,
      );
      await this.schedulerEvents.record(
        { ...pod, apiVersion: 'v1', kind: 'Pod' },
        'Normal',
        'Scheduled',
        `Successfully assigned ${pod.metadata?.namespace}/${podName} to ${node}`,
      );
    }
    removeCondition(conditions, 'PodScheduled');
    (vmi.status ?? {}).conditions = conditions;
    this.enterPhase(vmi, 'Scheduling');
    await this.write(vmi);
  }

  /** The launcher pods of a VMI; when the cache has no live one, asks the API (it may lag). */
  private async podsOf(vmi: Vmi): Promise<V1Pod[]> {
    const cached = cachedPodsOf(this.opts.pods, vmi);
    if (cached.some(isLive)) return cached;
    return apiPodsOf(this.opts.api, vmi);
  }

  private async whenPodRunning(key: string, vmi: Vmi): Promise<void> {
    const pods = await this.podsOf(vmi);
    const pod = activePod(pods, vmi);
    if (!pod) return this.fail(key, vmi, pods);
    if (pod.status?.phase !== 'Running' || !pod.status.podIP) return; // the pod's update re-queues us
    await this.syncGates(vmi, pods);
    const node = pod.spec?.nodeName ?? '';
    const status = vmi.status ?? {};
    status.nodeName = node;
    status.activePods = { [pod.metadata?.uid ?? '']: node };
    vmi.metadata = vmi.metadata ?? {};
    vmi.metadata.labels = { ...(vmi.metadata.labels ?? {}), [LABEL_NODE_NAME]: node };
    const conditions = (status.conditions ?? []) as Condition[];
    setCondition(
      conditions,
      {
        type: 'Ready',
        status: 'False',
        reason: 'GuestNotRunning',
        message: 'Guest VM is not reported as running',
        lastProbeTime: null,
      },
      kubeTime(),
    );
    status.conditions = conditions;
    this.enterPhase(vmi, 'Scheduled');
    await this.write(vmi);
    if (this.opts.bootMs > 0) this.queue.addAfter(key, this.opts.bootMs);
    else this.queue.add(key);
  }

  private async boot(key: string, vmi: Vmi): Promise<void> {
    const pods = await this.podsOf(vmi);
    const pod = activePod(pods, vmi);
    if (!pod) return this.fail(key, vmi, pods);
    const wait = this.opts.bootMs - this.inPhaseMs(vmi);
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return;
    }
    const uid = vmi.metadata?.uid ?? '';
    const vm = this.opts.vmsim.vm(uid);
    const status = vmi.status ?? {};
    const ifaceName = vmi.spec?.networks?.[0]?.name ?? 'default';
    const ips = vm ? [vm.ip, ...(vm.ip6 ? [vm.ip6] : [])] : [];
    status.interfaces = [
      {
        name: ifaceName,
        ...(ips[0] ? { ipAddress: ips[0] } : {}),
        ipAddresses: ips,
        mac: vmi.spec?.domain?.devices?.interfaces?.[0]?.macAddress ?? macFor(uid),
        interfaceName: 'eth0',
        infoSource: 'domain, guest-agent',
        queueCount: 1,
        linkState: 'up',
      },
    ];
    status.guestOSInfo = {
      id: 'fedora',
      name: 'Fedora Linux',
      prettyName: 'Fedora Linux 39 (Cloud Edition)',
      version: '39 (Cloud Edition)',
      versionId: '39',
      kernelRelease: '6.5.6-300.fc39.x86_64',
    };
    status.launcherContainerImageVersion = LAUNCHER_IMAGE;
    const conditions = (status.conditions ?? []) as Condition[];
    const now = kubeTime();
    setCondition(conditions, { type: 'LiveMigratable', status: 'True', lastProbeTime: null }, now);
    setCondition(conditions, { type: 'AgentConnected', status: 'True', lastProbeTime: null }, now);
    status.conditions = conditions;
    this.enterPhase(vmi, 'Running');
    this.copyReady(vmi, pod, now);
    const written = await this.write(vmi);
    const handler = this.handlerEvents.onHost(pod.spec?.nodeName ?? '');
    await handler.record(vmiObject(written), 'Normal', 'Created', 'VirtualMachineInstance defined.');
    await handler.record(vmiObject(written), 'Normal', 'Started', 'VirtualMachineInstance started.');
  }

  private async syncRunning(vmi: Vmi): Promise<void> {
    const pods = await this.podsOf(vmi);
    const pod = activePod(pods, vmi);
    if (!pod) return this.fail(`${vmi.metadata?.namespace}/${vmi.metadata?.name}`, vmi, pods);
    await this.syncGates(vmi, pods);
    const before = JSON.stringify([vmi.status, vmi.metadata?.labels]);
    const node = pod.spec?.nodeName ?? '';
    const status = vmi.status ?? {};
    status.activePods = { [pod.metadata?.uid ?? '']: node };
    vmi.metadata = vmi.metadata ?? {};
    vmi.metadata.labels = { ...(vmi.metadata.labels ?? {}), [LABEL_NODE_NAME]: node };
    this.copyReady(vmi, pod, kubeTime());
    if (JSON.stringify([vmi.status, vmi.metadata.labels]) !== before) await this.write(vmi);
  }

  /** virt-controller's syncReadyConditionFromPod: the VMI's Ready is the launcher pod's Ready. */
  private copyReady(vmi: Vmi, pod: V1Pod, now: string): void {
    const status = vmi.status ?? {};
    const conditions = (status.conditions ?? []) as Condition[];
    const podReady = findCondition(pod.status?.conditions as Condition[] | undefined, 'Ready');
    if (podReady?.status === 'True') {
      setCondition(conditions, { type: 'Ready', status: 'True', lastProbeTime: null }, now);
    } else {
      setCondition(
        conditions,
        {
          type: 'Ready',
          status: 'False',
          reason: podReady?.reason ?? 'PodNotReady',
          ...(podReady?.message ? { message: podReady.message } : {}),
          lastProbeTime: null,
        },
        now,
      );
    }
    status.conditions = conditions;
    vmi.status = status;
  }

  /** KubeVirt's gate on every live launcher pod: True unless the VMI is paused. */
  private async syncGates(vmi: Vmi, pods: ReadonlyArray<V1Pod>): Promise<void> {
    const paused = findCondition(vmi.status?.conditions, 'Paused')?.status === 'True';
    for (const pod of pods) {
      if (!isLive(pod) || pod.status?.phase !== 'Running') continue;
      await ignoreNotFound(
        setPodCondition(
          this.opts.api,
          pod,
          GATE_UNPAUSED,
          paused ? 'False' : 'True',
          paused ? 'PausedByUser' : undefined,
        ),
      );
    }
  }

  private async fail(key: string, vmi: Vmi, pods: ReadonlyArray<V1Pod>): Promise<void> {
    const uid = vmi.metadata?.uid ?? '';
    const terminating = pods.some((p) => p.metadata?.deletionTimestamp);
    const status = vmi.status ?? {};
    const conditions = (status.conditions ?? []) as Condition[];
    setCondition(
      conditions,
      {
        type: 'Ready',
        status: 'False',
        reason: terminating ? 'PodTerminating' : 'PodNotExists',
        message: terminating
          ? 'virt-launcher pod is terminating'
          : 'virt-launcher pod has not yet been scheduled',
        lastProbeTime: null,
      },
      kubeTime(),
    );
    status.conditions = conditions;
    status.reason = terminating ? 'PodTerminating' : 'PodNotExists';
    this.enterPhase(vmi, 'Failed');
    const written = await this.write(vmi);
    if (terminating)
      await this.handlerEvents
        .onHost(status.nodeName ?? '')
        .record(vmiObject(written), 'Normal', 'Stopped', 'The VirtualMachineInstance was shut down.');
    await this.opts.vmsim.destroyVm(uid);
    this.vmOwner.delete(key);
  }

  /** A finished VMI: its VM is gone and no launcher pod of it stays (as virt-controller cleans up). */
  private async syncFinished(key: string, vmi: Vmi): Promise<void> {
    await this.teardown(vmi.metadata?.namespace ?? '', vmi.metadata?.uid ?? '');
    this.vmOwner.delete(key);
  }

  /** Destroys the simulated VM of VMI `uid` and deletes its live launcher pods. Idempotent. */
  private async teardown(namespace: string, uid: string): Promise<void> {
    await this.opts.vmsim.destroyVm(uid);
    this.phaseEntered.delete(uid);
    const pods = cachedPodsOf(this.opts.pods, { metadata: { namespace, uid } }).filter(isLive);
    for (const pod of pods) {
      const gone = await ignoreNotFound(
        this.opts.api.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace }),
      );
      const owner = pod.metadata?.ownerReferences?.find((r) => r.uid === uid);
      if (gone && owner)
        await this.controllerEvents.record(
          {
            apiVersion: owner.apiVersion,
            kind: owner.kind,
            metadata: { name: owner.name, namespace, uid },
          },
          'Normal',
          'SuccessfulDelete',
          `Deleted virtual machine pod ${pod.metadata?.name}`,
        );
    }
  }
}

/** The VMI with its type meta (objects from informers and PUT answers may lack it). */
function vmiObject(vmi: Vmi): Vmi {
  return { ...vmi, apiVersion: vmi.apiVersion ?? 'kubevirt.io/v1', kind: 'VirtualMachineInstance' };
}
