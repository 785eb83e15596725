/**
 * REST semantics shared by the HTTP handlers and the in-process store: create / get / list /
 * update / patch / delete with the apiserver's rules (preconditions, status subresource, CRD
 * pruning + validation, KubeVirt admission, pod graceful deletion, finalizers, ownerReference GC).
 *
 * Timers: pod graceful-deletion timers and deferred GC work are owned here; `stop()` clears them.
 * Graceful pod deletion is completed by the emulator after the grace period (mode 'timer'), or
 * only by a later delete with grace 0 / `finishPodDeletion` (mode 'manual'), like a kubelet would.
 */
import { admitVmi, isVmi } from './admission.js';
import { ApiError, errors, type StatusCause } from './errors.js';
import { jsonPatch, mergePatch, PATCH_TYPES, strategicMergePatch } from './patch.js';
import { podQosClass } from './qos.js';
import { apiVersionOf, groupResource, type ResourceRegistry, type ResourceType } from './resources.js';
import { applyDefaults, prune, validate } from './schema.js';
import {
  checkFieldSelector,
  type FieldSelector,
  type LabelSelector,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';
import { objectKey, type Storage } from './storage.js';
import {
  clone,
  deepEqual,
  isDns1123Label,
  isDns1123Subdomain,
  isPlainObject,
  type KubeObject,
  newUid,
  randomSuffix,
  rfc3339,
} from './util.js';
import type { WriteAttributes } from './validating-policy.js';
import { defaultWorkload, initialWorkloadStatus } from './workloads.js';

export interface Identity {
  user: string;
  groups: string[];
  /** userInfo.extra, e.g. the node claim of a bound service-account token. */
  extra?: Record<string, string[]>;
}

export interface OpContext {
  identity: Identity;
  /** Run admission plugins (KubeVirt's VMI webhooks). False for in-process store calls. */
  admission: boolean;
  /** `dryRun=All`: defaulting, admission and validation run, nothing is stored (no resourceVersion). */
  dryRun?: boolean;
}

/** How long a deleted namespace stays Terminating before its objects and it are removed. */
const NAMESPACE_FINALIZE_MS = 1000;

/** The garbage collector's deletes: its own identity, no admission. */
const GC_CONTEXT: OpContext = {
  identity: { user: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: [] },
  admission: false,
};

/** 409 for a failed UID / ResourceVersion precondition, worded as the apiserver words it. */
function preconditionFailed(
  rt: ResourceType,
  name: string,
  field: 'UID' | 'ResourceVersion',
  wanted: unknown,
  actual: unknown,
): ApiError {
  return errors.conflict(
    rt.plural,
    rt.group,
    name,
    `Precondition failed: ${field} in precondition: ${wanted}, ${field} in object meta: ${actual}`,
  );
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface RestOptions {
  podDeletion: 'timer' | 'manual';
  /** Validating admission of API writes (ValidatingAdmissionPolicies); throws to deny. */
  admitWrite?: (a: WriteAttributes) => void;
}

export class Rest {
  private readonly podTimers = new Map<string, NodeJS.Timeout>();
  private readonly deferred = new Set<NodeJS.Immediate>();
  /** Namespace finalization timers (the namespace controller's work takes a while on a real cluster). */
  private readonly namespaceTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private nextClusterIp = 1;

  constructor(
    readonly storage: Storage,
    readonly registry: ResourceRegistry,
    private readonly opts: RestOptions,
  ) {}

  stop(): void {
    this.stopped = true;
    for (const t of this.podTimers.values()) clearTimeout(t);
    this.podTimers.clear();
    for (const d of this.deferred) clearImmediate(d);
    this.deferred.clear();
    for (const t of this.namespaceTimers) clearTimeout(t);
    this.namespaceTimers.clear();
  }

  /** Runs `fn` on the next turn of the event loop (after the current response is written). */
  private defer(fn: () => void): void {
    if (this.stopped) return;
    const h = setImmediate(() => {
      this.deferred.delete(h);
      if (!this.stopped) fn();
    });
    this.deferred.add(h);
  }

  // ---------- read ----------

  /** The object as seen through `version` (apiVersion rewritten; stored objects are shared, never mutated). */
  view(rt: ResourceType, obj: KubeObject, version?: string): KubeObject {
    const apiVersion = apiVersionOf(rt.group, version ?? rt.storageVersion);
    return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
  }

  getStored(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.storage.get(
      groupResource(rt.group, rt.plural),
      objectKey(rt.namespaced ? namespace : undefined, name),
    );
    if (!obj) throw errors.notFound(rt.plural, rt.group, name);
    return obj;
  }

  get(rt: ResourceType, namespace: string | undefined, name: string, version?: string): KubeObject {
    return this.view(rt, this.getStored(rt, namespace, name), version);
  }

  compileSelectors(rt: ResourceType, o: { labelSelector?: string; fieldSelector?: string }) {
    const labels: LabelSelector = parseLabelSelector(o.labelSelector);
    const fields: FieldSelector = parseFieldSelector(o.fieldSelector);
    checkFieldSelector(fields, rt.fieldLabels);
    return (obj: KubeObject) =>
      matchLabels(labels, obj.metadata?.labels) &&
      (fields.length === 0 || matchFields(fields, obj, rt.fieldLabels));
  }

  list(
    rt: ResourceType,
    namespace: string | undefined,
    version: string | undefined,
    o: ListOptions,
  ): KubeObject {
    const gr = groupResource(rt.group, rt.plural);
    const match = this.compileSelectors(rt, o);
    let listRv = this.storage.resourceVersion;
    let startAfter: string | undefined;
    if (o.continue) {
      let token: { rv: number; start: string };
      try {
        token = JSON.parse(Buffer.from(o.continue, 'base64url').toString('utf8'));
        if (typeof token.rv !== 'number' || typeof token.start !== 'string') throw new Error('bad');
      } catch {
        throw errors.badRequest(
          'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
        );
      }
      if (token.rv < this.storage.compactedResourceVersion) {
        throw errors.expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      listRv = token.rv;
      startAfter = token.start;
    } else if (o.resourceVersion && o.resourceVersion !== '0') {
      const rv = Number(o.resourceVersion);
      if (!Number.isInteger(rv) || rv < 0)
        throw errors.badRequest(`invalid resource version "${o.resourceVersion}"`);
      // NotOlderThan (the default) is served from the current state; Exact needs the old snapshot.
      if (o.resourceVersionMatch === 'Exact' && rv < this.storage.compactedResourceVersion)
        throw errors.expired('The resourceVersion for the provided list is too old.');
    }
    const all = this.storage.list(gr, rt.namespaced ? namespace : undefined);
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let remaining = 0;
    const limit = o.limit && o.limit > 0 ? o.limit : Number.POSITIVE_INFINITY;
    for (const obj of all) {
      const key = objectKey(obj.metadata.namespace, obj.metadata.name);
      if (startAfter !== undefined && key <= startAfter) continue;
      if (!match(obj)) continue;
      if (items.length >= limit) {
        remaining++;
        continue;
      }
      items.push(this.view(rt, obj, version));
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (remaining > 0) {
      const last = items[items.length - 1] as KubeObject;
      cont = Buffer.from(
        JSON.stringify({ rv: listRv, start: objectKey(last.metadata.namespace, last.metadata.name) }),
      ).toString('base64url');
      metadata.continue = cont;
      if (!o.labelSelector && !o.fieldSelector) metadata.remainingItemCount = remaining;
    }
    return {
      kind: rt.listKind,
      apiVersion: apiVersionOf(rt.group, version ?? rt.storageVersion),
      metadata,
      items,
    };
  }

  // ---------- create ----------

  private namespaceMustExist(ns: string, rt?: ResourceType, name?: string): void {
    const nsObj = this.storage.get('namespaces', ns);
    if (!nsObj) throw errors.notFound('namespaces', '', ns);
    if (nsObj.metadata.deletionTimestamp && rt)
      throw new ApiError(
        403,
        'Forbidden',
        `${rt.plural}${rt.group ? `.${rt.group}` : ''} "${name ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        {
          name: name ?? '',
          group: rt.group,
          kind: rt.plural,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${ns} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
  }

  private checkTypeMeta(rt: ResourceType, version: string, obj: KubeObject): void {
    const want = apiVersionOf(rt.group, version);
    if (obj.apiVersion === undefined) obj.apiVersion = want;
    if (obj.kind === undefined) obj.kind = rt.kind;
    if (obj.kind !== rt.kind)
      throw errors.badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${want})`,
      );
    if (obj.apiVersion !== want)
      throw errors.badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${want})`,
      );
  }

  create(
    ctx: OpContext,
    rt: ResourceType,
    namespace: string | undefined,
    version: string,
    body: unknown,
  ): KubeObject {
    if (!isPlainObject(body)) throw errors.badRequest('the body of the request must be a JSON object');
    const obj = clone(body) as KubeObject;
    this.checkTypeMeta(rt, version, obj);
    if (!isPlainObject(obj.metadata)) obj.metadata = {};
    const md = obj.metadata;
    if (rt.namespaced) {
      if (md.namespace && namespace && md.namespace !== namespace)
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      const ns = namespace ?? md.namespace;
      if (!ns)
        throw errors.badRequest('the server could not find the requested resource (namespace required)');
      md.namespace = ns;
      this.namespaceMustExist(ns, rt, md.name ?? md.generateName);
    } else delete md.namespace;
    if (!md.name) {
      if (md.generateName) md.name = `${md.generateName}${randomSuffix()}`;
      else
        throw errors.invalid(rt.kind, rt.group, '', [
          {
            reason: 'FieldValueRequired',
            message: 'Required value: name or generateName is required',
            field: 'metadata.name',
          },
        ]);
    }
    this.validateName(rt, md.name);
    const gr = groupResource(rt.group, rt.plural);
    const key = objectKey(md.namespace, md.name);
    if (this.storage.get(gr, key)) throw errors.alreadyExists(rt.plural, rt.group, md.name);

    // Server-managed metadata.
    md.uid = newUid();
    md.creationTimestamp = rfc3339();
    delete md.resourceVersion;
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    delete md.selfLink;
    delete md.managedFields;
    if (
      !rt.builtin ||
      ['Pod', 'DaemonSet', 'Deployment', 'ValidatingAdmissionPolicy', 'PodDisruptionBudget'].includes(rt.kind)
    )
      md.generation = 1;
    else delete md.generation;

    this.resetStatusOnCreate(rt, obj);
    if (ctx.admission && isVmi(rt.group, rt.plural)) admitVmi(ctx.identity.user, undefined, obj);
    this.defaultAndValidate(rt, version, obj, undefined);
    if (ctx.admission)
      this.opts.admitWrite?.({
        operation: 'CREATE',
        rt,
        version,
        namespace: md.namespace,
        name: md.name,
        object: obj,
        identity: ctx.identity,
      });
    obj.apiVersion = apiVersionOf(rt.group, rt.storageVersion);
    if (ctx.dryRun) return this.view(rt, obj, version);

    const rv = this.storage.nextRv();
    md.resourceVersion = String(rv);
    this.storage.put(gr, obj, rv);
    this.checkOwnersLater(obj);
    return this.view(rt, obj, version);
  }

  private validateName(rt: ResourceType, name: string): void {
    const ok =
      rt.plural === 'namespaces' || rt.plural === 'services'
        ? isDns1123Label(name)
        : isDns1123Subdomain(name);
    if (!ok)
      throw errors.invalid(rt.kind, rt.group, name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${name}": a lowercase RFC 1123 ${rt.plural === 'namespaces' || rt.plural === 'services' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
          field: 'metadata.name',
        },
      ]);
  }

  private resetStatusOnCreate(rt: ResourceType, obj: KubeObject): void {
    if (!rt.statusSubresource) return;
    if (!rt.builtin) {
      delete obj.status;
      return;
    }
    switch (rt.kind) {
      case 'Pod':
        obj.status = { phase: 'Pending', qosClass: podQosClass(obj.spec) };
        break;
      case 'DaemonSet':
      case 'Deployment':
      case 'PodDisruptionBudget':
        obj.status = initialWorkloadStatus(rt.kind, obj);
        break;
      case 'Service':
        obj.status = { loadBalancer: {} };
        break;
      case 'Namespace':
        obj.status = { phase: 'Active' };
        break;
      case 'Node':
        break; // nodes may set status on create
      case 'CustomResourceDefinition':
        obj.status = {
          acceptedNames: obj.spec?.names ?? {},
          storedVersions: (obj.spec?.versions ?? [])
            .filter((v: KubeObject) => v.storage)
            .map((v: KubeObject) => v.name),
          conditions: [
            {
              type: 'NamesAccepted',
              status: 'True',
              reason: 'NoConflicts',
              message: 'no conflicts found',
              lastTransitionTime: rfc3339(),
            },
            {
              type: 'Established',
              status: 'True',
              reason: 'InitialNamesAccepted',
              message: 'the initial names have been accepted',
              lastTransitionTime: rfc3339(),
            },
          ],
        };
        break;
      default:
        delete obj.status;
    }
  }

  /** Built-in defaults and validation, or CRD pruning + defaults + schema validation. */
  private defaultAndValidate(
    rt: ResourceType,
    version: string,
    obj: KubeObject,
    old: KubeObject | undefined,
  ): void {
    const causes: StatusCause[] = [];
    if (!rt.builtin) {
      const schema = rt.schemas.get(version) ?? rt.schemas.get(rt.storageVersion);
      prune(obj, schema);
      applyDefaults(obj, schema);
      causes.push(...validate(obj, schema));
    } else if (rt.kind === 'Pod') {
      obj.spec ??= {};
      const spec = obj.spec;
      spec.restartPolicy ??= 'Always';
      spec.terminationGracePeriodSeconds ??= 30;
      spec.dnsPolicy ??= 'ClusterFirst';
      spec.schedulerName ??= 'default-scheduler';
      spec.serviceAccountName ??= 'default';
      spec.enableServiceLinks ??= true;
      if (!Array.isArray(spec.containers) || spec.containers.length === 0)
        causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });
      else
        spec.containers.forEach((c: KubeObject, i: number) => {
          if (!c?.name)
            causes.push({
              reason: 'FieldValueRequired',
              message: 'Required value',
              field: `spec.containers[${i}].name`,
            });
          if (!c?.image)
            causes.push({
              reason: 'FieldValueRequired',
              message: 'Required value',
              field: `spec.containers[${i}].image`,
            });
        });
      if (old && !podSpecUpdateAllowed(old.spec, spec))
        causes.push({
          reason: 'FieldValueForbidden',
          message:
            'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
          field: 'spec',
        });
    } else if (rt.kind === 'Service') {
      obj.spec ??= {};
      if (!old) {
        obj.spec.type ??= 'ClusterIP';
        obj.spec.sessionAffinity ??= 'None';
        if (obj.spec.clusterIP === undefined && obj.spec.type !== 'ExternalName') {
          const n = this.nextClusterIp++;
          obj.spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`;
          obj.spec.clusterIPs = [obj.spec.clusterIP];
        }
      } else if (obj.spec.clusterIP === undefined && old.spec?.clusterIP !== undefined) {
        obj.spec.clusterIP = old.spec.clusterIP;
        obj.spec.clusterIPs = old.spec.clusterIPs;
      } else if (old.spec?.clusterIP && obj.spec.clusterIP !== old.spec.clusterIP) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${obj.spec.clusterIP}": field is immutable`,
          field: 'spec.clusterIP',
        });
      }
    } else if (rt.kind === 'Event' && rt.group === '') {
      const io = obj.involvedObject;
      if (io?.namespace && obj.metadata.namespace && io.namespace !== obj.metadata.namespace)
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${io.namespace}": does not match event.namespace`,
          field: 'involvedObject.namespace',
        });
    } else if (rt.kind === 'DaemonSet' || rt.kind === 'Deployment' || rt.kind === 'Secret') {
      defaultWorkload(rt.kind, obj);
    } else if (rt.kind === 'Namespace' && !old) {
      obj.spec ??= { finalizers: ['kubernetes'] };
    }
    if (causes.length > 0) throw errors.invalid(rt.kind, rt.group, obj.metadata?.name ?? '', causes);
  }

  // ---------- update / patch ----------

  update(
    ctx: OpContext,
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    version: string,
    body: unknown,
    subresource?: string,
  ): KubeObject {
    if (!isPlainObject(body)) throw errors.badRequest('the body of the request must be a JSON object');
    const old = this.getStored(rt, namespace, name);
    const cand = clone(body) as KubeObject;
    this.checkTypeMeta(rt, version, cand);
    if (!isPlainObject(cand.metadata)) cand.metadata = {};
    if (cand.metadata.name !== undefined && cand.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${cand.metadata.name}) does not match the name on the URL (${name})`,
      );
    if (
      rt.namespaced &&
      cand.metadata.namespace !== undefined &&
      cand.metadata.namespace !== (namespace ?? old.metadata.namespace)
    )
      throw errors.badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    if (!cand.metadata.resourceVersion && !rt.builtin)
      throw errors.invalid(rt.kind, rt.group, name, [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0: must be specified for an update',
          field: 'metadata.resourceVersion',
        },
      ]);
    return this.commitUpdate(ctx, rt, version, old, cand, subresource);
  }

  patch(
    ctx: OpContext,
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    version: string,
    contentType: string,
    body: unknown,
    subresource?: string,
  ): KubeObject {
    const old = this.getStored(rt, namespace, name);
    const base = this.view(rt, old, version);
    let cand: KubeObject;
    switch (contentType) {
      case PATCH_TYPES.merge:
        if (!isPlainObject(body))
          throw errors.badRequest(
            'json: cannot unmarshal array into Go value of type map[string]interface {}',
          );
        cand = mergePatch(base, body) as KubeObject;
        break;
      case PATCH_TYPES.json:
        cand = jsonPatch(base, body);
        break;
      case PATCH_TYPES.strategic:
        if (!rt.builtin) throw unsupportedPatch(contentType);
        cand = strategicMergePatch(base, body, rt.kind);
        break;
      case PATCH_TYPES.apply:
        throw errors.unsupportedMediaType(
          'the body of the request was in an unknown format - server-side apply (application/apply-patch+yaml) is not implemented by this API emulator; accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json',
        );
      default:
        throw unsupportedPatch(contentType, rt.builtin);
    }
    if (!isPlainObject(cand) || !isPlainObject(cand.metadata))
      throw errors.badRequest('patched object is not a Kubernetes object');
    cand = clone(cand);
    if (cand.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${cand.metadata.name}) does not match the name on the URL (${name})`,
      );
    if (cand.metadata.resourceVersion === undefined || cand.metadata.resourceVersion === null)
      cand.metadata.resourceVersion = old.metadata.resourceVersion;
    return this.commitUpdate(ctx, rt, version, old, cand, subresource);
  }

  private commitUpdate(
    ctx: OpContext,
    rt: ResourceType,
    version: string,
    old: KubeObject,
    cand: KubeObject,
    subresource: string | undefined,
  ): KubeObject {
    const name: string = old.metadata.name;
    if (subresource === 'status' && !rt.statusSubresource) throw errors.notFoundPath();
    const md = cand.metadata;
    if (md.uid && md.uid !== old.metadata.uid)
      throw preconditionFailed(rt, name, 'UID', md.uid, old.metadata.uid);
    if (md.resourceVersion && String(md.resourceVersion) !== old.metadata.resourceVersion)
      throw errors.conflict(
        rt.plural,
        rt.group,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );

    let next: KubeObject;
    if (subresource === 'status') {
      if (rt.builtin) {
        // Built-in status strategies keep spec, ownerReferences and deletion state; metadata labels/annotations may change.
        next = {
          ...cand,
          spec: old.spec,
          metadata: { ...cand.metadata, ownerReferences: old.metadata.ownerReferences },
        };
      } else next = { ...clone(old), status: cand.status };
      if (next.status === undefined) delete next.status;
    } else {
      next = cand;
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
    }
    next = clone(next);
    const nmd = next.metadata;
    for (const k of [
      'uid',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'generation',
    ] as const) {
      if (old.metadata[k] === undefined) delete nmd[k];
      else nmd[k] = old.metadata[k];
    }
    nmd.name = old.metadata.name;
    if (old.metadata.namespace !== undefined) nmd.namespace = old.metadata.namespace;
    delete nmd.selfLink;
    delete nmd.managedFields;
    if (old.metadata.deletionTimestamp && Array.isArray(nmd.finalizers)) {
      // Finalizers may only be removed from an object being deleted.
      const added = nmd.finalizers.filter((f: string) => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length > 0)
        throw errors.invalid(rt.kind, rt.group, name, [
          {
            reason: 'FieldValueForbidden',
            message: 'Forbidden: no new finalizers can be added if the object is being deleted',
            field: 'metadata.finalizers',
          },
        ]);
    }
    if (ctx.admission && isVmi(rt.group, rt.plural)) admitVmi(ctx.identity.user, old, next);
    this.defaultAndValidate(rt, version, next, old);
    if (ctx.admission)
      this.opts.admitWrite?.({
        operation: 'UPDATE',
        rt,
        version,
        subresource,
        namespace: old.metadata.namespace,
        name,
        object: next,
        oldObject: old,
        identity: ctx.identity,
      });
    next.apiVersion = old.apiVersion;

    // Generation: bumped when anything but metadata (and status, when a subresource) changes.
    const strip = (o: KubeObject) => {
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
      return rt.statusSubresource ? rest : { ...rest, status: o.status };
    };
    if (old.metadata.generation !== undefined && !deepEqual(strip(old), strip(next)))
      nmd.generation = Number(old.metadata.generation) + 1;

    nmd.resourceVersion = old.metadata.resourceVersion;
    if (deepEqual(next, old)) return this.view(rt, old, version); // no-op: nothing written, no new resourceVersion
    if (ctx.dryRun) return this.view(rt, next, version);

    const gr = groupResource(rt.group, rt.plural);
    const rv = this.storage.nextRv();
    nmd.resourceVersion = String(rv);
    this.storage.put(gr, next, rv);
    if (
      nmd.deletionTimestamp &&
      (nmd.finalizers ?? []).length === 0 &&
      !this.podTimers.has(this.timerKey(gr, next))
    ) {
      const gracePending = rt.kind === 'Pod' && rt.builtin && Number(nmd.deletionGracePeriodSeconds ?? 0) > 0;
      if (!gracePending) this.removeNow(rt, next, 'Background');
    }
    this.checkOwnersLater(next);
    return this.view(rt, next, version);
  }

  // ---------- delete ----------

  private timerKey(gr: string, obj: KubeObject): string {
    return `${gr}\0${objectKey(obj.metadata.namespace, obj.metadata.name)}`;
  }

  delete(
    ctx: OpContext,
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    version: string,
    o: DeleteOptions = {},
  ): KubeObject {
    const old = this.getStored(rt, namespace, name);
    const pre = o.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid)
      throw preconditionFailed(rt, name, 'UID', pre.uid, old.metadata.uid);
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw preconditionFailed(
        rt,
        name,
        'ResourceVersion',
        pre.resourceVersion,
        old.metadata.resourceVersion,
      );
    if (
      o.gracePeriodSeconds !== undefined &&
      (!Number.isInteger(o.gracePeriodSeconds) || o.gracePeriodSeconds < 0)
    )
      throw errors.badRequest(`invalid gracePeriodSeconds: ${o.gracePeriodSeconds}`);
    if (ctx.admission)
      this.opts.admitWrite?.({
        operation: 'DELETE',
        rt,
        version,
        namespace: old.metadata.namespace,
        name,
        oldObject: old,
        identity: ctx.identity,
      });
    const gr = groupResource(rt.group, rt.plural);
    const policy = o.propagationPolicy ?? 'Background';
    if (!['Orphan', 'Background', 'Foreground'].includes(policy))
      throw errors.invalid('DeleteOptions', '', '', [
        {
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
          field: 'propagationPolicy',
        },
      ]);
    if (ctx.dryRun) return this.view(rt, old, version);

    if (rt.builtin && rt.kind === 'Pod') {
      let grace = o.gracePeriodSeconds ?? Number(old.spec?.terminationGracePeriodSeconds ?? 30);
      const phase = old.status?.phase;
      if (!old.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
      const current = old.metadata.deletionGracePeriodSeconds;
      if (grace > 0) {
        if (old.metadata.deletionTimestamp !== undefined && current !== undefined && current <= grace) {
          return this.view(rt, old, version); // already terminating with a shorter or equal grace
        }
        const next = { ...old, metadata: { ...old.metadata } };
        next.metadata.deletionTimestamp = rfc3339(Date.now() + grace * 1000);
        next.metadata.deletionGracePeriodSeconds = grace;
        const rv = this.storage.nextRv();
        next.metadata.resourceVersion = String(rv);
        this.storage.put(gr, next, rv);
        this.armPodTimer(rt, next, grace, policy);
        return this.view(rt, next, version);
      }
    }
    if ((old.metadata.finalizers ?? []).length > 0 || (rt.builtin && rt.kind === 'Namespace')) {
      if (old.metadata.deletionTimestamp) return this.view(rt, old, version);
      const next: KubeObject = {
        ...old,
        metadata: { ...old.metadata, deletionTimestamp: rfc3339(), deletionGracePeriodSeconds: 0 },
      };
      if (rt.kind === 'Namespace' && rt.builtin)
        next.status = { ...(old.status ?? {}), phase: 'Terminating' };
      const rv = this.storage.nextRv();
      next.metadata.resourceVersion = String(rv);
      this.storage.put(gr, next, rv);
      if (rt.kind === 'Namespace' && rt.builtin) {
        // Not at once: a client deleting a namespace and then the objects in it (kubectl delete -k)
        // finds them still there, as on a real cluster where the namespace controller takes a while.
        const t = setTimeout(() => {
          this.namespaceTimers.delete(t);
          if (!this.stopped) this.purgeNamespace(name);
        }, NAMESPACE_FINALIZE_MS);
        t.unref?.();
        this.namespaceTimers.add(t);
      }
      return this.view(rt, next, version);
    }
    return this.view(rt, this.removeNow(rt, old, policy), version);
  }

  private armPodTimer(
    rt: ResourceType,
    pod: KubeObject,
    grace: number,
    policy: DeleteOptions['propagationPolicy'],
  ): void {
    const key = this.timerKey(groupResource(rt.group, rt.plural), pod);
    const prev = this.podTimers.get(key);
    if (prev) clearTimeout(prev);
    this.podTimers.delete(key);
    if (this.opts.podDeletion !== 'timer' || this.stopped) return;
    const uid = pod.metadata.uid;
    const t = setTimeout(() => {
      this.podTimers.delete(key);
      const cur = this.storage.get(
        groupResource(rt.group, rt.plural),
        objectKey(pod.metadata.namespace, pod.metadata.name),
      );
      if (
        cur &&
        cur.metadata.uid === uid &&
        cur.metadata.deletionTimestamp &&
        (cur.metadata.finalizers ?? []).length === 0
      )
        this.removeNow(rt, cur, policy ?? 'Background');
    }, grace * 1000);
    t.unref?.();
    this.podTimers.set(key, t);
  }

  /** Completes a pending graceful pod deletion now (what the kubelet does once containers stop). */
  finishPodDeletion(namespace: string, name: string): boolean {
    const rt = this.registry.byGroupResource('pods') as ResourceType;
    const cur = this.storage.get('pods', objectKey(namespace, name));
    if (!cur?.metadata.deletionTimestamp) return false;
    this.removeNow(rt, cur, 'Background');
    return true;
  }

  /** Removes the object now and handles dependents per propagation policy. Returns its final state. */
  removeNow(rt: ResourceType, old: KubeObject, policy: 'Orphan' | 'Background' | 'Foreground'): KubeObject {
    const gr = groupResource(rt.group, rt.plural);
    const key = objectKey(old.metadata.namespace, old.metadata.name);
    const timer = this.podTimers.get(`${gr}\0${key}`);
    if (timer) clearTimeout(timer);
    this.podTimers.delete(`${gr}\0${key}`);
    const uid: string = old.metadata.uid;
    if (policy === 'Foreground')
      for (const dep of this.storage.dependentsOf(uid)) this.collect(dep, uid, 'Foreground');
    if (policy === 'Orphan') for (const dep of this.storage.dependentsOf(uid)) this.dropOwnerRef(dep, uid);
    const rv = this.storage.nextRv();
    const final = { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } };
    this.storage.remove(gr, key, final, rv);
    if (policy === 'Background') this.defer(() => this.collectDependents(uid));
    if (rt.builtin && rt.kind === 'CustomResourceDefinition') this.onCrdDeleted?.(old);
    return final;
  }

  /** Hook: the emulator unregisters a CRD's resource type when the CRD object is removed. */
  onCrdDeleted?: (crd: KubeObject) => void;

  // ---------- garbage collection ----------

  private collectDependents(ownerUid: string): void {
    if (this.storage.locateUid(ownerUid)) return; // owner came back (same uid cannot, but be safe)
    for (const dep of this.storage.dependentsOf(ownerUid)) this.collect(dep, ownerUid, 'Background');
  }

  /** The dependent is deleted when none of its owners exist any more; else the dangling reference is dropped. */
  private collect(depKey: string, ownerUid: string, policy: 'Background' | 'Foreground'): void {
    const [gr, key] = depKey.split('\0') as [string, string];
    const obj = this.storage.get(gr, key);
    const rt = this.registry.byGroupResource(gr);
    if (!obj || !rt) return;
    const refs: KubeObject[] = obj.metadata.ownerReferences ?? [];
    const alive = refs.some((r) => r.uid !== ownerUid && this.storage.locateUid(r.uid));
    if (alive) this.dropOwnerRef(depKey, ownerUid);
    else if (rt.builtin && rt.kind === 'Pod' && obj.spec?.nodeName)
      this.gcDelete(rt, obj, { propagationPolicy: policy });
    else if (!obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length === 0)
      this.removeNow(rt, obj, policy);
  }

  /** A delete by the garbage collector; losing a race with another deletion is fine. */
  private gcDelete(rt: ResourceType, obj: KubeObject, o: DeleteOptions): void {
    try {
      this.delete(GC_CONTEXT, rt, obj.metadata.namespace, obj.metadata.name, rt.storageVersion, o);
    } catch {
      /* raced with another deletion, or already gone */
    }
  }

  private dropOwnerRef(depKey: string, ownerUid: string): void {
    const [gr, key] = depKey.split('\0') as [string, string];
    const obj = this.storage.get(gr, key);
    if (!obj) return;
    const refs = (obj.metadata.ownerReferences ?? []).filter((r: KubeObject) => r.uid !== ownerUid);
    const next = { ...obj, metadata: { ...obj.metadata, ownerReferences: refs } };
    if (refs.length === 0) delete next.metadata.ownerReferences;
    const rv = this.storage.nextRv();
    next.metadata.resourceVersion = String(rv);
    this.storage.put(gr, next, rv);
  }

  /** Objects created with owners that do not exist are collected, as the real GC does. */
  private checkOwnersLater(obj: KubeObject): void {
    const refs: KubeObject[] = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const uid = obj.metadata.uid;
    this.defer(() => {
      const loc = this.storage.locateUid(uid);
      if (!loc) return;
      const current: KubeObject[] = loc.object.metadata.ownerReferences ?? [];
      if (current.length > 0 && current.every((r) => !this.storage.locateUid(r.uid))) {
        const rt = this.registry.byGroupResource(loc.gr);
        if (rt && !loc.object.metadata.deletionTimestamp) this.gcDelete(rt, loc.object, {});
      }
    });
  }

  private purgeNamespace(ns: string): void {
    for (const rt of this.registry.all()) {
      if (!rt.namespaced) continue;
      for (const obj of this.storage.list(groupResource(rt.group, rt.plural), ns))
        this.removeNow(rt, obj, 'Background');
    }
    const nsObj = this.storage.get('namespaces', ns);
    const nsRt = this.registry.byGroupResource('namespaces');
    if (nsObj && nsRt) this.removeNow(nsRt, nsObj, 'Background');
  }

  deleteCollection(
    ctx: OpContext,
    rt: ResourceType,
    namespace: string | undefined,
    version: string,
    sel: ListOptions,
    o: DeleteOptions,
  ): KubeObject {
    const list = this.list(rt, namespace, version, {
      labelSelector: sel.labelSelector,
      fieldSelector: sel.fieldSelector,
    });
    const items: KubeObject[] = [];
    for (const obj of list.items as KubeObject[]) {
      try {
        items.push(this.delete(ctx, rt, obj.metadata.namespace, obj.metadata.name, version, o));
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return { ...list, metadata: { resourceVersion: String(this.storage.resourceVersion) }, items };
  }
}

function unsupportedPatch(contentType: string, builtin = false): ApiError {
  const types = builtin
    ? 'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml'
    : 'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml';
  return errors.unsupportedMediaType(
    `the body of the request was in an unknown format - accepted media types include: ${types}${contentType ? '' : ''}`,
  );
}

/** The pod spec fields an update may change (images, activeDeadlineSeconds, tolerations additions, grace). */
function podSpecUpdateAllowed(oldSpec: KubeObject | undefined, newSpec: KubeObject | undefined): boolean {
  const norm = (s: KubeObject | undefined) => {
    const c = clone(s ?? {});
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
      if (Array.isArray(c[list])) for (const x of c[list]) if (isPlainObject(x)) delete x.image;
    }
    delete c.activeDeadlineSeconds;
    delete c.tolerations;
    delete c.terminationGracePeriodSeconds;
    return c;
  };
  return deepEqual(norm(oldSpec), norm(newSpec));
}
