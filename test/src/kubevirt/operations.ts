// Imperative KubeVirt operations a test triggers: pause/unpause (virtctl pause vmi) and a live
// migration in two steps (start, complete). Each writes what KubeVirt writes, through the API, as
// the KubeVirt identity; the VMI controller keeps the same invariants on its next pass (the gate on
// the launcher pods follows the Paused condition), so a half-finished call converges.
import { randomUUID } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { VmBehaviour, VmSimulator } from '../vmsim/index.js';
import type { KubeApi, KubevirtResource } from './api.js';
import type { ResilientInformer } from './informer.js';
import { launcherPodFor } from './launcher-pod.js';
import { GATE_UNPAUSED, LABEL_NODE_NAME, VMI_PLURAL } from './names.js';
import { activePod, apiPodsOf, isLive, setPodCondition } from './pods.js';
import { type Condition, findCondition, removeCondition, setCondition, type Vmi } from './types.js';
import { clone, freshOnConflict, ignoreNotFound, kubeTime } from './util.js';

export type KubevirtErrorCode =
  | 'ERR_VMI_NOT_FOUND'
  | 'ERR_VMI_NOT_RUNNING'
  | 'ERR_BAD_NODE'
  | 'ERR_NO_MIGRATION'
  | 'ERR_TIMEOUT';

export class KubevirtError extends Error {
  constructor(
    readonly code: KubevirtErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KubevirtError';
  }
}

export interface OperationsOptions {
  api: KubeApi;
  pods: ResilientInformer<V1Pod>;
  vmsim: VmSimulator;
  nodes: ReadonlyArray<string>;
  vmprobeReadinessGate: boolean;
  /** Tell the VMI controller to look again. */
  requeue: (namespace: string, name: string) => void;
}

export class KubevirtOperations {
  private readonly vmis: KubevirtResource<Vmi>;
  /** VMI uid → the behaviour its VM had before pause. */
  private readonly beforePause = new Map<string, VmBehaviour>();

  constructor(private readonly opts: OperationsOptions) {
    this.vmis = opts.api.kubevirt<Vmi>(VMI_PLURAL);
  }

  private async read(namespace: string, name: string): Promise<Vmi> {
    const vmi = await ignoreNotFound(this.vmis.get(namespace, name));
    if (!vmi) throw new KubevirtError('ERR_VMI_NOT_FOUND', `VMI ${namespace}/${name} not found`);
    return clone(vmi);
  }

  private async readRunning(namespace: string, name: string): Promise<Vmi> {
    const vmi = await this.read(namespace, name);
    if (vmi.status?.phase !== 'Running')
      throw new KubevirtError(
        'ERR_VMI_NOT_RUNNING',
        `VMI ${namespace}/${name} is ${vmi.status?.phase ?? 'new'}, not Running`,
      );
    return vmi;
  }

  /**
   * Paused condition on the VMI, KubeVirt's gate False on its launcher pods; the simulated VM stops
   * answering (a frozen guest: blackhole in netns mode, hang in loopback mode).
   */
  async pause(namespace: string, name: string): Promise<void> {
    const vmi = await freshOnConflict(async () => {
      const v = await this.readRunning(namespace, name);
      const conditions = (v.status?.conditions ?? []) as Condition[];
      const changed = setCondition(
        conditions,
        {
          type: 'Paused',
          status: 'True',
          reason: 'PausedByUser',
          message: 'VMI was paused by user',
          lastProbeTime: null,
        },
        kubeTime(),
      );
      if (!changed) return v;
      (v.status ?? {}).conditions = conditions;
      return this.vmis.replace(v);
    });
    await this.setGates(vmi, false);
    const uid = vmi.metadata?.uid ?? '';
    const vm = this.opts.vmsim.vm(uid);
    if (vm && !this.beforePause.has(uid)) {
      this.beforePause.set(uid, vm.behaviour);
      await vm.setBehaviour(
        this.opts.vmsim.mode === 'netns' ? { kind: 'blackhole', via: 'firewall' } : { kind: 'hang' },
      );
    }
    this.opts.requeue(namespace, name);
  }

  /** Removes the Paused condition, sets the gate True again, restores the VM's behaviour. */
  async unpause(namespace: string, name: string): Promise<void> {
    const vmi = await freshOnConflict(async () => {
      const v = await this.readRunning(namespace, name);
      const conditions = (v.status?.conditions ?? []) as Condition[];
      if (!removeCondition(conditions, 'Paused')) return v;
      (v.status ?? {}).conditions = conditions;
      return this.vmis.replace(v);
    });
    await this.setGates(vmi, true);
    const uid = vmi.metadata?.uid ?? '';
    const saved = this.beforePause.get(uid);
    this.beforePause.delete(uid);
    const vm = this.opts.vmsim.vm(uid);
    if (vm && saved) await vm.setBehaviour(saved);
    this.opts.requeue(namespace, name);
  }

