/**
 * Label selectors (equality- and set-based, as `labels.Parse`) and field selectors (`=`, `==`, `!=`,
 * as `fields.ParseSelector`). Parse errors are ApiError 400 BadRequest.
 */
import { errors } from './errors.js';

export type LabelRequirement =
  | { op: 'exists' | '!'; key: string }
  | { op: '=' | '!='; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: Set<string> };

export type LabelSelector = LabelRequirement[];

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function bad(msg: string): never {
  throw errors.badRequest(`unable to parse requirement: ${msg}`);
}

function checkKey(k: string): string {
  if (!KEY.test(k))
    bad(`invalid label key "${k}": name part must consist of alphanumeric characters, '-', '_' or '.'`);
  return k;
}
function checkValue(v: string): string {
  if (v.length > 63 || !VALUE.test(v)) bad(`invalid label value: "${v}"`);
  return v;
}

export function parseLabelSelector(raw: string | undefined | null): LabelSelector {
  if (!raw) return [];
  const out: LabelSelector = [];
  for (const part of splitTopLevel(raw)) {
    let m = /^!\s*(\S+)$/.exec(part);
    if (m) {
      out.push({ op: '!', key: checkKey(m[1] as string) });
      continue;
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = new Set(
        (m[3] as string)
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
          .map(checkValue),
      );
      if (values.size === 0) bad(`for 'in', 'notin' operators, values set can't be empty`);
      out.push({ op: m[2] as 'in' | 'notin', key: checkKey(m[1] as string), values });
      continue;
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (m) {
      out.push({
        op: m[2] === '!=' ? '!=' : '=',
        key: checkKey(m[1] as string),
        value: checkValue(m[3] as string),
      });
      continue;
    }
    m = /^(\S+)$/.exec(part);
    if (m) {
      out.push({ op: 'exists', key: checkKey(m[1] as string) });
      continue;
    }
    bad(`found '${part}', expected: identifier, '!', 'in', 'notin', '=', '==', '!='`);
  }
  return out;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of sel) {
    const v = labels?.[r.key];
    switch (r.op) {
      case 'exists':
        if (v === undefined) return false;
        break;
      case '!':
        if (v !== undefined) return false;
        break;
      case '=':
        if (v !== r.value) return false;
        break;
      case '!=':
        if (v === r.value) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.has(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.has(v)) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}
export type FieldSelector = FieldRequirement[];

function unescapeField(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(raw: string | undefined | null): FieldSelector {
  if (!raw) return [];
  const out: FieldSelector = [];
  for (const part of raw.split(/(?<!\\),/)) {
    if (part.trim() === '') continue;
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part.trim());
    if (!m) throw errors.badRequest(`invalid selector: '${raw}'; can't understand '${part}'`);
    out.push({
      field: (m[1] as string).trim(),
      op: m[2] === '!=' ? '!=' : '=',
      value: unescapeField(m[3] as string),
    });
  }
  return out;
}

export type FieldAccessor = (o: Record<string, unknown>) => string | undefined;

/** Rejects fields the resource does not index, with the real server's message. */
export function checkFieldSelector(sel: FieldSelector, accessors: Record<string, FieldAccessor>): void {
  for (const r of sel) {
    if (r.field === 'metadata.name' || r.field === 'metadata.namespace') continue;
    if (!accessors[r.field]) throw errors.badRequest(`field label not supported: ${r.field}`);
  }
}

export function matchFields(
  sel: FieldSelector,
  obj: Record<string, unknown>,
  accessors: Record<string, FieldAccessor>,
): boolean {
  // biome-ignore lint/suspicious/noExplicitAny: metadata is arbitrary JSON.
  const md = (obj.metadata ?? {}) as any;
  for (const r of sel) {
    let v: string | undefined;
    if (r.field === 'metadata.name') v = md.name ?? '';
    else if (r.field === 'metadata.namespace') v = md.namespace ?? '';
    else v = accessors[r.field]?.(obj) ?? '';
    if ((r.op === '=') !== (v === r.value)) return false;
  }
  return true;
}
