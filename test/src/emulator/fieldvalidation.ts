/**
 * Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`, what kubectl ≥ 1.27 sends
 * instead of validating client-side when the OpenAPI document lists the parameter): fields the
 * kind does not declare are an error (Strict → 400 BadRequest "strict decoding error: unknown field
 * …"), a `Warning: 299` header (Warn), or dropped silently (Ignore; custom resources are pruned
 * anyway). Built-in kinds are checked against their model (builtin-schemas.ts), custom resources
 * against their structural schema, their `metadata` against ObjectMeta.
 *
 * Checked on create and update bodies and on merge / strategic-merge patch bodies (the fields they
 * set); JSON patches are not checked. Duplicate JSON fields cannot be seen (JSON.parse keeps the last).
 */
import { modelNameFor, unknownBuiltinFields } from './builtin-schemas.js';
import { errors } from './errors.js';
import type { ResourceType } from './resources.js';
import type { StructuralSchema } from './schema.js';
import { isPlainObject } from './util.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function parseFieldValidation(v: string | null): FieldValidation {
  if (v === null || v === '' || v === 'Warn') return 'Warn';
  if (v === 'Strict' || v === 'Ignore') return v;
  throw errors.badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict" (got "${v}")`);
}

function unknownCustomFields(
  value: unknown,
  schema: StructuralSchema | undefined,
  path: string,
  root: boolean,
  out: string[],
): void {
  if (!schema) return;
  if (isPlainObject(value)) {
    if (schema['x-kubernetes-preserve-unknown-fields'] === true && !schema.properties) return;
    const embedded = root || schema['x-kubernetes-embedded-resource'] === true;
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$')) continue;
      const p = path ? `${path}.${k}` : k;
      if (embedded && (k === 'apiVersion' || k === 'kind')) continue;
      if (embedded && k === 'metadata') {
        unknownBuiltinFields(v, 'V1ObjectMeta', p, out);
        continue;
      }
      const sub = schema.properties?.[k];
      if (sub) unknownCustomFields(v, sub, p, false, out);
      else if (isPlainObject(schema.additionalProperties))
        unknownCustomFields(v, schema.additionalProperties, p, false, out);
      else if (
        schema.additionalProperties !== true &&
        schema['x-kubernetes-preserve-unknown-fields'] !== true
      )
        out.push(p);
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((x, i) => {
      unknownCustomFields(x, schema.items, `${path}[${i}]`, false, out);
    });
  }
}

/** Paths of the fields in `body` the kind (in `version`) does not declare. */
export function unknownFields(rt: ResourceType, version: string, body: unknown): string[] {
  if (!isPlainObject(body)) return [];
  if (!rt.builtin) {
    const out: string[] = [];
    unknownCustomFields(body, rt.schemas.get(version) ?? rt.schemas.get(rt.storageVersion), '', true, out);
    return out;
  }
  const model = modelNameFor(rt.group, version, rt.kind);
  return model ? unknownBuiltinFields(body, model) : [];
}

/**
 * Applies the directive: throws 400 for Strict, returns the Warning header values for Warn.
 */
export function checkFields(
  rt: ResourceType,
  version: string,
  body: unknown,
  directive: FieldValidation,
): string[] {
  if (directive === 'Ignore') return [];
  const unknown = unknownFields(rt, version, body);
  if (unknown.length === 0) return [];
  if (directive === 'Strict')
    throw errors.badRequest(
      `${rt.kind} in version "${version}" cannot be handled as a ${rt.kind}: strict decoding error: ${unknown
        .map((f) => `unknown field "${f}"`)
        .join(', ')}`,
    );
  return unknown.map((f) => `299 - "unknown field \\"${f}\\""`);
}