  private async setGates(vmi: Vmi, unpaused: boolean): Promise<void> {
    for (const pod of (await apiPodsOf(this.opts.api, vmi)).filter(isLive)) {
      await ignoreNotFound(
        setPodCondition(
          this.opts.api,
          pod,
          GATE_UNPAUSED,
          unpaused ? 'True' : 'False',
          unpaused ? undefined : 'PausedByUser',
        ),
      );
    }
  }

  /** status.migrationState {migrationUid, startTimestamp, sourceNode, targetNode, sourcePod, mode}. */
  async startMigration(namespace: string, name: string, targetNode: string): Promise<void> {
    if (!this.opts.nodes.includes(targetNode))
      throw new KubevirtError(
        'ERR_BAD_NODE',
        `${targetNode} is not one of the emulated nodes (${this.opts.nodes.join(', ')})`,
      );
    await freshOnConflict(async () => {
      const vmi = await this.readRunning(namespace, name);
      const source = vmi.status?.nodeName ?? '';
      if (source === targetNode)
        throw new KubevirtError('ERR_BAD_NODE', `VMI ${namespace}/${name} already runs on ${targetNode}`);
      const pods = await apiPodsOf(this.opts.api, vmi);
      const status = vmi.status ?? {};
      status.migrationState = {
        migrationUid: randomUUID(),
        sourceNode: source,
        targetNode,
        sourcePod: activePod(pods, vmi)?.metadata?.name ?? '',
        startTimestamp: kubeTime(),
        mode: 'PreCopy',
        completed: false,
        failed: false,
      };
      status.migrationMethod = 'BlockMigration';
      await this.vmis.replace(vmi);
    });
  }

  /**
   * Finishes the migration started by startMigration: a launcher pod on the target node (running,
   * same simulated VM and address), then status.nodeName + label kubevirt.io/nodeName + activePods
   * move to the target and migrationState gets endTimestamp/completed, then the source pod is
   * deleted. Waits up to `timeoutMs` for the target pod to run.
   */
  async completeMigration(namespace: string, name: string, timeoutMs = 10_000): Promise<void> {
    const vmi = await this.readRunning(namespace, name);
    const state = vmi.status?.migrationState;
    if (!state?.startTimestamp || state.completed || !state.targetNode)
      throw new KubevirtError('ERR_NO_MIGRATION', `VMI ${namespace}/${name} has no migration in progress`);
    const target = state.targetNode;
    const pods = await apiPodsOf(this.opts.api, vmi);
    let targetPod = pods.find((p) => isLive(p) && p.spec?.nodeName === target);
    if (!targetPod) {
      targetPod = await this.opts.api.core.createNamespacedPod({
        namespace,
        body: launcherPodFor(vmi, target, { vmprobeReadinessGate: this.opts.vmprobeReadinessGate }),
      });
    }
    const running = await this.waitForRunning(namespace, targetPod.metadata?.name ?? '', timeoutMs);
    const paused = findCondition(vmi.status?.conditions, 'Paused')?.status === 'True';
    await ignoreNotFound(setPodCondition(this.opts.api, running, GATE_UNPAUSED, paused ? 'False' : 'True'));
    const sourcePods = await freshOnConflict(async () => {
      const v = await this.readRunning(namespace, name);
      const status = v.status ?? {};
      const ms = status.migrationState;
      if (!ms || ms.completed) return [];
      ms.endTimestamp = kubeTime();
      ms.completed = true;
      ms.targetPod = running.metadata?.name ?? '';
      status.nodeName = target;
      status.activePods = { [running.metadata?.uid ?? '']: target };
      v.metadata = v.metadata ?? {};
      v.metadata.labels = { ...(v.metadata.labels ?? {}), [LABEL_NODE_NAME]: target };
      await this.vmis.replace(v);
      return (await apiPodsOf(this.opts.api, v)).filter((p) => isLive(p) && p.spec?.nodeName !== target);
    });
    for (const pod of sourcePods) {
      await ignoreNotFound(
        this.opts.api.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace }),
      );
    }
    this.opts.requeue(namespace, name);
  }

  private async waitForRunning(namespace: string, podName: string, timeoutMs: number): Promise<V1Pod> {
    const isRunning = (p: V1Pod | undefined): p is V1Pod =>
      p !== undefined && p.status?.phase === 'Running' && Boolean(p.status.podIP);
    const cached = this.opts.pods.get(podName, namespace);
    if (isRunning(cached)) return cached;
    return new Promise<V1Pod>((resolve, reject) => {
      const onPod = (p: V1Pod): void => {
        if (p.metadata?.name === podName && p.metadata.namespace === namespace && isRunning(p)) {
          done();
          resolve(p);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new KubevirtError(
            'ERR_TIMEOUT',
            `migration target pod ${namespace}/${podName} not running after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.opts.pods.off('add', onPod);
        this.opts.pods.off('update', onPod);
      };
      this.opts.pods.on('add', onPod);
      this.opts.pods.on('update', onPod);
      // The update may have landed between the cache check and the subscription.
      const again = this.opts.pods.get(podName, namespace);
      if (isRunning(again)) {
        done();
        resolve(again);
      }
    });
  }
}
