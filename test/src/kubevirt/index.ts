/**
 * The emulated KubeVirt: virt-controller / virt-handler / kubelet / EndpointSlice-controller
 * behaviour for the emulated nodes, as controllers that talk to the API emulator over HTTP through
 * @kubernetes/client-node (list+watch informers, typed calls). See docs/ARCHITECTURE.md "Emulated
 * KubeVirt" and docs/TESTBED.md.
 *
 * Identities: the KubeVirt controllers act as KUBEVIRT_CONTROLLER_USER (so the emulator's VMI
 * status-revert rule lets them write); the kubelet and EndpointSlice controllers, which the
 * emulator models no identity for, act as 'admin'.
 */
import type { KubeConfig, KubernetesObject, V1Pod, V1Service } from '@kubernetes/client-node';
import { type Emulator, KUBEVIRT_CONTROLLER_USER } from '../emulator/index.js';
import type { SimVm, VmSimulator } from '../vmsim/index.js';
import { KubeApi } from './api.js';
import { EndpointSliceController } from './endpointslices.js';
import { ResilientInformer } from './informer.js';
import { Kubelet } from './kubelet.js';
import { LABEL_APP, LAUNCHER_APP, VM_PLURAL, VMI_PLURAL, VMIRS_PLURAL } from './names.js';
import { KubevirtOperations } from './operations.js';
import type { VirtualMachine, VirtualMachineInstanceReplicaSet, Vmi } from './types.js';
import { VmController } from './vm.js';
import { VmiLifecycleController } from './vmi-lifecycle.js';
import { VmirsController } from './vmirs.js';

export { ResilientInformer } from './informer.js';
export { podReadyCondition } from './kubelet.js';
export * from './launcher-pod.js';
export * from './names.js';
export { KubevirtError, type KubevirtErrorCode } from './operations.js';
export type {
  Condition,
  MigrationState,
  VirtualMachine,
  VirtualMachineInstanceReplicaSet,
  Vmi,
  VmiStatus,
} from './types.js';
export { findCondition } from './types.js';
export { WorkQueue } from './workqueue.js';

export interface KubevirtOptions {
  vmsim: VmSimulator;
  /** Emulated node names; default ['node-a']. */
  nodes?: string[];
  /**
   * Also list 'vmprobe.io/ReadinessProbe' in spec.readinessGates of the launcher pods of VMIs with a
   * readiness probe (spec or annotation; design §4); other VMIs' pods never get it (default false).
   */
  vmprobeReadinessGate?: boolean;
  /**
   * Delays: Pending→Scheduling after scheduleMs (default 0), Scheduled→Running after bootMs
   * (default 50), a deleted launcher pod's containers stop after terminateMs (default 50, capped by
   * the pod's grace period).
   */
  timing?: { scheduleMs?: number; bootMs?: number; terminateMs?: number };
  /** Told about every controller error that is being retried (default: ignored). */
  onError?: (component: string, key: string, err: unknown) => void;
}

export interface Kubevirt {
  readonly nodes: ReadonlyArray<string>;
  /** Paused condition on the VMI, KubeVirt's unpaused gate False on the pod, the VM stops answering. */
  pause(namespace: string, name: string): Promise<void>;
  unpause(namespace: string, name: string): Promise<void>;
  /** status.migrationState {startTimestamp, sourceNode, targetNode, …}. */
  startMigration(namespace: string, name: string, targetNode: string): Promise<void>;
  /** endTimestamp, completed, nodeName + label move to the target, new launcher pod there, old one removed. */
  completeMigration(namespace: string, name: string): Promise<void>;
  /** The simulated VM behind the current VMI of that name. */
  vmFor(namespace: string, name: string): SimVm | undefined;
  /** True when no controller has work queued, running or scheduled (for benchmarks and tests). */
  readonly idle: boolean;
  /** Stops informers, controllers and their timers; idempotent; deletes nothing. */
  stop(): Promise<void>;
}

