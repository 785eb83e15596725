/**
 * Server-side printing: content negotiation of `Accept` and the meta.k8s.io Table a list or get is
 * turned into, with the columns kube-apiserver's printers produce for the built-in kinds the
 * project uses (pods incl. the wide columns, events, endpointslices, nodes, daemonsets,
 * deployments, services, namespaces, …), each CRD's `additionalPrinterColumns` (or Age), and the
 * default Name / Created At for the rest. Also `as=PartialObjectMetadata(List)` for metadata clients.
 * Pure functions: `now` is passed in for ages.
 */
import { ApiError } from './errors.js';
import type { PrinterColumn, ResourceType } from './resources.js';

// biome-ignore lint/suspicious/noExplicitAny: printers read arbitrary JSON.
type Any = any;

export type Rendering =
  | { as: 'json' }
  | { as: 'Table'; version: 'v1' | 'v1beta1' }
  | { as: 'PartialObjectMetadata'; version: 'v1' | 'v1beta1' };

const ACCEPTED =
  'application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io';

/**
 * The rendering for an `Accept` header, first acceptable media type wins (as kubectl lists them in
 * preference order). Watches get JSON or Tables (one row per event). Nothing acceptable → 406.
 */
export function negotiate(accept: string | undefined, verb: string): Rendering {
  if (!accept || accept.trim() === '') return { as: 'json' };
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    const p = Object.fromEntries(
      params.map((x) => {
        const [k, v] = x.split('=');
        return [k?.trim().toLowerCase(), (v ?? '').trim().replace(/^"|"$/g, '')];
      }),
    ) as Record<string, string>;
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    if (p.as === undefined) return { as: 'json' };
    if (verb !== 'get' && verb !== 'list' && verb !== 'watch') continue;
    if (p.g !== 'meta.k8s.io' || (p.v !== 'v1' && p.v !== 'v1beta1')) continue;
    if (p.as === 'Table') return { as: 'Table', version: p.v };
    if (verb === 'watch') continue;
    if (p.as === 'PartialObjectMetadata' && verb === 'get')
      return { as: 'PartialObjectMetadata', version: p.v };
    if (p.as === 'PartialObjectMetadataList' && verb === 'list')
      return { as: 'PartialObjectMetadata', version: p.v };
  }
  throw new ApiError(406, 'NotAcceptable', `only the following media types are accepted: ${ACCEPTED}`);
}

