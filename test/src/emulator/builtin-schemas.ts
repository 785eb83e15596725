/**
 * Schemas of the built-in kinds, from the model classes `@kubernetes/client-node` generates from
 * Kubernetes' own OpenAPI document (every class carries `attributeTypeMap`: JSON name, type, format).
 * They feed the OpenAPI documents the emulator serves (openapi.ts), strict field validation
 * (unknown fields) and the strategic-merge-patch list strategies (patch.ts), so that what kubectl
 * computes from the served documents and what the server applies agree by construction.
 *
 * The generated models carry no patch metadata, so the `+patchMergeKey`/`+patchStrategy` tags of
 * k8s.io/api for the types the emulator serves are listed here (PATCH_META).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as models from '@kubernetes/client-node';
import { isPlainObject } from './util.js';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const MODELS = models as unknown as Record<string, ModelClass | undefined>;

/** Patch strategy of a list (or map) field: merge by key, merge a primitive set, or retainKeys too. */
export interface PatchMeta {
  strategy: 'merge' | 'merge,retainKeys' | 'retainKeys';
  key?: string;
}

/** From the Go struct tags of k8s.io/api (patchStrategy / patchMergeKey) for the kinds served. */
const PATCH_META: Record<string, Record<string, PatchMeta>> = {
  V1ObjectMeta: { ownerReferences: { strategy: 'merge', key: 'uid' }, finalizers: { strategy: 'merge' } },
  V1PodSpec: {
    containers: { strategy: 'merge', key: 'name' },
    initContainers: { strategy: 'merge', key: 'name' },
    ephemeralContainers: { strategy: 'merge', key: 'name' },
    volumes: { strategy: 'merge,retainKeys', key: 'name' },
    imagePullSecrets: { strategy: 'merge', key: 'name' },
    hostAliases: { strategy: 'merge', key: 'ip' },
    topologySpreadConstraints: { strategy: 'merge', key: 'topologyKey' },
    resourceClaims: { strategy: 'merge,retainKeys', key: 'name' },
    schedulingGates: { strategy: 'merge', key: 'name' },
  },
  V1Container: {
    ports: { strategy: 'merge', key: 'containerPort' },
    env: { strategy: 'merge', key: 'name' },
    volumeMounts: { strategy: 'merge', key: 'mountPath' },
    volumeDevices: { strategy: 'merge', key: 'devicePath' },
  },
  V1EphemeralContainer: {
    ports: { strategy: 'merge', key: 'containerPort' },
    env: { strategy: 'merge', key: 'name' },
    volumeMounts: { strategy: 'merge', key: 'mountPath' },
    volumeDevices: { strategy: 'merge', key: 'devicePath' },
  },
  V1PodStatus: {
    conditions: { strategy: 'merge', key: 'type' },
    podIPs: { strategy: 'merge', key: 'ip' },
    hostIPs: { strategy: 'merge', key: 'ip' },
    resourceClaimStatuses: { strategy: 'merge,retainKeys', key: 'name' },
  },
  V1ServiceSpec: { ports: { strategy: 'merge', key: 'port' } },
  V1ServiceAccount: { secrets: { strategy: 'merge', key: 'name' } },
  V1NodeStatus: {
    conditions: { strategy: 'merge', key: 'type' },
    addresses: { strategy: 'merge', key: 'type' },
  },
  V1NodeSpec: { podCIDRs: { strategy: 'merge' } },
  V1NamespaceStatus: { conditions: { strategy: 'merge', key: 'type' } },
  V1DaemonSetStatus: { conditions: { strategy: 'merge', key: 'type' } },
  V1DeploymentStatus: { conditions: { strategy: 'merge', key: 'type' } },
  V1DeploymentSpec: { strategy: { strategy: 'retainKeys' } },
  V1MutatingWebhookConfiguration: { webhooks: { strategy: 'merge', key: 'name' } },
  V1ValidatingWebhookConfiguration: { webhooks: { strategy: 'merge', key: 'name' } },
};

const upper = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The client-node model class name of a served built-in kind (`V1Pod`, `CoreV1Event`, `EventsV1Event`). */
export function modelNameFor(group: string, version: string, kind: string): string | undefined {
  const v = upper(version);
  const prefix = group === '' ? 'Core' : upper((group.split('.')[0] as string).replace(/-/g, ''));
  for (const name of [`${prefix}${v}${kind}`, `${v}${kind}`])
    if (MODELS[name]?.getAttributeTypeMap) return name;
  return undefined;
}

export function modelAttributes(name: string): Attribute[] | undefined {
  return MODELS[name]?.getAttributeTypeMap?.();
}

export function patchMeta(model: string, field: string): PatchMeta | undefined {
  return PATCH_META[model]?.[field];
}

