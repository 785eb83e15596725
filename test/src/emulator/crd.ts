/**
 * CustomResourceDefinitions → served resource types. Reads apiextensions.k8s.io/v1 CRDs (YAML
 * files or objects): scope, served/storage versions (ordered by Kubernetes version priority),
 * `subresources.status`, per-version structural schema and printer columns.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { PrinterColumn, ResourceType } from './resources.js';
import type { StructuralSchema } from './schema.js';
import type { KubeObject } from './util.js';

/** Kubernetes version priority: GA > beta > alpha, higher numbers first; others alphabetical last. */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return { rank: 3, major: 0, minor: 0 };
    const rank = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return { rank, major: Number(m[1]), minor: Number(m[3] ?? 0) };
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa.rank !== pb.rank) return pa.rank - pb.rank;
  if (pa.rank === 3) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.major !== pb.major) return pb.major - pa.major;
  return pb.minor - pa.minor;
}

export function loadYamlObjects(file: string): KubeObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: KubeObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
    const o = d.toJS() as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      const obj = o as KubeObject;
      if (obj.kind === 'List' && Array.isArray(obj.items)) out.push(...obj.items);
      else out.push(obj);
    }
  }
  return out;
}

export function resourceTypeFromCrd(crd: KubeObject): ResourceType {
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  if (!spec.group || !names.plural || !names.kind) {
    throw new Error(
      `CustomResourceDefinition ${crd.metadata?.name}: spec.group, names.plural and names.kind are required`,
    );
  }
  // biome-ignore lint/suspicious/noExplicitAny: CRD versions are arbitrary JSON.
  const versions: any[] = (spec.versions ?? []).filter((v: any) => v.served !== false);
  if (versions.length === 0)
    throw new Error(`CustomResourceDefinition ${crd.metadata?.name}: no served version`);
  const storage =
    (spec.versions ?? []).find((v: { storage?: boolean }) => v.storage)?.name ?? versions[0].name;
  const sorted = versions.map((v) => v.name as string).sort(compareKubeVersions);
  const schemas = new Map<string, StructuralSchema | undefined>();
  const printerColumns = new Map<string, PrinterColumn[]>();
  let statusSubresource = false;
  for (const v of versions) {
    schemas.set(v.name, v.schema?.openAPIV3Schema ?? spec.validation?.openAPIV3Schema);
    printerColumns.set(v.name, v.additionalPrinterColumns ?? []);
    if (v.subresources?.status !== undefined || spec.subresources?.status !== undefined)
      statusSubresource = true;
  }
  return {
    group: spec.group,
    versions: sorted,
    storageVersion: storage,
    plural: names.plural,
    singular: names.singular ?? names.kind.toLowerCase(),
    kind: names.kind,
    listKind: names.listKind ?? `${names.kind}List`,
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    namespaced: spec.scope !== 'Cluster',
    statusSubresource,
    builtin: false,
    verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
    schemas,
    printerColumns,
    fieldLabels: {},
    crdName: crd.metadata?.name,
  };
}
