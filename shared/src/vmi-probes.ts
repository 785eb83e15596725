// Where a VMI's probes come from, in precedence order: the annotation `vmprobe.io/<kind>-probe`
// (JSON) over `spec.<kind>Probe`. KubeVirt's VMI spec has livenessProbe and readinessProbe only, so
// a startup probe can come only from its annotation. Never throws, whatever the object looks like.
import { probeAnnotation } from './names.js';
import { PROBE_KINDS, type ProbeKind } from './probe.js';
import { parseProbe, type ResolvedProbe } from './probe-defaults.js';
import type { ProbeProblem } from './probe-validation.js';

export type ProbeSourceKind = 'annotation' | 'spec';

/** The raw probe of one kind and where it was found, or why its annotation could not be read. */
export type VmiProbeSource =
  | { kind: ProbeKind; source: ProbeSourceKind; fieldPath: string; probe: unknown }
  | { kind: ProbeKind; source: 'annotation'; fieldPath: string; error: string; problem: ProbeProblem };

const SPEC_FIELD: Partial<Record<ProbeKind, string>> = {
  liveness: 'livenessProbe',
  readiness: 'readinessProbe',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function annotationFieldPath(kind: ProbeKind): string {
  return `metadata.annotations[${probeAnnotation(kind)}]`;
}

/** The probe source per kind that the VMI defines (kinds it does not define are absent). */
export function probesOfVmi(vmi: unknown): Partial<Record<ProbeKind, VmiProbeSource>> {
  const out: Partial<Record<ProbeKind, VmiProbeSource>> = {};
  const meta = isObject(vmi) && isObject(vmi.metadata) ? vmi.metadata : {};
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  const spec = isObject(vmi) && isObject(vmi.spec) ? vmi.spec : {};
  for (const kind of PROBE_KINDS) {
    const raw = annotations[probeAnnotation(kind)];
    if (raw !== undefined) {
      const fieldPath = annotationFieldPath(kind);
      const bad = (message: string): VmiProbeSource => ({
        kind,
        source: 'annotation',
        fieldPath,
        error: `${fieldPath}: ${message}`,
        problem: { path: fieldPath, message },
      });
      if (typeof raw !== 'string') {
        out[kind] = bad('must be a string of JSON');
        continue;
      }
      try {
        out[kind] = { kind, source: 'annotation', fieldPath, probe: JSON.parse(raw) as unknown };
      } catch (err) {
        out[kind] = bad(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      continue;
    }
    const field = SPEC_FIELD[kind];
    if (field !== undefined && spec[field] !== undefined && spec[field] !== null) {
      out[kind] = { kind, source: 'spec', fieldPath: `spec.${field}`, probe: spec[field] };
    }
  }
  return out;
}

/** A VMI's probe of one kind after validation and defaulting. */
export type VmiProbe = { kind: ProbeKind; source: ProbeSourceKind; fieldPath: string } & (
  | { ok: true; probe: ResolvedProbe }
  | { ok: false; problems: ProbeProblem[] }
);

/** probesOfVmi, then validate and default each; an unreadable annotation becomes one problem. */
export function resolveVmiProbes(vmi: unknown): Partial<Record<ProbeKind, VmiProbe>> {
  const out: Partial<Record<ProbeKind, VmiProbe>> = {};
  for (const [kind, src] of Object.entries(probesOfVmi(vmi)) as [ProbeKind, VmiProbeSource][]) {
    const base = { kind, source: src.source, fieldPath: src.fieldPath };
    if ('error' in src) {
      out[kind] = { ...base, ok: false, problems: [src.problem] };
      continue;
    }
    const parsed = parseProbe(src.probe, kind, src.fieldPath);
    out[kind] = parsed.ok
      ? { ...base, ok: true, probe: parsed.probe }
      : { ...base, ok: false, problems: parsed.problems };
  }
  return out;
}
