/**
 * Structural-schema pruning and validation for custom resources, after apiextensions-apiserver:
 * unknown fields are dropped silently (unless `x-kubernetes-preserve-unknown-fields`), then the
 * object is validated and every violation becomes a `StatusCause` with the real reason strings.
 * Only the OpenAPI v3 subset structural schemas use is supported (no oneOf/anyOf/allOf/not, no CEL).
 */
import type { StatusCause } from './errors.js';
import { deepEqual, isPlainObject } from './util.js';

export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: StructuralSchema | boolean;
  items?: StructuralSchema;
  required?: string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  nullable?: boolean;
  default?: unknown;
  description?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** Drops fields the schema does not declare, in place. Root apiVersion/kind/metadata are kept. */
export function prune(value: unknown, schema: StructuralSchema | undefined, isRoot = true): void {
  if (!schema) return;
  if (isPlainObject(value)) {
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = isRoot || schema['x-kubernetes-embedded-resource'] === true;
    const props = schema.properties;
    const addl = schema.additionalProperties;
    for (const key of Object.keys(value)) {
      if (embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
      const sub = props?.[key];
      if (sub) prune(value[key], sub, false);
      else if (isPlainObject(addl)) prune(value[key], addl, false);
      else if (!preserve && addl !== true) delete value[key];
    }
  } else if (Array.isArray(value) && schema.items) {
    for (const item of value) prune(item, schema.items, false);
  }
}

/** Applies `default`s of the schema where a field is absent (apiextensions does so on read and write). */
export function applyDefaults(value: unknown, schema: StructuralSchema | undefined): void {
  if (!schema) return;
  if (isPlainObject(value) && schema.properties) {
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (value[key] === undefined && sub.default !== undefined) value[key] = structuredClone(sub.default);
      if (value[key] !== undefined) applyDefaults(value[key], sub);
    }
  } else if (Array.isArray(value) && schema.items) {
    for (const item of value) applyDefaults(item, schema.items);
  }
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? 'null');
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Validates `value` against `schema`; returns causes (empty = valid). */
export function validate(value: unknown, schema: StructuralSchema | undefined, path = ''): StatusCause[] {
  const causes: StatusCause[] = [];
  if (schema) walk(value, schema, path, causes);
  return causes;
}

function walk(v: unknown, s: StructuralSchema, path: string, out: StatusCause[]): void {
  const field = path || '<root>';
  if (v === null) {
    if (!s.nullable && s.type)
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: "null": ${field} in body must be of type ${s.type}: "null"`,
        field,
      });
    return;
  }
  if (s['x-kubernetes-int-or-string']) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))))
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v)}: ${field} in body must be of type int-or-string: "${jsonType(v)}"`,
        field,
      });
    return;
  }
  const t = jsonType(v);
  if (s.type) {
    const ok = s.type === t || (s.type === 'number' && t === 'integer');
    if (!ok) {
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${t}": ${field} in body must be of type ${s.type}: "${t}"`,
        field,
      });
      return;
    }
  }
  if (s.enum && !s.enum.some((e) => deepEqual(e, v))) {
    out.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${show(v)}: supported values: ${s.enum.map(show).join(', ')}`,
      field,
    });
  }
  if (typeof v === 'string') {
    if (s.format === 'date-time' && !DATE_TIME.test(v))
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v)}: ${field} in body must be of type date-time: ${show(v)}`,
        field,
      });
    if (s.pattern && !new RegExp(s.pattern, 'u').test(v))
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v)}: ${field} in body should match '${s.pattern}'`,
        field,
      });
    if (s.maxLength !== undefined && v.length > s.maxLength)
      out.push({
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${s.maxLength} bytes`,
        field,
      });
    if (s.minLength !== undefined && v.length < s.minLength)
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(v)}: ${field} in body should be at least ${s.minLength} chars long`,
        field,
      });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum))
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${v}: ${field} in body should be greater than or equal to ${s.minimum}`,
        field,
      });
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum))
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${v}: ${field} in body should be less than or equal to ${s.maximum}`,
        field,
      });
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems)
      out.push({
        reason: 'FieldValueTooMany',
        message: `Too many: ${v.length}: must have at most ${s.maxItems} items`,
        field,
      });
    if (s.minItems !== undefined && v.length < s.minItems)
      out.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${v.length}: ${field} in body should have at least ${s.minItems} items`,
        field,
      });
    if (s.items) {
      const items = s.items;
      v.forEach((item, i) => {
        walk(item, items, `${path}[${i}]`, out);
      });
    }
    const listType = s['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const keys = s['x-kubernetes-list-map-keys'] ?? [];
      const seen: unknown[] = [];
      v.forEach((item, i) => {
        const k =
          listType === 'map' && isPlainObject(item)
            ? Object.fromEntries(keys.map((key) => [key, item[key]]))
            : item;
        if (seen.some((x) => deepEqual(x, k)))
          out.push({
            reason: 'FieldValueDuplicate',
            message: `Duplicate value: ${show(k)}`,
            field: `${path}[${i}]`,
          });
        seen.push(k);
      });
    }
  }
  if (isPlainObject(v)) {
    for (const r of s.required ?? []) {
      if (v[r] === undefined)
        out.push({
          reason: 'FieldValueRequired',
          message: 'Required value',
          field: path ? `${path}.${r}` : r,
        });
    }
    if (s.maxProperties !== undefined && Object.keys(v).length > s.maxProperties)
      out.push({
        reason: 'FieldValueTooMany',
        message: `Too many: must have at most ${s.maxProperties} items`,
        field,
      });
    for (const [k, child] of Object.entries(v)) {
      if (path === '' && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
      const sub =
        s.properties?.[k] ?? (isPlainObject(s.additionalProperties) ? s.additionalProperties : undefined);
      if (sub) walk(child, sub, path ? `${path}.${k}` : k, out);
    }
  }
}
