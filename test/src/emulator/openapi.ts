/**
 * OpenAPI documents, as kube-apiserver serves them for kubectl: `/openapi/v3` (an index of
 * group-versions, each with a `serverRelativeURL` carrying the document's hash), `/openapi/v3/<gv>`
 * (paths + components.schemas of one group-version) and `/openapi/v2` (one Swagger 2.0 document, JSON).
 *
 * Schemas: built-in kinds from client-node's generated models (builtin-schemas.ts; descriptions and
 * required fields from its declaration files), with
 * `x-kubernetes-patch-merge-key` / `-patch-strategy` where k8s.io/api has them, so kubectl's
 * three-way strategic merge patch for `apply` matches what the server's patch.ts applies; custom
 * resources from their CRD's structural schema. Top-level kinds carry
 * `x-kubernetes-group-version-kind`; PATCH operations carry it too, list the accepted patch content
 * types (strategic merge only for built-ins) and the `fieldValidation` parameter, which is how
 * kubectl decides to let the server validate (server-side field validation) instead of validating
 * client-side.
 *
 * Documents are rebuilt when the set of served resource types changes (CRD created/updated/deleted).
 */
import { createHash } from 'node:crypto';
import {
  modelAttributes,
  modelDocs,
  modelNameFor,
  parseType,
  patchMeta,
  type TypeRef,
} from './builtin-schemas.js';
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.js';

type Schema = Record<string, unknown>;

const PATCH_CONTENT = [
  'application/apply-patch+yaml',
  'application/json-patch+json',
  'application/merge-patch+json',
];

function scalarSchema(type: string, format: string): Schema {
  switch (type) {
    case 'string':
      return format === 'byte' || format === 'date-time' ? { type: 'string', format } : { type: 'string' };
    case 'number':
      return format.startsWith('int')
        ? { type: 'integer', format }
        : { type: 'number', format: format || 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'date':
      return { type: 'string', format: 'date-time' };
    case 'int-or-string':
      return { type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true };
    case 'object':
      return { type: 'object' };
    default:
      return {};
  }
}

/** Collects the component schemas of one group-version document. */
class SchemaSet {
  readonly schemas: Record<string, Schema> = {};
  constructor(private readonly ref: (name: string) => string) {}

  typeSchema(t: TypeRef, format: string): Schema {
    switch (t.t) {
      case 'array':
        return { type: 'array', items: this.typeSchema(t.items, format) };
      case 'map':
        return { type: 'object', additionalProperties: this.typeSchema(t.values, format) };
      case 'model':
        this.addModel(t.name);
        return { $ref: this.ref(t.name) };
      default:
        return scalarSchema(t.type, format);
    }
  }

  addModel(name: string): void {
    if (this.schemas[name]) return;
    const docs = modelDocs(name);
    const s: Schema = {
      ...(docs.description ? { description: docs.description } : {}),
      type: 'object',
      properties: {},
      ...(docs.required.length ? { required: docs.required } : {}),
    };
    this.schemas[name] = s;
    const props = s.properties as Record<string, Schema>;
    for (const a of modelAttributes(name) ?? []) {
      let p = this.typeSchema(parseType(a.type), a.format);
      const description = docs.fields[a.baseName];
      // OpenAPI 3.0: siblings of $ref are ignored, so a described reference is wrapped in allOf (as kube-openapi does).
      if (description) p = p.$ref ? { description, allOf: [p] } : { description, ...p };
      const meta = patchMeta(name, a.baseName);
      if (meta) {
        p['x-kubernetes-patch-strategy'] = meta.strategy;
        if (meta.key) p['x-kubernetes-patch-merge-key'] = meta.key;
      }
      props[a.baseName] = p;
    }
  }

  addBuiltinKind(rt: ResourceType, version: string): string | undefined {
    const name = modelNameFor(rt.group, version, rt.kind);
    if (!name) return undefined;
    this.addModel(name);
    (this.schemas[name] as Schema)['x-kubernetes-group-version-kind'] = [
      { group: rt.group, kind: rt.kind, version },
    ];
    const listName = modelNameFor(rt.group, version, rt.listKind);
    if (listName) {
      this.addModel(listName);
      (this.schemas[listName] as Schema)['x-kubernetes-group-version-kind'] = [
        { group: rt.group, kind: rt.listKind, version },
      ];
    }
    return name;
  }

  /** A custom resource's schema: its structural schema with ObjectMeta for metadata. */
  addCustomKind(rt: ResourceType, version: string): string {
    const name = `${reverseDomain(rt.group)}.${version}.${rt.kind}`;
    this.addModel('V1ObjectMeta');
    const base = structuredClone(rt.schemas.get(version) ?? { type: 'object' }) as Schema;
    base.type ??= 'object';
    base.properties ??= {};
    const props = base.properties as Record<string, Schema>;
    props.apiVersion ??= { type: 'string' };
    props.kind ??= { type: 'string' };
    props.metadata = { $ref: this.ref('V1ObjectMeta') };
    base['x-kubernetes-group-version-kind'] = [{ group: rt.group, kind: rt.kind, version }];
    this.schemas[name] = base;
    this.addModel('V1ListMeta');
    this.schemas[`${name}List`] = {
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { $ref: this.ref('V1ListMeta') },
        items: { type: 'array', items: { $ref: this.ref(name) } },
      },
      'x-kubernetes-group-version-kind': [{ group: rt.group, kind: rt.listKind, version }],
    };
    return name;
  }
}

