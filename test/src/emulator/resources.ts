/**
 * The resource registry: every kind the emulator serves (built-in kinds and CRD-defined ones),
 * keyed by group/version/plural for routing and by group/plural for storage (one stored object
 * per name whatever version it is read through, as with CRD conversion strategy `None`).
 */
import type { StructuralSchema } from './schema.js';
import { workloadAndAdmissionResources } from './workloads.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string;
  /** Versions served, first = preferred (storage) version. */
  versions: string[];
  storageVersion: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  /** Has a `/status` subresource. */
  statusSubresource: boolean;
  /** Built-in kinds accept strategic-merge-patch; custom resources answer 415. */
  builtin: boolean;
  /** Read-only kinds (RBAC objects loaded from files may still be written by admin). */
  verbs: string[];
  /** Structural schema per version (custom resources only). */
  schemas: Map<string, StructuralSchema | undefined>;
  printerColumns: Map<string, PrinterColumn[]>;
  /** Field selector labels beyond metadata.name / metadata.namespace. */
  fieldLabels: Record<string, (o: Record<string, unknown>) => string | undefined>;
  /** The CRD that defined it, if any. */
  crdName?: string;
}

/** Storage key of a resource: `pods`, `virtualmachineinstances.kubevirt.io`. */
export function groupResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

// biome-ignore lint/suspicious/noExplicitAny: field accessors walk arbitrary JSON.
type Any = any;
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

/** Field labels whose value is the string at that dotted path of the object ('' when absent). */
function pathLabels(...paths: string[]): ResourceType['fieldLabels'] {
  return Object.fromEntries(
    paths.map((path) => {
      const keys = path.split('.');
      return [path, (o: Record<string, unknown>) => str(keys.reduce<Any>((v, k) => v?.[k], o)) ?? ''];
    }),
  );
}

export function builtin(
  p: Partial<ResourceType> & Pick<ResourceType, 'group' | 'plural' | 'singular' | 'kind' | 'namespaced'>,
): ResourceType {
  return {
    versions: ['v1'],
    storageVersion: 'v1',
    listKind: `${p.kind}List`,
    shortNames: [],
    categories: [],
    statusSubresource: false,
    builtin: true,
    verbs: ALL_VERBS,
    schemas: new Map(),
    printerColumns: new Map(),
    fieldLabels: {},
    ...p,
  };
}

export function builtinResources(): ResourceType[] {
  return [
    ...workloadAndAdmissionResources(),
    builtin({
      group: '',
      plural: 'namespaces',
      singular: 'namespace',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      statusSubresource: true,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      fieldLabels: { 'status.phase': (o: Any) => str(o.status?.phase) },
    }),
    builtin({
      group: '',
      plural: 'pods',
      singular: 'pod',
      kind: 'Pod',
      namespaced: true,
      shortNames: ['po'],
      categories: ['all'],
      statusSubresource: true,
      fieldLabels: {
        ...pathLabels(
          'spec.nodeName',
          'spec.restartPolicy',
          'spec.schedulerName',
          'spec.serviceAccountName',
          'status.phase',
          'status.podIP',
          'status.nominatedNodeName',
        ),
        'spec.hostNetwork': (o: Any) => String(o.spec?.hostNetwork === true),
      },
    }),
    builtin({
      group: '',
      plural: 'nodes',
      singular: 'node',
      kind: 'Node',
      namespaced: false,
      shortNames: ['no'],
      statusSubresource: true,
      fieldLabels: { 'spec.unschedulable': (o: Any) => String(o.spec?.unschedulable === true) },
    }),
    builtin({
      group: '',
      plural: 'services',
      singular: 'service',
      kind: 'Service',
      namespaced: true,
      shortNames: ['svc'],
      categories: ['all'],
      statusSubresource: true,
    }),
    builtin({
      group: '',
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      kind: 'ServiceAccount',
      namespaced: true,
      shortNames: ['sa'],
    }),
    builtin({
      group: '',
      plural: 'configmaps',
      singular: 'configmap',
      kind: 'ConfigMap',
      namespaced: true,
      shortNames: ['cm'],
    }),
    builtin({
      group: '',
      plural: 'events',
      singular: 'event',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      fieldLabels: {
        ...pathLabels(
          'involvedObject.kind',
          'involvedObject.namespace',
          'involvedObject.name',
          'involvedObject.uid',
          'involvedObject.apiVersion',
          'involvedObject.resourceVersion',
          'involvedObject.fieldPath',
          'reason',
          'reportingComponent',
          'type',
        ),
        source: (o: Any) => str(o.source?.component) ?? str(o.reportingComponent) ?? '',
      },
    }),
    builtin({
      group: 'events.k8s.io',
      plural: 'events',
      singular: 'event',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      fieldLabels: pathLabels(
        'regarding.kind',
        'regarding.namespace',
        'regarding.name',
        'regarding.uid',
        'reason',
        'reportingController',
        'type',
      ),
    }),
    builtin({
      group: 'discovery.k8s.io',
      plural: 'endpointslices',
      singular: 'endpointslice',
      kind: 'EndpointSlice',
      namespaced: true,
    }),
    builtin({
      group: 'coordination.k8s.io',
      plural: 'leases',
      singular: 'lease',
      kind: 'Lease',
      namespaced: true,
    }),
    builtin({
      group: 'apiextensions.k8s.io',
      plural: 'customresourcedefinitions',
      singular: 'customresourcedefinition',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      categories: ['api-extensions'],
      statusSubresource: true,
    }),
    ...(
      [
        ['clusterroles', 'ClusterRole', false],
        ['clusterrolebindings', 'ClusterRoleBinding', false],
        ['roles', 'Role', true],
        ['rolebindings', 'RoleBinding', true],
      ] as const
    ).map(([plural, kind, namespaced]) =>
      builtin({
        group: 'rbac.authorization.k8s.io',
        plural,
        singular: kind.toLowerCase(),
        kind,
        namespaced,
      }),
    ),
  ];
}

/** Lookup of served resources. Registration replaces a previous one of the same group/plural. */
export class ResourceRegistry {
  private readonly byGvr = new Map<string, ResourceType>();
  private readonly byGr = new Map<string, ResourceType>();

  register(rt: ResourceType): void {
    const old = this.byGr.get(groupResource(rt.group, rt.plural));
    if (old) for (const v of old.versions) this.byGvr.delete(`${old.group}/${v}/${old.plural}`);
    this.byGr.set(groupResource(rt.group, rt.plural), rt);
    for (const v of rt.versions) this.byGvr.set(`${rt.group}/${v}/${rt.plural}`, rt);
  }

  unregister(group: string, plural: string): void {
    const old = this.byGr.get(groupResource(group, plural));
    if (!old) return;
    this.byGr.delete(groupResource(group, plural));
    for (const v of old.versions) this.byGvr.delete(`${old.group}/${v}/${old.plural}`);
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byGvr.get(`${group}/${version}/${plural}`);
  }

  byGroupResource(gr: string): ResourceType | undefined {
    return this.byGr.get(gr);
  }

  /** Find a resource type by apiVersion + kind (for in-process store calls). */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    for (const rt of this.byGr.values()) {
      if (rt.group === group && rt.kind === kind && rt.versions.includes(version as string)) return rt;
    }
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byGr.values()];
  }

  /** group → versions served (ordered, preferred first). */
  groups(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const rt of this.byGr.values()) {
      const vs = m.get(rt.group) ?? [];
      for (const v of rt.versions) if (!vs.includes(v)) vs.push(v);
      m.set(rt.group, vs);
    }
    return m;
  }
}