/** kube's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function since(ts: unknown, now: number): string {
  if (typeof ts !== 'string' || ts === '') return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: Any) => unknown;
}

const NAME_DESC =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const AGE_DESC =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

const none = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));

function columnsFor(rt: ResourceType, version: string, now: number): Column[] {
  const name: Column = {
    name: 'Name',
    type: 'string',
    format: 'name',
    description: NAME_DESC,
    cell: (o) => o.metadata?.name,
  };
  const age: Column = {
    name: 'Age',
    type: 'string',
    description: AGE_DESC,
    cell: (o) => since(o.metadata?.creationTimestamp, now),
  };
  const c = (n: string, cell: (o: Any) => unknown, priority = 0, type = 'string'): Column => ({
    name: n,
    type,
    priority,
    cell,
  });
  if (!rt.builtin) return crdColumns(rt.printerColumns.get(version) ?? [], name, now);
  const key = `${rt.group}/${rt.kind}`;
  switch (key) {
    case '/Pod':
      return [
        name,
        c('Ready', (o) => {
          const cs: Any[] = o.status?.containerStatuses ?? [];
          return `${cs.filter((x) => x.ready).length}/${(o.spec?.containers ?? []).length}`;
        }),
        c('Status', podStatus),
        c('Restarts', (o) =>
          String(
            (o.status?.containerStatuses ?? []).reduce((n: number, x: Any) => n + (x.restartCount ?? 0), 0),
          ),
        ),
        age,
        c('IP', (o) => none(o.status?.podIP), 1),
        c('Node', (o) => none(o.spec?.nodeName), 1),
        c('Nominated Node', (o) => none(o.status?.nominatedNodeName), 1),
        c(
          'Readiness Gates',
          (o) => {
            const gates: Any[] = o.spec?.readinessGates ?? [];
            if (gates.length === 0) return '<none>';
            const conds: Any[] = o.status?.conditions ?? [];
            const ok = gates.filter((g) =>
              conds.some((x) => x.type === g.conditionType && x.status === 'True'),
            ).length;
            return `${ok}/${gates.length}`;
          },
          1,
        ),
      ];
    case '/Event':
    case 'events.k8s.io/Event':
      return [
        c('Last Seen', (o) => {
          const last =
            o.lastTimestamp ?? o.deprecatedLastTimestamp ?? o.series?.lastObservedTime ?? o.eventTime;
          const count = o.count ?? o.deprecatedCount ?? o.series?.count ?? 1;
          const first = o.firstTimestamp ?? o.deprecatedFirstTimestamp ?? o.eventTime;
          return count > 1 ? `${since(last, now)} (x${count} over ${since(first, now)})` : since(last, now);
        }),
        c('Type', (o) => o.type),
        c('Reason', (o) => o.reason),
        c('Object', (o) => {
          const io = o.involvedObject ?? o.regarding ?? {};
          return `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
        }),
        c('Subobject', (o) => (o.involvedObject ?? o.regarding)?.fieldPath ?? '', 1),
        c(
          'Source',
          (o) => {
            const comp = o.source?.component ?? o.reportingController ?? o.reportingComponent ?? '';
            const host = o.source?.host ?? o.deprecatedSource?.host ?? '';
            return host ? `${comp}, ${host}` : comp;
          },
          1,
        ),
        c('Message', (o) => String(o.message ?? o.note ?? '').trim()),
        c('First Seen', (o) => since(o.firstTimestamp ?? o.deprecatedFirstTimestamp ?? o.eventTime, now), 1),
        c('Count', (o) => String(o.count ?? o.deprecatedCount ?? o.series?.count ?? 1), 1),
        { ...name, priority: 1 },
      ];
    case 'discovery.k8s.io/EndpointSlice':
      return [
        name,
        c('AddressType', (o) => o.addressType),
        c('Ports', (o) => {
          const ports: Any[] = o.ports ?? [];
          if (ports.length === 0) return '<unset>';
          return ports.map((p) => (p.port === undefined ? '<unset>' : String(p.port))).join(',');
        }),
        c('Endpoints', (o) => {
          const addrs: string[] = (o.endpoints ?? []).flatMap((e: Any) => e.addresses ?? []);
          if (addrs.length === 0) return '<unset>';
          const shown = addrs.slice(0, 3).join(',');
          return addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
        }),
        age,
      ];
    case '/Node':
      return [
        name,
        c('Status', (o) => {
          const ready = (o.status?.conditions ?? []).find((x: Any) => x.type === 'Ready');
          const s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
          return o.spec?.unschedulable ? `${s},SchedulingDisabled` : s;
        }),
        c('Roles', (o) => {
          const roles = Object.keys(o.metadata?.labels ?? {})
            .filter((k) => k.startsWith('node-role.kubernetes.io/'))
            .map((k) => k.slice('node-role.kubernetes.io/'.length))
            .filter(Boolean);
          return roles.length ? roles.sort().join(',') : '<none>';
        }),
        age,
        c('Version', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''),
        c('Internal-IP', (o) => none(addr(o, 'InternalIP')), 1),
        c('External-IP', (o) => none(addr(o, 'ExternalIP')), 1),
        c('OS-Image', (o) => none(o.status?.nodeInfo?.osImage), 1),
        c('Kernel-Version', (o) => none(o.status?.nodeInfo?.kernelVersion), 1),
        c('Container-Runtime', (o) => none(o.status?.nodeInfo?.containerRuntimeVersion), 1),
      ];
    case 'apps/DaemonSet':
      return [
        name,
        c('Desired', (o) => o.status?.desiredNumberScheduled ?? 0, 0, 'integer'),
        c('Current', (o) => o.status?.currentNumberScheduled ?? 0, 0, 'integer'),
        c('Ready', (o) => o.status?.numberReady ?? 0, 0, 'integer'),
        c('Up-to-date', (o) => o.status?.updatedNumberScheduled ?? 0, 0, 'integer'),
        c('Available', (o) => o.status?.numberAvailable ?? 0, 0, 'integer'),
        c('Node Selector', (o) => labelsString(o.spec?.template?.spec?.nodeSelector)),
        age,
        ...workloadWide(c),
      ];
    case 'apps/Deployment':
      return [
        name,
        c('Ready', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`),
        c('Up-to-date', (o) => o.status?.updatedReplicas ?? 0, 0, 'integer'),
        c('Available', (o) => o.status?.availableReplicas ?? 0, 0, 'integer'),
        age,
        ...workloadWide(c),
      ];
    case '/Namespace':
      return [name, c('Status', (o) => o.status?.phase ?? ''), age];
    case '/Service':
      return [
        name,
        c('Type', (o) => o.spec?.type ?? 'ClusterIP'),
        c('Cluster-IP', (o) => none(o.spec?.clusterIP)),
        c('External-IP', (o) => {
          const ing = (o.status?.loadBalancer?.ingress ?? []).map((i: Any) => i.ip ?? i.hostname);
          const ext = [...(o.spec?.externalIPs ?? []), ...ing];
          if (ext.length) return ext.join(',');
          return o.spec?.type === 'LoadBalancer' ? '<pending>' : '<none>';
        }),
        c('Port(s)', (o) => {
          const ports: Any[] = o.spec?.ports ?? [];
          if (ports.length === 0) return '<none>';
          return ports
            .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
            .join(',');
        }),
        age,
        c('Selector', (o) => labelsString(o.spec?.selector), 1),
      ];
    case 'policy/PodDisruptionBudget':
      return [
        name,
        c('Min Available', (o) => (o.spec?.minAvailable === undefined ? 'N/A' : String(o.spec.minAvailable))),
        c('Max Unavailable', (o) =>
          o.spec?.maxUnavailable === undefined ? 'N/A' : String(o.spec.maxUnavailable),
        ),
        c('Allowed Disruptions', (o) => o.status?.disruptionsAllowed ?? 0, 0, 'integer'),
        age,
      ];
    case '/Secret':
      return [
        name,
        c('Type', (o) => o.type ?? 'Opaque'),
        c('Data', (o) => Object.keys(o.data ?? {}).length, 0, 'integer'),
        age,
      ];
    case '/ConfigMap':
      return [
        name,
        c(
          'Data',
          (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
          0,
          'integer',
        ),
        age,
      ];
    case '/ServiceAccount':
      return [name, c('Secrets', (o) => (o.secrets ?? []).length, 0, 'integer'), age];
    case 'coordination.k8s.io/Lease':
      return [name, c('Holder', (o) => o.spec?.holderIdentity ?? ''), age];
    case 'apiextensions.k8s.io/CustomResourceDefinition':
    case 'rbac.authorization.k8s.io/ClusterRole':
    case 'rbac.authorization.k8s.io/Role':
      return [name, c('Created At', (o) => o.metadata?.creationTimestamp, 0, 'date')];
    case 'rbac.authorization.k8s.io/ClusterRoleBinding':
    case 'rbac.authorization.k8s.io/RoleBinding': {
      const subj = (kind: string) => (o: Any) =>
        (o.subjects ?? [])
          .filter((s: Any) => s.kind === kind)
          .map((s: Any) =>
            kind === 'ServiceAccount' ? `${s.namespace ?? o.metadata?.namespace}/${s.name}` : s.name,
          )
          .join(', ');
      return [
        name,
        c('Role', (o) => `${o.roleRef?.kind}/${o.roleRef?.name}`),
        age,
        c('Users', subj('User'), 1),
        c('Groups', subj('Group'), 1),
        c('ServiceAccounts', subj('ServiceAccount'), 1),
      ];
    }
    case 'admissionregistration.k8s.io/MutatingWebhookConfiguration':
    case 'admissionregistration.k8s.io/ValidatingWebhookConfiguration':
      return [name, c('Webhooks', (o) => (o.webhooks ?? []).length, 0, 'integer'), age];
    case 'admissionregistration.k8s.io/ValidatingAdmissionPolicy':
      return [
        name,
        c('Validations', (o) => (o.spec?.validations ?? []).length, 0, 'integer'),
        c('ParamKind', (o) =>
          o.spec?.paramKind ? `${o.spec.paramKind.apiVersion}/${o.spec.paramKind.kind}` : '<unset>',
        ),
        age,
      ];
    case 'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding':
      return [
        name,
        c('PolicyName', (o) => o.spec?.policyName ?? ''),
        c('ParamRef', (o) =>
          o.spec?.paramRef ? `${o.spec.paramRef.namespace ?? ''}/${o.spec.paramRef.name ?? '*'}` : '<unset>',
        ),
        age,
      ];
    default:
      return [name, c('Created At', (o) => o.metadata?.creationTimestamp, 0, 'date')];
  }
}

function addr(o: Any, type: string): string | undefined {
  return (o.status?.addresses ?? []).find((a: Any) => a.type === type)?.address;
}

function labelsString(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length === 0 ? '<none>' : e.map(([k, v]) => `${k}=${v}`).join(',');
}

function workloadWide(c: (n: string, cell: (o: Any) => unknown, priority?: number) => Column): Column[] {
  const containers = (o: Any): Any[] => o.spec?.template?.spec?.containers ?? [];
  return [
    c(
      'Containers',
      (o) =>
        containers(o)
          .map((x) => x.name)
          .join(','),
      1,
    ),
    c(
      'Images',
      (o) =>
        containers(o)
          .map((x) => x.image)
          .join(','),
      1,
    ),
    c(
      'Selector',
      (o) => {
        const sel = o.spec?.selector ?? {};
        const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
        for (const e of sel.matchExpressions ?? [])
          parts.push(`${e.key} ${String(e.operator).toLowerCase()} (${(e.values ?? []).join(',')})`);
        return parts.length ? parts.join(',') : '<none>';
      },
      1,
    ),
  ];
}

/** kubectl's pod STATUS column (printPod): reason, container waiting/terminated reasons, Terminating. */
function podStatus(o: Any): string {
  let reason: string = o.status?.reason ?? o.status?.phase ?? 'Unknown';
  let initializing = false;
  const inits: Any[] = o.status?.initContainerStatuses ?? [];
  inits.forEach((cs, i) => {
    if (initializing) return;
    const t = cs.state?.terminated;
    if (t && t.exitCode === 0) return;
    if (t) reason = t.reason ? `Init:${t.reason}` : `Init:ExitCode:${t.exitCode}`;
    else if (cs.state?.waiting?.reason && cs.state.waiting.reason !== 'PodInitializing')
      reason = `Init:${cs.state.waiting.reason}`;
    else reason = `Init:${i}/${(o.spec?.initContainers ?? []).length}`;
    initializing = true;
  });
  if (!initializing) {
    let hasRunning = false;
    const cs: Any[] = [...(o.status?.containerStatuses ?? [])].reverse();
    for (const c of cs) {
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
      else if (c.state?.terminated)
        reason = c.state.terminated.signal
          ? `Signal:${c.state.terminated.signal}`
          : `ExitCode:${c.state.terminated.exitCode}`;
      else if (c.ready && c.state?.running) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = (o.status?.conditions ?? []).some((x: Any) => x.type === 'Ready' && x.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (o.metadata?.deletionTimestamp && o.status?.reason !== 'NodeLost') reason = 'Terminating';
  return reason;
}

function crdColumns(cols: PrinterColumn[], name: Column, now: number): Column[] {
  if (cols.length === 0)
    return [
      name,
      {
        name: 'Age',
        type: 'date',
        description: AGE_DESC,
        cell: (o) => since(o.metadata?.creationTimestamp, now),
      },
    ];
  return [
    name,
    ...cols.map((pc): Column => {
      const path = parseJsonPath(pc.jsonPath);
      return {
        name: pc.name,
        type: pc.type,
        format: pc.format,
        priority: pc.priority ?? 0,
        description: pc.description,
        cell: (o) => {
          const found = evalJsonPath(o, path);
          if (found.length === 0) return null;
          const v = found[0];
          if (pc.type === 'date') return since(v, now);
          if (v !== null && typeof v === 'object') return JSON.stringify(v);
          return found.length > 1 ? found.map(String).join(',') : v;
        },
      };
    }),
  ];
}

type Step =
  | { field: string }
  | { index: number | '*' }
  | { filter: string[]; op: '==' | '!='; value: string };

/** The subset of kubectl JSONPath printer columns use: `.a.b`, `[n]`, `[*]`, `[?(@.x=="v")]`. */
export function parseJsonPath(expr: string): Step[] {
  let s = expr.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === '.') {
      const m = /^\.([A-Za-z0-9_\-$/]+)/.exec(s.slice(i));
      if (!m) throw new Error(`bad JSONPath ${expr}`);
      steps.push({ field: m[1] as string });
      i += m[0].length;
    } else if (s[i] === '[') {
      const end = s.indexOf(']', i);
      const inner = s.slice(i + 1, end);
      const f = /^\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*(==|!=)\s*(['"])(.*)\3\)$/.exec(inner);
      if (f)
        steps.push({
          filter: (f[1] as string).split('.').filter(Boolean),
          op: f[2] as '==' | '!=',
          value: f[4] as string,
        });
      else if (inner === '*') steps.push({ index: '*' });
      else if (/^-?\d+$/.test(inner)) steps.push({ index: Number(inner) });
      else throw new Error(`bad JSONPath ${expr}`);
      i = end + 1;
    } else throw new Error(`bad JSONPath ${expr}`);
  }
  return steps;
}

export function evalJsonPath(obj: unknown, steps: Step[]): unknown[] {
  let cur: unknown[] = [obj];
  for (const st of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if ('field' in st) {
        if (v && typeof v === 'object' && !Array.isArray(v) && (v as Any)[st.field] !== undefined)
          next.push((v as Any)[st.field]);
      } else if ('index' in st) {
        if (!Array.isArray(v)) continue;
        if (st.index === '*') next.push(...v);
        else {
          const x = v[st.index < 0 ? v.length + st.index : st.index];
          if (x !== undefined) next.push(x);
        }
      } else if (Array.isArray(v)) {
        for (const x of v) {
          const got = st.filter.reduce<Any>((a, k) => a?.[k], x);
          if ((String(got) === st.value) === (st.op === '==') && got !== undefined) next.push(x);
        }
      }
    }
    cur = next;
  }
  return cur;
}

function partialMetadata(o: Any, version: string): Any {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}

/**
 * Renders a get (object) or list result. `includeObject`: None | Metadata (default) | Object, as
 * kube-apiserver; the Table's metadata carries the list's resourceVersion / continue.
 */
export function render(
  r: Rendering,
  rt: ResourceType,
  version: string,
  result: Any,
  includeObject: string | null,
  now: number,
): Any {
  if (r.as === 'json') return result;
  const isList = Array.isArray(result.items);
  const items: Any[] = isList ? result.items : [result];
  if (r.as === 'PartialObjectMetadata') {
    if (!isList) return partialMetadata(result, r.version);
    return {
      kind: 'PartialObjectMetadataList',
      apiVersion: `meta.k8s.io/${r.version}`,
      metadata: result.metadata,
      items: items.map((o) => partialMetadata(o, r.version)),
    };
  }
  const cols = columnsFor(rt, version, now);
  const include = includeObject ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${r.version}`,
    metadata: isList ? result.metadata : { resourceVersion: result.metadata?.resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o) ?? null),
      ...(include === 'None' ? {} : { object: include === 'Object' ? o : partialMetadata(o, r.version) }),
    })),
  };
}

/**
 * The per-event renderer of a Table watch (`kubectl get -w`): each event's object is a Table with
 * one row; the column definitions travel with the first event only, as kube-apiserver sends them.
 */
export function tableWatchRenderer(
  r: Rendering,
  rt: ResourceType,
  version: string,
  includeObject: string | null,
): ((obj: Any) => Any) | undefined {
  if (r.as !== 'Table') return undefined;
  let first = true;
  return (obj) => {
    const t = render(r, rt, version, obj, includeObject, Date.now());
    if (!first) t.columnDefinitions = [];
    first = false;
    return t;
  };
}