function reverseDomain(group: string): string {
  return group.split('.').reverse().join('.');
}

function param(name: string, where: 'query' | 'path', schema: Schema = { type: 'string' }) {
  return { name, in: where, ...(where === 'path' ? { required: true } : {}), schema, uniqueItems: true };
}

const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'].map((n) => param(n, 'query'));

/** Paths of one resource type in one version (v3 shape; converted for v2). */
function resourcePaths(
  rt: ResourceType,
  version: string,
  ref: string,
  listRef: string,
): Record<string, Schema> {
  const prefix = rt.group ? `/apis/${rt.group}/${version}` : `/api/${version}`;
  const base = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.plural}` : `${prefix}/${rt.plural}`;
  const gvk = { group: rt.group, version, kind: rt.kind };
  const nsParam = rt.namespaced ? [param('namespace', 'path')] : [];
  const json = (r: string) => ({
    content: { 'application/json': { schema: { $ref: r } }, 'application/yaml': { schema: { $ref: r } } },
  });
  const op = (action: string, extra: Schema = {}) => ({
    tags: [apiVersionOf(rt.group, version)],
    operationId: `${action}${rt.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    responses: { '200': { description: 'OK', ...json(ref) } },
    ...extra,
  });
  const paths: Record<string, Schema> = {};
  const canCreate = rt.verbs.includes('create');
  paths[base] = {
    parameters: [...nsParam, param('pretty', 'query')],
    ...(rt.verbs.includes('list')
      ? { get: op('list', { responses: { '200': { description: 'OK', ...json(listRef) } } }) }
      : {}),
    ...(canCreate ? { post: op('post', { requestBody: json(ref), parameters: WRITE_PARAMS }) } : {}),
  };
  if (!rt.verbs.includes('get')) return paths;
  const patchContent = [...PATCH_CONTENT, ...(rt.builtin ? ['application/strategic-merge-patch+json'] : [])];
  const item = (suffix: string) => ({
    parameters: [param('name', 'path'), ...nsParam, param('pretty', 'query')],
    get: op('get'),
    put: op('put', { requestBody: json(ref), parameters: WRITE_PARAMS }),
    patch: op('patch', {
      requestBody: {
        content: Object.fromEntries(patchContent.map((c) => [c, { schema: { type: 'object' } }])),
      },
      parameters: [...WRITE_PARAMS, param('force', 'query', { type: 'boolean' })],
    }),
    ...(suffix === '' ? { delete: op('delete') } : {}),
  });
  paths[`${base}/{name}`] = item('');
  if (rt.statusSubresource) paths[`${base}/{name}/status`] = item('/status');
  return paths;
}