/** A parsed client-node type string. */
export type TypeRef =
  | { t: 'scalar'; type: 'string' | 'number' | 'boolean' | 'date' | 'int-or-string' | 'any' | 'object' }
  | { t: 'array'; items: TypeRef }
  | { t: 'map'; values: TypeRef }
  | { t: 'model'; name: string };

export function parseType(type: string): TypeRef {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return { t: 'array', items: parseType(arr[1] as string) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { t: 'map', values: parseType(map[1] as string) };
  switch (type) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'any':
    case 'object':
      return { t: 'scalar', type };
    case 'Date':
      return { t: 'scalar', type: 'date' };
    case 'IntOrString':
      return { t: 'scalar', type: 'int-or-string' };
    default:
      return MODELS[type]?.getAttributeTypeMap ? { t: 'model', name: type } : { t: 'scalar', type: 'any' };
  }
}

/**
 * The patch strategy of the list at a dotted path (`spec.template.spec.containers`) of a built-in
 * kind, walking the model tree from the kind's class; undefined when the list is atomic (replaced).
 */
export function listStrategyAt(rootModel: string, path: string): PatchMeta | undefined {
  let model: string | undefined = rootModel;
  const segs = path.split('.');
  for (let i = 0; i < segs.length; i++) {
    if (!model) return undefined;
    const seg = segs[i] as string;
    const attr = modelAttributes(model)?.find((a) => a.baseName === seg);
    if (!attr) return undefined;
    if (i === segs.length - 1) return patchMeta(model, seg);
    let t = parseType(attr.type);
    while (t.t === 'array' || t.t === 'map') t = t.t === 'array' ? t.items : t.values;
    model = t.t === 'model' ? t.name : undefined;
  }
  return undefined;
}

/**
 * Fields of `value` the model does not declare, as JSON paths (`spec.containers[0].foo`), the way
 * strict decoding reports them. `$`-prefixed strategic-merge directives are not fields.
 */
export function unknownBuiltinFields(value: unknown, model: string, path = '', out: string[] = []): string[] {
  if (!isPlainObject(value)) return out;
  const attrs = modelAttributes(model);
  if (!attrs) return out;
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('$')) continue;
    const attr = attrs.find((a) => a.baseName === k);
    const p = path ? `${path}.${k}` : k;
    if (!attr) {
      out.push(p);
      continue;
    }
    walkType(v, parseType(attr.type), p, out);
  }
  return out;
}

function walkType(v: unknown, t: TypeRef, path: string, out: string[]): void {
  if (v === null || v === undefined) return;
  if (t.t === 'model') unknownBuiltinFields(v, t.name, path, out);
  else if (t.t === 'array' && Array.isArray(v))
    v.forEach((x, i) => {
      walkType(x, t.items, `${path}[${i}]`, out);
    });
  else if (t.t === 'map' && isPlainObject(v))
    for (const [k, x] of Object.entries(v)) walkType(x, t.values, `${path}.${k}`, out);
}

/** Documentation of a model: its description, its fields' descriptions, its required fields. */
export interface ModelDocs {
  description?: string;
  fields: Record<string, string>;
  required: string[];
}

const docsCache = new Map<string, ModelDocs>();
let modelsDir: string | undefined | null;

function unescapeDoc(s: string): string {
  return s.replace(/\\(['"\\])/g, '$1').trim();
}

/**
 * The descriptions and required fields of a model, read from client-node's generated declaration
 * file (the JSDoc there is Kubernetes' OpenAPI description). Empty when the file cannot be read.
 */
export function modelDocs(name: string): ModelDocs {
  const hit = docsCache.get(name);
  if (hit) return hit;
  const docs: ModelDocs = { fields: {}, required: [] };
  docsCache.set(name, docs);
  if (modelsDir === undefined) {
    try {
      const entry = createRequire(import.meta.url).resolve('@kubernetes/client-node');
      modelsDir = join(dirname(entry), 'gen', 'models');
    } catch {
      modelsDir = null;
    }
  }
  if (!modelsDir || !/^\w+$/.test(name)) return docs;
  let text: string;
  try {
    text = readFileSync(join(modelsDir, `${name}.d.ts`), 'utf8');
  } catch {
    return docs;
  }
  const at = text.indexOf('export declare class');
  if (at < 0) return docs;
  const clean = (c: string) =>
    unescapeDoc(
      c
        .split('\n')
        .map((l) => l.replace(/^\s*\*\s?/, ''))
        .join('\n'),
    );
  const head = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*$/.exec(text.slice(0, at));
  if (head) docs.description = clean(head[1] as string);
  const body = text.slice(at);
  for (const m of body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*'([^']+)'\??:/g))
    docs.fields[m[2] as string] = clean(m[1] as string);
  for (const m of body.matchAll(/^\s*'([^']+)'(\?)?:/gm)) if (!m[2]) docs.required.push(m[1] as string);
  return docs;
}
