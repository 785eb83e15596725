// virt-controller's VirtualMachine loop: for runStrategy Always (or `running: true`) there is a VMI
// of the VM's name, created from spec.template and owned by the VM; a finished one (Failed or
// Succeeded) is deleted and replaced by a fresh VMI (new uid, new simulated VM and address).
// RerunOnFailure replaces only Failed ones, Halted (or `running: false`) deletes it, Manual leaves
// it alone. Status (printableStatus, ready, created, Ready condition) goes through the status
// subresource, written only when it changes. Owns its work queue; stop() is idempotent.
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { KubeApi, KubevirtResource } from './api.js';
import { type ControllerErrorHandler, QueueController, type Subscription, subscribe } from './controller.js';
import { EventRecorder } from './events.js';
import type { ResilientInformer } from './informer.js';
import { KUBEVIRT_API_VERSION, VM_PLURAL, VMI_PLURAL } from './names.js';
import {
  type Condition,
  controllerRef,
  findCondition,
  isFinished,
  isVmiReady,
  setCondition,
  type VirtualMachine,
  type Vmi,
} from './types.js';
import { clone, freshOnConflict, ignoreNotFound, isAlreadyExists, kubeTime } from './util.js';
import { objectKey, splitKey } from './workqueue.js';

export interface VmControllerOptions {
  api: KubeApi;
  vms: ResilientInformer<VirtualMachine>;
  vmis: ResilientInformer<Vmi>;
  onError?: ControllerErrorHandler;
}

export function runStrategyOf(vm: VirtualMachine): string {
  if (vm.spec?.runStrategy) return vm.spec.runStrategy;
  return vm.spec?.running === true ? 'Always' : 'Halted';
}

export class VmController extends QueueController {
  private readonly vmApi: KubevirtResource<VirtualMachine>;
  private readonly vmiApi: KubevirtResource<Vmi>;

  constructor(private readonly opts: VmControllerOptions) {
    super({ name: 'vm', concurrency: 2, onError: opts.onError });
    this.vmApi = opts.api.kubevirt<VirtualMachine>(VM_PLURAL);
    this.vmiApi = opts.api.kubevirt<Vmi>(VMI_PLURAL);
    this.events = new EventRecorder(opts.api, { component: 'virtualmachine-controller' });
  }

  private readonly events: EventRecorder;

  private vmObject(vm: VirtualMachine): VirtualMachine {
    return { ...vm, apiVersion: vm.apiVersion ?? KUBEVIRT_API_VERSION, kind: 'VirtualMachine' };
  }

  protected subscriptions(): Subscription[] {
    return [subscribe(this.opts.vms, this.onVm), subscribe(this.opts.vmis, this.onVmi)];
  }

  private readonly onVm = (vm: VirtualMachine): void => this.queue.add(objectKey(vm));

  private readonly onVmi = (vmi: Vmi): void => {
    const ref = controllerRef(vmi);
    if (ref?.kind === 'VirtualMachine') this.queue.add(`${vmi.metadata?.namespace ?? ''}/${ref.name}`);
  };