/** Key of a group-version in the v3 index: `api/v1`, `apis/apps/v1`. */
export function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export class OpenApiDocuments {
  private signature: ResourceType[] = [];
  private v3 = new Map<string, { doc: Schema; json: string; hash: string }>();
  private v2?: string;

  constructor(private readonly registry: ResourceRegistry) {}

  private refresh(): void {
    const all = this.registry.all();
    if (all.length === this.signature.length && all.every((rt, i) => rt === this.signature[i])) return;
    this.signature = all;
    this.v3.clear();
    this.v2 = undefined;
    const byGv = new Map<string, ResourceType[]>();
    for (const rt of all)
      for (const v of rt.versions) {
        const k = gvPath(rt.group, v);
        byGv.set(k, [...(byGv.get(k) ?? []), rt]);
      }
    for (const [k, rts] of byGv) {
      const version = k.split('/').pop() as string;
      const doc = this.buildV3(rts, version);
      const json = JSON.stringify(doc);
      const hash = createHash('sha512').update(json).digest('hex').toUpperCase();
      this.v3.set(k, { doc, json, hash });
    }
  }

  private buildV3(rts: ResourceType[], version: string): Schema {
    const set = new SchemaSet((n) => `#/components/schemas/${n}`);
    const paths: Record<string, Schema> = {};
    for (const rt of [...rts].sort((a, b) => (a.plural < b.plural ? -1 : 1))) {
      const name = rt.builtin ? set.addBuiltinKind(rt, version) : set.addCustomKind(rt, version);
      if (!name) continue;
      const listName = rt.builtin ? (modelNameFor(rt.group, version, rt.listKind) ?? name) : `${name}List`;
      Object.assign(
        paths,
        resourcePaths(rt, version, `#/components/schemas/${name}`, `#/components/schemas/${listName}`),
      );
    }
    return {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: 'v1.30.0-vmprobe-emulator' },
      paths,
      components: { schemas: set.schemas },
    };
  }

  /** `/openapi/v3`: the index kubectl reads first. */
  index(): Schema {
    this.refresh();
    return {
      paths: Object.fromEntries(
        [...this.v3].map(([k, d]) => [k, { serverRelativeURL: `/openapi/v3/${k}?hash=${d.hash}` }]),
      ),
    };
  }

  /** `/openapi/v3/<gv>` as JSON text, or undefined when that group-version is not served. */
  groupVersion(path: string): string | undefined {
    this.refresh();
    return this.v3.get(path)?.json;
  }

  /** `/openapi/v2` as JSON text: every group-version's schemas as `definitions`, refs rewritten. */
  swagger(): string {
    this.refresh();
    if (this.v2) return this.v2;
    const definitions: Record<string, unknown> = {};
    const paths: Record<string, unknown> = {};
    for (const { doc } of this.v3.values()) {
      const rewritten = JSON.parse(
        JSON.stringify(doc).replaceAll('"#/components/schemas/', '"#/definitions/'),
      ) as Schema;
      Object.assign(definitions, (rewritten.components as Schema).schemas as Schema);
      for (const [p, item] of Object.entries(rewritten.paths as Record<string, Schema>)) {
        const out: Schema = {};
        for (const [m, o] of Object.entries(item)) {
          if (m === 'parameters') {
            out.parameters = (o as Schema[]).map(v2Param);
            continue;
          }
          const { requestBody, responses, parameters, ...rest } = o as Schema;
          const body = (requestBody as Schema | undefined)?.content as Record<string, Schema> | undefined;
          const resp = (responses as Record<string, Schema>)['200']?.content as
            | Record<string, Schema>
            | undefined;
          out[m] = {
            ...rest,
            consumes: body ? Object.keys(body) : ['*/*'],
            produces: ['application/json', 'application/yaml'],
            parameters: [
              ...((parameters as Schema[] | undefined) ?? []).map(v2Param),
              ...(body
                ? [{ name: 'body', in: 'body', required: true, schema: Object.values(body)[0]?.schema }]
                : []),
            ],
            responses: { '200': { description: 'OK', schema: resp?.['application/json']?.schema } },
          };
        }
        paths[p] = out;
      }
    }
    this.v2 = JSON.stringify({
      swagger: '2.0',
      info: { title: 'Kubernetes', version: 'v1.30.0-vmprobe-emulator' },
      paths,
      definitions,
    });
    return this.v2;
  }
}

function v2Param(p: Schema): Schema {
  const { schema, ...rest } = p;
  return { ...rest, ...(schema as Schema) };
}