export async function startKubevirt(emu: Emulator, opts: KubevirtOptions): Promise<Kubevirt> {
  const nodes = opts.nodes && opts.nodes.length > 0 ? [...opts.nodes] : ['node-a'];
  const onError = opts.onError;
  const informerError = onError
    ? (name: string, err: unknown) => onError(`informer:${name}`, '', err)
    : undefined;
  const kvKc: KubeConfig = emu.kubeConfig(KUBEVIRT_CONTROLLER_USER);
  const sysKc: KubeConfig = emu.kubeConfig('admin');
  const kv = new KubeApi(kvKc);
  const sys = new KubeApi(sysKc);
  const common = informerError ? { onError: informerError } : {};
  /** virt-controller's cache of one KubeVirt resource, cluster-wide. */
  const kubevirtInformer = <T extends KubernetesObject>(name: string, plural: string) => {
    const api = kv.kubevirt<T>(plural);
    return new ResilientInformer<T>({ name, kc: kvKc, path: api.path, list: () => api.listAll(), ...common });
  };

  // virt-controller's caches.
  const vmis = kubevirtInformer<Vmi>('vmis', VMI_PLURAL);
  const vms = kubevirtInformer<VirtualMachine>('vms', VM_PLURAL);
  const sets = kubevirtInformer<VirtualMachineInstanceReplicaSet>('vmirs', VMIRS_PLURAL);
  const launcherSelector = `${LABEL_APP}=${LAUNCHER_APP}`;
  const kvPods = new ResilientInformer<V1Pod>({
    name: 'launcher-pods',
    kc: kvKc,
    path: '/api/v1/pods',
    list: () => kv.core.listPodForAllNamespaces({ labelSelector: launcherSelector }),
    labelSelector: launcherSelector,
    ...common,
  });
  // The kubelets' and kube-controller-manager's caches.
  const sysPods = new ResilientInformer<V1Pod>({
    name: 'pods',
    kc: sysKc,
    path: '/api/v1/pods',
    list: () => sys.core.listPodForAllNamespaces(),
    ...common,
  });
  const services = new ResilientInformer<V1Service>({
    name: 'services',
    kc: sysKc,
    path: '/api/v1/services',
    list: () => sys.core.listServiceForAllNamespaces(),
    ...common,
  });

  const vmsim = opts.vmsim;
  const vmprobeReadinessGate = opts.vmprobeReadinessGate ?? false;
  const lifecycle = new VmiLifecycleController({
    api: kv,
    vmis,
    pods: kvPods,
    vmsim,
    nodes,
    vmprobeReadinessGate,
    scheduleMs: opts.timing?.scheduleMs ?? 0,
    bootMs: opts.timing?.bootMs ?? 50,
    onError,
  });
  const controllers = [
    lifecycle,
    new VmController({ api: kv, vms, vmis, onError }),
    new VmirsController({ api: kv, sets, vmis, onError }),
    new Kubelet({
      api: sys,
      pods: sysPods,
      vmsim,
      nodes,
      terminateMs: opts.timing?.terminateMs ?? 50,
      onError,
    }),
    new EndpointSliceController({ api: sys, services, pods: sysPods, onError }),
  ];
  const ops = new KubevirtOperations({
    api: kv,
    pods: kvPods,
    vmsim,
    nodes,
    vmprobeReadinessGate,
    requeue: (ns, name) => lifecycle.enqueue(ns, name),
  });
  const informers = [vmis, vms, sets, kvPods, sysPods, services];

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(informers.map((i) => i.stop()));
    await Promise.all(controllers.map((c) => c.stop()));
  };

  // Handlers first, so the initial lists reach every controller as add events.
  for (const c of controllers) c.start();
  try {
    await Promise.all(informers.map((i) => i.start()));
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes,
    pause: (ns, name) => ops.pause(ns, name),
    unpause: (ns, name) => ops.unpause(ns, name),
    startMigration: (ns, name, target) => ops.startMigration(ns, name, target),
    completeMigration: (ns, name) => ops.completeMigration(ns, name),
    vmFor(namespace, name) {
      const uid = vmis.get(name, namespace)?.metadata?.uid;
      return uid ? vmsim.vm(uid) : undefined;
    },
    get idle() {
      return controllers.every((c) => c.idle);
    },
    stop,
  };
}