  protected async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const vm = await ignoreNotFound(this.vmApi.get(namespace, name));
    if (!vm || vm.metadata?.deletionTimestamp) return; // its VMI goes by garbage collection
    const vmi = await ignoreNotFound(this.vmiApi.get(namespace, name));
    const owned = vmi !== undefined && controllerRef(vmi)?.uid === vm.metadata?.uid;
    const strategy = runStrategyOf(vm);
    let current: Vmi | undefined = owned ? vmi : undefined;
    if (current && !current.metadata?.deletionTimestamp) {
      const failed = current.status?.phase === 'Failed';
      const replace =
        (strategy === 'Always' && isFinished(current)) || (strategy === 'RerunOnFailure' && failed);
      if (replace || strategy === 'Halted') {
        await ignoreNotFound(this.vmiApi.delete(namespace, name, current.metadata?.uid));
        await this.events.record(
          this.vmObject(vm),
          'Normal',
          'SuccessfulDelete',
          `Stopped the virtual machine by deleting the virtual machine instance ${current.metadata?.uid}`,
        );
        current = undefined;
      }
    }
    const wantsRunning = strategy === 'Always' || strategy === 'RerunOnFailure';
    if (!current && wantsRunning && (!vmi || owned)) {
      // A VMI of the same name still being deleted: its delete event re-queues us.
      const stillThere = await ignoreNotFound(this.vmiApi.get(namespace, name));
      if (!stillThere) current = await this.createVmi(vm);
    }
    await this.syncStatus(key, current);
  }

  private async createVmi(vm: VirtualMachine): Promise<Vmi | undefined> {
    const namespace = vm.metadata?.namespace ?? '';
    const owner: V1OwnerReference = {
      apiVersion: KUBEVIRT_API_VERSION,
      kind: 'VirtualMachine',
      name: vm.metadata?.name ?? '',
      uid: vm.metadata?.uid ?? '',
      controller: true,
      blockOwnerDeletion: true,
    };
    const template = clone(vm.spec?.template ?? {});
    const body: Vmi = {
      apiVersion: KUBEVIRT_API_VERSION,
      kind: 'VirtualMachineInstance',
      metadata: {
        name: vm.metadata?.name ?? '',
        namespace,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}) },
        ownerReferences: [owner],
      },
      spec: template.spec ?? {},
    };
    try {
      const created = await this.vmiApi.create(namespace, body);
      await this.events.record(
        this.vmObject(vm),
        'Normal',
        'SuccessfulCreate',
        `Started the virtual machine by creating the new virtual machine instance ${created.metadata?.name}`,
      );
      return created;
    } catch (err) {
      if (isAlreadyExists(err)) return undefined; // somebody else's, or not yet gone: re-queued by its events
      throw err;
    }
  }

  private async syncStatus(key: string, vmi: Vmi | undefined): Promise<void> {
    const { namespace, name } = splitKey(key);
    await freshOnConflict(async (fresh) => {
      const found = fresh
        ? await ignoreNotFound(this.vmApi.get(namespace, name))
        : this.opts.vms.get(name, namespace);
      if (!found) return;
      const vm = clone(found);
      const strategy = runStrategyOf(vm);
      const status = { ...(vm.status ?? {}) };
      const before = JSON.stringify(status);
      const live = vmi && !vmi.metadata?.deletionTimestamp ? vmi : undefined;
      status.created = live !== undefined;
      status.ready = live !== undefined && live.status?.phase === 'Running' && isVmiReady(live);
      status.printableStatus = printableStatus(strategy, vmi);
      const conditions = (status.conditions ?? []) as Condition[];
      const ready = live ? findCondition(live.status?.conditions, 'Ready') : undefined;
      setCondition(
        conditions,
        ready && live?.status?.phase === 'Running'
          ? { ...ready, lastTransitionTime: null }
          : {
              type: 'Ready',
              status: 'False',
              reason: live ? 'VMINotRunning' : 'VMINotExists',
              lastProbeTime: null,
            },
        kubeTime(),
      );
      status.conditions = conditions;
      if (JSON.stringify(status) === before) return;
      vm.status = status;
      await this.vmApi.replaceStatus(vm);
    });
  }
}

/** `kubectl get vm`'s STATUS column, from the VMI's state. */
export function printableStatus(strategy: string, vmi: Vmi | undefined): string {
  if (!vmi) return strategy === 'Halted' || strategy === 'Manual' ? 'Stopped' : 'Starting';
  if (vmi.metadata?.deletionTimestamp) return 'Terminating';
  switch (vmi.status?.phase) {
    case 'Running':
      return findCondition(vmi.status.conditions, 'Paused')?.status === 'True' ? 'Paused' : 'Running';
    case 'Failed':
    case 'Succeeded':
      return 'Stopped';
    case 'Scheduling':
    case 'Scheduled':
      return 'Starting';
    default:
      return 'Provisioning';
  }
}
