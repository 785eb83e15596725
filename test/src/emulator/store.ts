/**
 * ObjectStore: in-process access to the emulator's objects for test setup and assertions — no
 * HTTP, no authentication, no admission — with the same REST semantics otherwise (resourceVersions
 * bumped, validation, preconditions, GC, watch events sent to HTTP watchers). Results are deep
 * copies the caller may mutate. Errors are ApiError (with `.code`, e.g. 404/409/422).
 */
import { ADMIN_USER, groupsFor } from './auth.js';
import { ApiError, errors } from './errors.js';
import { PATCH_TYPES } from './patch.js';
import { groupResource, type ResourceRegistry, type ResourceType } from './resources.js';
import type { DeleteOptions, OpContext, Rest } from './rest.js';
import type { EventType, Storage } from './storage.js';
import { clone, type KubeObject } from './util.js';

export interface TypeRef {
  apiVersion: string;
  kind: string;
}
export interface ObjectRef extends TypeRef {
  namespace?: string;
  name: string;
}
export interface StoreListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}
export type StorePatchType = 'merge' | 'json' | 'strategic';

export class ObjectStore {
  private readonly ctx: OpContext = {
    identity: { user: ADMIN_USER, groups: groupsFor(ADMIN_USER) },
    admission: false,
  };

  constructor(
    private readonly rest: Rest,
    private readonly storage: Storage,
    private readonly registry: ResourceRegistry,
  ) {}

  /** Current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.storage.resourceVersion);
  }

  private type(ref: TypeRef): { rt: ResourceType; version: string } {
    const rt = this.registry.byKind(ref.apiVersion, ref.kind);
    if (!rt) throw errors.badRequest(`no kind "${ref.kind}" is registered for version "${ref.apiVersion}"`);
    const version = ref.apiVersion.includes('/') ? (ref.apiVersion.split('/')[1] as string) : ref.apiVersion;
    return { rt, version };
  }

  create<T extends KubeObject = KubeObject>(obj: T): T {
    const { rt, version } = this.type(obj as unknown as TypeRef);
    return clone(this.rest.create(this.ctx, rt, obj.metadata?.namespace, version, obj)) as T;
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined {
    const { rt, version } = this.type(ref);
    try {
      return clone(this.rest.get(rt, ref.namespace, ref.name, version)) as T;
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  }

  list<T extends KubeObject = KubeObject>(ref: TypeRef, o: StoreListOptions = {}): T[] {
    const { rt, version } = this.type(ref);
    return clone(this.rest.list(rt, o.namespace, version, o).items) as T[];
  }

  /** PUT semantics; a metadata.resourceVersion in `obj` is a precondition (409 on mismatch). */
  update<T extends KubeObject = KubeObject>(obj: T): T {
    const { rt, version } = this.type(obj as unknown as TypeRef);
    return clone(
      this.rest.update(this.ctx, rt, obj.metadata?.namespace, obj.metadata?.name, version, obj),
    ) as T;
  }

  /** PUT on the /status subresource. */
  updateStatus<T extends KubeObject = KubeObject>(obj: T): T {
    const { rt, version } = this.type(obj as unknown as TypeRef);
    return clone(
      this.rest.update(this.ctx, rt, obj.metadata?.namespace, obj.metadata?.name, version, obj, 'status'),
    ) as T;
  }

  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    patch: unknown,
    o: { type?: StorePatchType; subresource?: 'status' } = {},
  ): T {
    const { rt, version } = this.type(ref);
    const ct = PATCH_TYPES[o.type ?? 'merge'];
    return clone(
      this.rest.patch(this.ctx, rt, ref.namespace, ref.name, version, ct, patch, o.subresource),
    ) as T;
  }

  /** Delete with the API's semantics (pod grace → deletionTimestamp; finalizers; propagation). Undefined if absent. */
  delete<T extends KubeObject = KubeObject>(ref: ObjectRef, o: DeleteOptions = {}): T | undefined {
    const { rt, version } = this.type(ref);
    try {
      return clone(this.rest.delete(this.ctx, rt, ref.namespace, ref.name, version, o)) as T;
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  }

  /** Completes a pending graceful pod deletion now (the kubelet's part). False if none pending. */
  finishPodDeletion(namespace: string, name: string): boolean {
    return this.rest.finishPodDeletion(namespace, name);
  }

  /**
   * In-process watch of one kind (all events after subscription; no replay). The callback gets a
   * deep copy. Returns the unsubscribe function.
   */
  watch(ref: TypeRef & StoreListOptions, cb: (type: EventType, obj: KubeObject) => void): () => void {
    const { rt, version } = this.type(ref);
    const match = this.rest.compileSelectors(rt, ref);
    const gr = groupResource(rt.group, rt.plural);
    return this.storage.addWatcher({
      gr,
      namespace: rt.namespaced ? ref.namespace : undefined,
      matches: match,
      deliver: (type, obj) => cb(type, clone(this.rest.view(rt, obj, version))),
    });
  }

  /** Number of stored objects of a kind. */
  count(ref: TypeRef): number {
    const { rt } = this.type(ref);
    return this.storage.count(groupResource(rt.group, rt.plural));
  }
}
