/**
 * The three patch formats the apiserver accepts besides apply: JSON merge patch (RFC 7386), JSON
 * patch (RFC 6902, `test` included) and strategic merge patch for built-in kinds, which merges
 * lists by their patch merge key (pod `status.conditions` by `type`, containers by `name`, …) and
 * honours the `$patch`, `$deleteFromPrimitiveList/…`, `$setElementOrder/…` and `$retainKeys` directives.
 * All functions return a new object and never mutate their inputs.
 */
import fjp from 'fast-json-patch';
import { listStrategyAt, modelNameFor } from './builtin-schemas.js';
import { ApiError, errors } from './errors.js';
import { clone, isPlainObject, type KubeObject } from './util.js';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

export function jsonPatch(target: KubeObject, ops: unknown): KubeObject {
  if (!Array.isArray(ops))
    throw errors.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  try {
    return fjp.applyPatch(clone(target), ops as fjp.Operation[], true, true).newDocument as KubeObject;
  } catch (e) {
    const err = e as { name?: string; message?: string };
    if (err.name === 'TEST_OPERATION_FAILED') {
      throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request`, {
        causes: [{ reason: 'FieldValueInvalid', message: 'testing value failed' }],
      });
    }
    if (err.name === 'OPERATION_PATH_UNRESOLVABLE' || err.name === 'OPERATION_PATH_CANNOT_ADD') {
      throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request`, {
        causes: [{ reason: 'FieldValueInvalid', message: String(err.message).split('\n')[0] ?? '' }],
      });
    }
    throw errors.badRequest(`invalid JSON patch: ${String(err.message).split('\n')[0]}`);
  }
}

interface ListStrategy {
  /** Patch merge key for lists of maps; undefined = merge of a primitive list (union). */
  key?: string;
}

/**
 * Patch merge keys of the built-in kinds served, from the kind's model tree and the k8s.io/api
 * struct tags (builtin-schemas.ts) — the same metadata the served OpenAPI documents carry, so the
 * patches kubectl computes from them merge here as they would on kube-apiserver.
 */
function strategyFor(model: string | undefined, path: string): ListStrategy | undefined {
  if (!model) return undefined;
  const meta = listStrategyAt(model, path);
  if (!meta?.strategy.split(',').includes('merge')) return undefined;
  return meta.key === undefined ? {} : { key: meta.key };
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v))
    return v
      .filter((x) => !(isPlainObject(x) && x.$patch !== undefined && Object.keys(x).length === 1))
      .map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

function badSmp(msg: string): never {
  throw errors.badRequest(msg);
}

function mergeMap(
  orig: Record<string, unknown> | undefined,
  patch: Record<string, unknown>,
  model: string,
  path: string,
): Record<string, unknown> | undefined {
  const directive = patch.$patch;
  if (directive === 'replace') return stripDirectives(patch) as Record<string, unknown>;
  if (directive === 'delete') return undefined;
  if (directive !== undefined && directive !== 'merge') badSmp(`Unknown patch type: ${String(directive)}`);
  let result: Record<string, unknown> = { ...(orig ?? {}) };
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    result = Object.fromEntries(Object.entries(result).filter(([k]) => keep.has(k)));
  }
  for (const [key, val] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const cur = result[field];
      if (Array.isArray(cur) && Array.isArray(val)) result[field] = cur.filter((x) => !val.includes(x));
      continue;
    }
    const sub = path ? `${path}.${key}` : key;
    if (val === null) delete result[key];
    else if (isPlainObject(val)) {
      const o = result[key];
      const merged = mergeMap(isPlainObject(o) ? o : undefined, val, model, sub);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(val)) {
      const strat = strategyFor(model, sub);
      result[key] = strat ? mergeList(result[key], val, strat, model, sub) : stripDirectives(val);
    } else result[key] = val;
  }
  return result;
}

function mergeList(
  orig: unknown,
  patch: unknown[],
  strat: ListStrategy,
  model: string,
  path: string,
): unknown[] {
  if (patch.some((x) => isPlainObject(x) && x.$patch === 'replace'))
    return stripDirectives(patch) as unknown[];
  const base = Array.isArray(orig) ? [...orig] : [];
  if (strat.key === undefined) {
    for (const item of patch) if (!base.includes(item)) base.push(item);
    return base;
  }
  const key = strat.key;
  for (const item of patch) {
    if (!isPlainObject(item)) badSmp(`cannot merge list ${path}: element is not an object`);
    if (item[key] === undefined) {
      if (item.$patch !== undefined) continue;
      badSmp(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    }
    const idx = base.findIndex((x) => isPlainObject(x) && x[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) base.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = mergeMap(base[idx] as Record<string, unknown>, item, model, path);
      if (merged === undefined) base.splice(idx, 1);
      else base[idx] = merged;
    } else base.push(stripDirectives(item));
  }
  return base;
}

export function strategicMergePatch(target: KubeObject, patch: unknown, kind: string): KubeObject {
  if (!isPlainObject(patch))
    badSmp('json: cannot unmarshal array into Go value of type map[string]interface {}');
  const apiVersion = String(target.apiVersion ?? 'v1');
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
  const model = modelNameFor(group as string, version as string, kind);
  return (mergeMap(target, patch, model ?? '', '') ?? {}) as KubeObject;
}
