// virt-controller's VirtualMachineInstanceReplicaSet loop: keeps spec.replicas (default 1) live
// VMIs that match spec.selector and are controlled by the set; finished ones (Failed/Succeeded) are
// deleted and replaced, surplus ones deleted (not-ready first). New VMIs come from spec.template
// with generateName `<set name>`. status.replicas / readyReplicas / labelSelector through the
// status subresource, written only when they change. Reads the VMIs from the API (not the cache)
// so a lagging cache never makes it create twice. Owns its work queue; stop() is idempotent.
import type { KubeApi, KubevirtResource } from './api.js';
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
import { objectKey, splitKey, WorkQueue } from './workqueue.js';

export interface VmirsControllerOptions {
  api: KubeApi;
  sets: ResilientInformer<VirtualMachineInstanceReplicaSet>;
  vmis: ResilientInformer<Vmi>;
  onError?: (component: string, key: string, err: unknown) => void;
}

export class VmirsController {
  private readonly queue: WorkQueue;
  private readonly setApi: KubevirtResource<VirtualMachineInstanceReplicaSet>;
  private readonly vmiApi: KubevirtResource<Vmi>;
  private started = false;

  constructor(private readonly opts: VmirsControllerOptions) {
    this.setApi = opts.api.kubevirt<VirtualMachineInstanceReplicaSet>(VMIRS_PLURAL);
    this.vmiApi = opts.api.kubevirt<Vmi>(VMI_PLURAL);
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'vmirs',
      concurrency: 2,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.opts.sets.on(ev, this.onSet);
      this.opts.vmis.on(ev, this.onVmi);
    }
    this.queue.start();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.opts.sets.off(ev, this.onSet);
      this.opts.vmis.off(ev, this.onVmi);
    }
    await this.queue.stop();
  }

  get idle(): boolean {
    return this.queue.idle;
  }

  private readonly onSet = (rs: VirtualMachineInstanceReplicaSet): void => this.queue.add(objectKey(rs));

  private readonly onVmi = (vmi: Vmi): void => {
    const ref = controllerRef(vmi);
    if (ref?.kind === 'VirtualMachineInstanceReplicaSet')
      this.queue.add(`${vmi.metadata?.namespace ?? ''}/${ref.name}`);
  };

  private async reconcile(key: string): Promise<void> {
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
