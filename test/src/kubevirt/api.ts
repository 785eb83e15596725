// Typed API access for the emulated components, one instance per identity (KubeConfig).
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION } from './names.js';

export const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** CRUD on one KubeVirt kind (kubevirt.io/v1) through CustomObjectsApi. */
export class KubevirtResource<T extends KubernetesObject> {
  constructor(
    private readonly custom: CustomObjectsApi,
    readonly plural: string,
  ) {}

  private base() {
    return { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: this.plural };
  }

  /** Cluster-wide collection path, for informers. */
  get path(): string {
    return `/apis/${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}/${this.plural}`;
  }

  async listAll(): Promise<KubernetesListObject<T>> {
    return (await this.custom.listCustomObjectForAllNamespaces(this.base())) as KubernetesListObject<T>;
  }

  async list(namespace: string, labelSelector?: string): Promise<T[]> {
    const res = (await this.custom.listNamespacedCustomObject({
      ...this.base(),
      namespace,
      ...(labelSelector !== undefined ? { labelSelector } : {}),
    })) as KubernetesListObject<T>;
    return res.items;
  }

  async get(namespace: string, name: string): Promise<T> {
    return (await this.custom.getNamespacedCustomObject({ ...this.base(), namespace, name })) as T;
  }

  async create(namespace: string, body: T): Promise<T> {
    return (await this.custom.createNamespacedCustomObject({ ...this.base(), namespace, body })) as T;
  }

  /** PUT of the whole object; 409 when body.metadata.resourceVersion is stale. */
  async replace(body: T): Promise<T> {
    const namespace = body.metadata?.namespace ?? '';
    const name = body.metadata?.name ?? '';
    return (await this.custom.replaceNamespacedCustomObject({ ...this.base(), namespace, name, body })) as T;
  }

  /** PUT on the status subresource (VM, VMIRS; a VMI has none). */
  async replaceStatus(body: T): Promise<T> {
    const namespace = body.metadata?.namespace ?? '';
    const name = body.metadata?.name ?? '';
    return (await this.custom.replaceNamespacedCustomObjectStatus({
      ...this.base(),
      namespace,
      name,
      body,
    })) as T;
  }

  /** Delete, optionally only if the object still has `uid` (a precondition, 409 otherwise). */
  async delete(namespace: string, name: string, uid?: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({
      ...this.base(),
      namespace,
      name,
      ...(uid ? { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } } } : {}),
    });
  }
}

export class KubeApi {
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly custom: CustomObjectsApi;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  kubevirt<T extends KubernetesObject>(plural: string): KubevirtResource<T> {
    return new KubevirtResource<T>(this.custom, plural);
  }
}
