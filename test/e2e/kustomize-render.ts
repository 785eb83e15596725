// A small kustomize renderer for the project's own manifests (kubectl is not installed here).
// Supports what manifests/ uses: resources (files and directories), components, patches (JSON 6902
// list or strategic-merge-like map, with `path` or inline `patch`, and a `target`), images
// (newName/newTag), configMapGenerator (files, literals, options.labels, disableNameSuffixHash).
// Anything else in a kustomization throws, so the test never silently ignores a field.
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
};

/** A rendered object and the file it came from (for messages). */
export interface Rendered {
  object: K8sObject;
  source: string;
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'patches',
  'images',
  'configMapGenerator',
]);

function kustomizationFile(dir: string): string {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    try {
      if (statSync(join(dir, name)).isFile()) return join(dir, name);
    } catch {
      // try the next name
    }
  }
  throw new Error(`no kustomization file in ${dir}`);
}

/** Every YAML document of a file, empty ones skipped; throws on a YAML error. */
export function loadYamlFile(file: string): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function asObject(v: unknown, where: string): K8sObject {
  const o = v as K8sObject;
  if (typeof o !== 'object' || o === null || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    throw new Error(`${where}: not a Kubernetes object (apiVersion and kind required)`);
  }
  if (typeof o.metadata?.name !== 'string') throw new Error(`${where}: ${o.kind} without metadata.name`);
  return o;
}

/** Renders the kustomization in `dir` (a Kustomization or, via `components`, a Component). */
export function renderKustomization(dir: string): Rendered[] {
  return render(resolve(dir), 'Kustomization');
}

function render(dir: string, expectKind: 'Kustomization' | 'Component'): Rendered[] {
  const file = kustomizationFile(dir);
  const k = loadYamlFile(file)[0] as Record<string, unknown>;
  if (k.kind !== expectKind) throw new Error(`${file}: kind ${String(k.kind)}, expected ${expectKind}`);
  for (const key of Object.keys(k))
    if (!KNOWN_FIELDS.has(key)) throw new Error(`${file}: unsupported field ${key}`);
  return apply(k, dir, file, []);
}

function apply(k: Record<string, unknown>, dir: string, file: string, inherited: Rendered[]): Rendered[] {
  let out = [...inherited];
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const path = join(dir, r);
    if (statSync(path).isDirectory()) out.push(...render(path, 'Kustomization'));
    else
      out.push(
        ...loadYamlFile(path).map((v, i) => ({ object: asObject(v, `${path} #${i + 1}`), source: path })),
      );
  }
  for (const g of (k.configMapGenerator as Record<string, unknown>[] | undefined) ?? []) {
    out.push({ object: generateConfigMap(g, dir, file), source: file });
  }
  for (const c of (k.components as string[] | undefined) ?? []) {
    const cdir = join(dir, c);
    const cfile = kustomizationFile(cdir);
    const ck = loadYamlFile(cfile)[0] as Record<string, unknown>;
    if (ck.kind !== 'Component') throw new Error(`${cfile}: kind ${String(ck.kind)}, expected Component`);
    for (const key of Object.keys(ck))
      if (!KNOWN_FIELDS.has(key)) throw new Error(`${cfile}: unsupported field ${key}`);
    out = apply(ck, cdir, cfile, out);
  }
  for (const p of (k.patches as Record<string, unknown>[] | undefined) ?? [])
    out = applyPatch(out, p, dir, file);
  for (const img of (k.images as Record<string, string>[] | undefined) ?? [])
    out = out.map((r) => ({ ...r, object: setImage(r.object, img) }));
  const seen = new Set<string>();
  for (const r of out) {
    const id = `${r.object.apiVersion}/${r.object.kind}/${r.object.metadata.namespace ?? ''}/${r.object.metadata.name}`;
    if (seen.has(id)) throw new Error(`${file}: ${id} defined twice`);
    seen.add(id);
  }
  return out;
}

function generateConfigMap(g: Record<string, unknown>, dir: string, file: string): K8sObject {
  const options = (g.options ?? {}) as { disableNameSuffixHash?: boolean; labels?: Record<string, string> };
  if (!options.disableNameSuffixHash)
    throw new Error(
      `${file}: configMapGenerator name hashes are not rendered here; set disableNameSuffixHash`,
    );
  const data: Record<string, string> = {};
  for (const f of (g.files as string[] | undefined) ?? []) {
    const [key, path] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [basename(f), f];
    data[key] = readFileSync(join(dir, path), 'utf8');
  }
  for (const l of (g.literals as string[] | undefined) ?? []) {
    const i = l.indexOf('=');
    data[l.slice(0, i)] = l.slice(i + 1);
  }
  const metadata: K8sObject['metadata'] = { name: g.name as string };
  if (g.namespace) metadata.namespace = g.namespace as string;
  if (options.labels) metadata.labels = { ...options.labels };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

function matches(o: K8sObject, target: Record<string, string>): boolean {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (
    (target.kind === undefined || target.kind === o.kind) &&
    (target.name === undefined || target.name === o.metadata.name) &&
    (target.namespace === undefined || target.namespace === o.metadata.namespace) &&
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version)
  );
}

function mergeObjects(base: unknown, patch: unknown): unknown {
  if (
    typeof base !== 'object' ||
    base === null ||
    Array.isArray(base) ||
    typeof patch !== 'object' ||
    patch === null ||
    Array.isArray(patch)
  ) {
    return patch;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, v] of Object.entries(patch)) {
    if (v === null) delete out[key];
    else out[key] = mergeObjects(out[key], v);
  }
  return out;
}

function applyPatch(objects: Rendered[], p: Record<string, unknown>, dir: string, file: string): Rendered[] {
  const body: unknown = p.path
    ? loadYamlFile(join(dir, p.path as string))[0]
    : (parseAllDocuments(p.patch as string)[0]?.toJS() as unknown);
  const target = p.target as Record<string, string> | undefined;
  let hits = 0;
  const out = objects.map((r) => {
    if (Array.isArray(body)) {
      if (!target || !matches(r.object, target)) return r;
      hits++;
      const copy = structuredClone(r.object);
      const result = fastJsonPatch.applyPatch(copy, body as Operation[], true, true);
      return { ...r, object: result.newDocument as K8sObject };
    }
    const patchObj = asObject(body, `${file} patch`);
    const t = target ?? { kind: patchObj.kind, name: patchObj.metadata.name };
    if (!matches(r.object, t)) return r;
    hits++;
    return { ...r, object: mergeObjects(r.object, patchObj) as K8sObject };
  });
  if (hits === 0) throw new Error(`${file}: patch ${String(p.path ?? 'inline')} matched no object`);
  return out;
}

function setImage(o: K8sObject, img: Record<string, string>): K8sObject {
  const spec = (o.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  if (!spec) return o;
  const copy = structuredClone(o);
  const podSpec = (copy.spec as { template: { spec: Record<string, { image: string }[] | undefined> } })
    .template.spec;
  for (const list of [podSpec.containers, podSpec.initContainers]) {
    for (const c of list ?? []) {
      // The name is everything before a digest, or before a tag (a ':' after the last '/').
      const noDigest = c.image.split('@', 1)[0]!;
      const colon = noDigest.lastIndexOf(':');
      const name = colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
      if (name !== img.name) continue;
      const tag = img.digest
        ? `@${img.digest}`
        : img.newTag
          ? `:${img.newTag}`
          : c.image.slice(name.length) || '';
      c.image = `${img.newName ?? name}${tag}`;
    }
  }
  return copy;
}

export const MANIFESTS_DIR = resolve(dirname(new URL(import.meta.url).pathname), '../../manifests');
