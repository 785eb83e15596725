// kube-controller-manager's EndpointSlice controller, reduced to what the test bed needs: for every
// Service with a selector, one IPv4 EndpointSlice (label kubernetes.io/service-name, managed-by the
// endpointslice controller, owned by the Service) whose endpoints are the selected pods that have an
// IP and are not terminal — conditions ready (pod Ready and not terminating), serving (pod Ready),
// terminating (deletionTimestamp) — and whose ports are the Service's, target ports resolved against
// the pod's named container ports. Written only when it differs. Owns its work queue; stop() is
// idempotent.
import type {
  DiscoveryV1EndpointPort,
  V1Endpoint,
  V1EndpointSlice,
  V1Pod,
  V1Service,
  V1ServicePort,
} from '@kubernetes/client-node';
import type { KubeApi } from './api.js';
import { type ControllerErrorHandler, QueueController, type Subscription, subscribe } from './controller.js';
import type { ResilientInformer } from './informer.js';
import { ENDPOINTSLICE_MANAGER, LABEL_MANAGED_BY, LABEL_SERVICE_NAME } from './names.js';
import { clone, freshOnConflict, ignoreNotFound, matchesLabels } from './util.js';
import { objectKey, splitKey } from './workqueue.js';

export interface EndpointSliceControllerOptions {
  api: KubeApi;
  services: ResilientInformer<V1Service>;
  pods: ResilientInformer<V1Pod>;
  onError?: ControllerErrorHandler;
}

export class EndpointSliceController extends QueueController {
  constructor(private readonly opts: EndpointSliceControllerOptions) {
    super({ name: 'endpointslices', concurrency: 2, onError: opts.onError });
  }

  protected subscriptions(): Subscription[] {
    return [subscribe(this.opts.services, this.onService), subscribe(this.opts.pods, this.onPod)];
  }

  private readonly onService = (svc: V1Service): void => this.queue.add(objectKey(svc));

  private readonly onPod = (pod: V1Pod): void => {
    for (const svc of this.opts.services.list(pod.metadata?.namespace ?? '')) {
      const sel = svc.spec?.selector;
      if (sel && Object.keys(sel).length > 0 && matchesLabels(sel, pod.metadata?.labels))
        this.queue.add(objectKey(svc));
    }
  };

  protected async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.opts.services.get(name, namespace);
    const existing = (
      await this.opts.api.discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: `${LABEL_SERVICE_NAME}=${name},${LABEL_MANAGED_BY}=${ENDPOINTSLICE_MANAGER}`,
      })
    ).items;
    const selector = svc?.spec?.selector;
    if (!svc || svc.metadata?.deletionTimestamp || !selector || Object.keys(selector).length === 0) {
      // No service, or one whose endpoints the user manages: none of ours may stay.
      for (const s of existing)
        await ignoreNotFound(
          this.opts.api.discovery.deleteNamespacedEndpointSlice({ name: s.metadata?.name ?? '', namespace }),
        );
      return;
    }
    const pods = this.opts.pods
      .list(namespace)
      .filter((p) => matchesLabels(selector, p.metadata?.labels) && hasIPv4(p) && !isTerminal(p));
    const endpoints = pods
      .map(endpointFor)
      .sort((a, b) => (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? ''));
    const ports = (svc.spec?.ports ?? []).map((p) => portFor(p, pods));
    const [first, ...extra] = existing;
    for (const s of extra)
      await ignoreNotFound(
        this.opts.api.discovery.deleteNamespacedEndpointSlice({ name: s.metadata?.name ?? '', namespace }),
      );
    if (!first) {
      await this.opts.api.discovery.createNamespacedEndpointSlice({
        namespace,
        body: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            generateName: `${name}-`,
            namespace,
            labels: {
              ...(svc.metadata?.labels ?? {}),
              [LABEL_SERVICE_NAME]: name,
              [LABEL_MANAGED_BY]: ENDPOINTSLICE_MANAGER,
            },
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Service',
                name,
                uid: svc.metadata?.uid ?? '',
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          addressType: 'IPv4',
          endpoints,
          ports,
        },
      });
      return;
    }
    await freshOnConflict(async (fresh) => {
      const current = fresh
        ? await ignoreNotFound(
            this.opts.api.discovery.readNamespacedEndpointSlice({
              name: first.metadata?.name ?? '',
              namespace,
            }),
          )
        : first;
      if (!current) return;
      if (sameEndpoints(current, endpoints, ports)) return;
      const next: V1EndpointSlice = clone(current);
      next.endpoints = endpoints;
      next.ports = ports;
      await this.opts.api.discovery.replaceNamespacedEndpointSlice({
        name: next.metadata?.name ?? '',
        namespace,
        body: next,
      });
    });
  }
}

function hasIPv4(pod: V1Pod): boolean {
  return ipv4Of(pod) !== undefined;
}

function ipv4Of(pod: V1Pod): string | undefined {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return ips.find((ip) => ip.includes('.'));
}

function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function endpointFor(pod: V1Pod): V1Endpoint {
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const terminating =
    pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
  return {
    addresses: [ipv4Of(pod) ?? ''],
    conditions: { ready: ready && !terminating, serving: ready, terminating },
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    targetRef: {
      kind: 'Pod',
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      uid: pod.metadata?.uid ?? '',
    },
  };
}

function portFor(p: V1ServicePort, pods: ReadonlyArray<V1Pod>): DiscoveryV1EndpointPort {
  let port = p.port;
  const target = p.targetPort as number | string | undefined;
  if (typeof target === 'number') port = target;
  else if (typeof target === 'string' && /^\d+$/.test(target)) port = Number(target);
  else if (typeof target === 'string') {
    for (const pod of pods)
      for (const c of pod.spec?.containers ?? [])
        for (const cp of c.ports ?? []) if (cp.name === target) port = cp.containerPort;
  }
  return {
    name: p.name ?? '',
    port,
    protocol: p.protocol ?? 'TCP',
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  };
}

function sameEndpoints(
  slice: V1EndpointSlice,
  endpoints: ReadonlyArray<V1Endpoint>,
  ports: ReadonlyArray<DiscoveryV1EndpointPort>,
): boolean {
  const norm = (e: V1Endpoint) => ({
    a: e.addresses,
    r: e.conditions?.ready ?? null,
    s: e.conditions?.serving ?? null,
    t: e.conditions?.terminating ?? null,
    n: e.nodeName ?? null,
    u: e.targetRef?.uid ?? null,
  });
  const normPort = (p: DiscoveryV1EndpointPort) => ({
    n: p.name ?? '',
    p: p.port ?? null,
    pr: p.protocol ?? 'TCP',
  });
  const sortE = (list: ReadonlyArray<V1Endpoint>) =>
    [...list].sort((a, b) => (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? '')).map(norm);
  return (
    JSON.stringify(sortE(slice.endpoints ?? [])) === JSON.stringify(sortE(endpoints)) &&
    JSON.stringify((slice.ports ?? []).map(normPort)) === JSON.stringify(ports.map(normPort))
  );
}
