// virt-controller's VirtualMachineInstanceReplicaSet loop: keeps spec.replicas (default 1) live
// VMIs that match spec.selector and are controlled by the set; finished ones (Failed/Succeeded) are
// deleted and replaced, surplus ones deleted (not-ready first). New VMIs come from spec.template
// with generateName `<set name>`. status.replicas / readyReplicas / labelSelector through the
// status subresource, written only when they change. Reads the VMIs from the API (not the cache)
// so a lagging cache never makes it create twice. Owns its work queue; stop() is idempotent.
import type { KubeApi, KubevirtResource } from './api.js';
import { type ControllerErrorHandler, QueueController, type Subscription, subscribe } from './controller.js';
import type { ResilientInformer } from './informer.js';
import { KUBEVIRT_API_VERSION, VMI_PLURAL, VMIRS_PLURAL } from './names.js';
import {
  controllerRef,
  isFinished,
  isVmiReady,
  type VirtualMachineInstanceReplicaSet,
  type Vmi,
} from './types.js';
import { clone, freshOnConflict, ignoreNotFound, matchesSelector, selectorToString } from './util.js';
import { objectKey, splitKey } from './workqueue.js';

export interface VmirsControllerOptions {
  api: KubeApi;
  sets: ResilientInformer<VirtualMachineInstanceReplicaSet>;
  vmis: ResilientInformer<Vmi>;
  onError?: ControllerErrorHandler;
}

export class VmirsController extends QueueController {
  private readonly setApi: KubevirtResource<VirtualMachineInstanceReplicaSet>;
  private readonly vmiApi: KubevirtResource<Vmi>;

  constructor(private readonly opts: VmirsControllerOptions) {
    super({ name: 'vmirs', concurrency: 2, onError: opts.onError });
    this.setApi = opts.api.kubevirt<VirtualMachineInstanceReplicaSet>(VMIRS_PLURAL);
    this.vmiApi = opts.api.kubevirt<Vmi>(VMI_PLURAL);
  }

  protected subscriptions(): Subscription[] {
    return [subscribe(this.opts.sets, this.onSet), subscribe(this.opts.vmis, this.onVmi)];
  }

  private readonly onSet = (rs: VirtualMachineInstanceReplicaSet): void => this.queue.add(objectKey(rs));

  private readonly onVmi = (vmi: Vmi): void => {
    const ref = controllerRef(vmi);
    if (ref?.kind === 'VirtualMachineInstanceReplicaSet')
      this.queue.add(`${vmi.metadata?.namespace ?? ''}/${ref.name}`);
  };

  protected async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const rs = await ignoreNotFound(this.setApi.get(namespace, name));
    if (!rs || rs.metadata?.deletionTimestamp) return; // its VMIs go by garbage collection
    const selector = rs.spec?.selector;
    const vmis = (
      await this.vmiApi.list(namespace, selector ? selectorToString(selector) : undefined)
    ).filter(
      (v) => controllerRef(v)?.uid === rs.metadata?.uid && matchesSelector(selector, v.metadata?.labels),
    );
    for (const v of vmis) {
      if (isFinished(v) && !v.metadata?.deletionTimestamp)
        await ignoreNotFound(this.vmiApi.delete(namespace, v.metadata?.name ?? '', v.metadata?.uid));
    }
    const live = vmis.filter((v) => !isFinished(v) && !v.metadata?.deletionTimestamp);
    const want = rs.spec?.replicas ?? 1;
    if (!rs.spec?.paused) {
      for (let i = live.length; i < want; i++) live.push(await this.createVmi(rs));
      if (live.length > want) {
        // Not-ready ones go first, then the youngest.
        const ranked = [...live].sort(
          (a, b) =>
            Number(isVmiReady(a)) - Number(isVmiReady(b)) ||
            (b.metadata?.creationTimestamp?.toString() ?? '').localeCompare(
              a.metadata?.creationTimestamp?.toString() ?? '',
            ),
        );
        for (const v of ranked.slice(0, live.length - want)) {
          await ignoreNotFound(this.vmiApi.delete(namespace, v.metadata?.name ?? '', v.metadata?.uid));
          live.splice(live.indexOf(v), 1);
        }
      }
    }
    await this.syncStatus(key, live);
  }

  private async createVmi(rs: VirtualMachineInstanceReplicaSet): Promise<Vmi> {
    const namespace = rs.metadata?.namespace ?? '';
    const template = clone(rs.spec?.template ?? {});
    return this.vmiApi.create(namespace, {
      apiVersion: KUBEVIRT_API_VERSION,
      kind: 'VirtualMachineInstance',
      metadata: {
        generateName: rs.metadata?.name ?? '',
        namespace,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}) },
        ownerReferences: [
          {
            apiVersion: KUBEVIRT_API_VERSION,
            kind: 'VirtualMachineInstanceReplicaSet',
            name: rs.metadata?.name ?? '',
            uid: rs.metadata?.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template.spec ?? {},
    });
  }

  private async syncStatus(key: string, live: ReadonlyArray<Vmi>): Promise<void> {
    const { namespace, name } = splitKey(key);
    await freshOnConflict(async (fresh) => {
      const found = fresh
        ? await ignoreNotFound(this.setApi.get(namespace, name))
        : this.opts.sets.get(name, namespace);
      if (!found) return;
      const rs = clone(found);
      const status = { ...(rs.status ?? {}) };
      const before = JSON.stringify(status);
      status.replicas = live.length;
      status.readyReplicas = live.filter((v) => v.status?.phase === 'Running' && isVmiReady(v)).length;
      if (rs.spec?.selector) status.labelSelector = selectorToString(rs.spec.selector);
      if (JSON.stringify(status) === before) return;
      rs.status = status;
      await this.setApi.replaceStatus(rs);
    });
  }
}
