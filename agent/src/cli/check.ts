// `vmprobe check <file.yaml>...`: validates the probes of VMI manifests offline, with the agent's own
// rules (@vmprobe/shared resolveVmiProbes). Reads multi-document YAML (and `kind: List`), finds
// probes in VirtualMachineInstance, VirtualMachine and VirtualMachineInstanceReplicaSet templates
// (and VirtualMachinePool), prints `file:line: document N (Kind ns/name): field.path: message` per
// problem. Exit 0 when all probes are valid (warnings allowed), 1 when any is not, 2 when a file
// cannot be read or the usage is wrong. The command's registration is check-command.ts, which
// imports this module (and `yaml`) only when `vmprobe check` runs.
import { readFile } from 'node:fs/promises';
import {
  LABEL_KUBEVIRT,
  LAUNCHER_LABEL_VALUE,
  PROBE_KINDS,
  podHasReadinessGate,
  probesOfVmi,
  readinessNotEnforcedMessage,
  resolveVmiProbes,
} from '@vmprobe/shared';
import { type Document, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Scalar } from 'yaml';

export interface CheckMessage {
  severity: 'error' | 'warning';
  file: string;
  /** 1-based line of the field (or the closest enclosing one), when known. */
  line?: number;
  /** 1-based document index in the file. */
  document: number;
  /** "VirtualMachine default/web", when the document says. */
  object?: string;
  path: string;
  message: string;
}

export interface CheckReport {
  messages: CheckMessage[];
  vmis: number;
  probes: number;
}

/** Where the VMI template sits inside each kind that carries one. */
const TEMPLATE_PATH: Record<string, string[]> = {
  VirtualMachineInstance: [],
  VirtualMachine: ['spec', 'template'],
  VirtualMachineInstanceReplicaSet: ['spec', 'template'],
  VirtualMachinePool: ['spec', 'virtualMachineTemplate', 'spec', 'template'],
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `spec.template.metadata.annotations[vmprobe.io/x].a[0]` → ['spec','template',…,'vmprobe.io/x','a',0]. */
export function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) {
    const seg = m[1] ?? m[2] ?? '';
    out.push(/^\d+$/.test(seg) ? Number(seg) : seg);
  }
  return out;
}

/** The line of the deepest existing node on `segments`: a mapping's key line, a sequence item's line. */
function lineOf(doc: Document, segments: (string | number)[], lines: LineCounter): number | undefined {
  let node: unknown = doc.contents;
  let pos: number | undefined = (node as { range?: number[] } | null)?.range?.[0];
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      pos = (pair.key as Scalar).range?.[0] ?? pos;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as { range?: number[] } | undefined;
      if (!item) break;
      pos = item.range?.[0] ?? pos;
      node = item;
    } else break;
  }
  return pos === undefined ? undefined : lines.linePos(pos).line;
}

/** Checks one file's text; never throws. */
export function checkManifestText(text: string, file: string): CheckReport {
  const report: CheckReport = { messages: [], vmis: 0, probes: 0 };
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    report.messages.push({ severity: 'error', file, document: 1, path: '', message: 'not a YAML stream' });
  }
  const enrolment: Enrolment = { readinessVmis: new Set(), pods: [] };
  list.forEach((doc, i) => {
    const document = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        report.messages.push({
          severity: 'error',
          file,
          document,
          line: lines.linePos(e.pos[0]).line,
          path: '',
          message: `YAML syntax: ${e.message.split('\n', 1)[0]}`,
        });
      }
      return;
    }
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) return; // empty document
    const objects: { value: unknown; prefix: (string | number)[] }[] = [];
    if (isObject(obj) && obj.kind === 'List' && Array.isArray(obj.items)) {
      obj.items.forEach((item, j) => {
        objects.push({ value: item, prefix: ['items', j] });
      });
    } else objects.push({ value: obj, prefix: [] });
    for (const { value, prefix } of objects) {
      checkObject(value, prefix, doc, lines, file, document, report);
      collectEnrolment(value, prefix, doc, lines, document, enrolment);
    }
  });
  reportNotEnforced(enrolment, file, report);
  return report;
}

/** VMIs with a readiness probe and launcher pods seen in one file (e.g. `kubectl get vmi,pod -o yaml`). */
interface Enrolment {
  readinessVmis: Set<string>;
  pods: { vmi: string; pod: string; gated: boolean; document: number; line?: number }[];
}

function collectEnrolment(
  value: unknown,
  prefix: (string | number)[],
  doc: Document,
  lines: LineCounter,
  document: number,
  e: Enrolment,
): void {
  if (!isObject(value)) return;
  const meta = isObject(value.metadata) ? value.metadata : {};
  const ns = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  if (value.kind === 'VirtualMachineInstance') {
    if (probesOfVmi(value).readiness !== undefined) e.readinessVmis.add(`${ns}/${String(meta.name)}`);
    return;
  }
  if (value.kind !== 'Pod') return;
  const labels = isObject(meta.labels) ? meta.labels : {};
  if (labels[LABEL_KUBEVIRT] !== LAUNCHER_LABEL_VALUE) return;
  const phase = isObject(value.status) ? value.status.phase : undefined;
  if (meta.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed') return;
  const owner = (Array.isArray(meta.ownerReferences) ? meta.ownerReferences : []).find(
    (o: unknown) => isObject(o) && o.kind === 'VirtualMachineInstance',
  ) as { name?: string } | undefined;
  if (!owner?.name) return;
  e.pods.push({
    vmi: `${ns}/${owner.name}`,
    pod: String(meta.name),
    gated: podHasReadinessGate(value),
    document,
    line: lineOf(doc, [...prefix, 'spec'], lines),
  });
}

/** A warning per live launcher pod of a readiness VMI that lacks vmprobe's gate, with the remedy. */
function reportNotEnforced(e: Enrolment, file: string, report: CheckReport): void {
  for (const p of e.pods) {
    if (p.gated || !e.readinessVmis.has(p.vmi)) continue;
    report.messages.push({
      severity: 'warning',
      file,
      document: p.document,
      ...(p.line !== undefined ? { line: p.line } : {}),
      object: `Pod ${p.vmi.split('/')[0]}/${p.pod}`,
      path: 'spec.readinessGates',
      message: `readiness of VirtualMachineInstance ${p.vmi} is NOT ENFORCED: ${readinessNotEnforcedMessage(p.pod)}`,
    });
  }
}

function checkObject(
  value: unknown,
  prefix: (string | number)[],
  doc: Document,
  lines: LineCounter,
  file: string,
  document: number,
  report: CheckReport,
): void {
  if (!isObject(value) || typeof value.kind !== 'string') return;
  const templatePath = TEMPLATE_PATH[value.kind];
  if (!templatePath) return; // not a kind that carries a VMI
  const meta = isObject(value.metadata) ? value.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '<unnamed>';
  const object =
    typeof meta.namespace === 'string' ? `${value.kind} ${meta.namespace}/${name}` : `${value.kind} ${name}`;
  let vmi: unknown = value;
  for (const seg of templatePath) vmi = isObject(vmi) ? vmi[seg] : undefined;
  const base = [...prefix, ...templatePath];
  const fieldPrefix = base
    .map((s) => (typeof s === 'number' ? `[${s}]` : s))
    .join('.')
    .replace(/\.\[/g, '[');
  const full = (p: string) => (fieldPrefix === '' ? p : `${fieldPrefix}.${p}`);
  const push = (severity: CheckMessage['severity'], relPath: string, message: string) => {
    report.messages.push({
      severity,
      file,
      document,
      object,
      line: lineOf(doc, [...base, ...pathSegments(relPath)], lines),
      path: full(relPath),
      message,
    });
  };
  if (!isObject(vmi)) {
    push('error', '', `${value.kind} has no VMI template at ${fieldPrefix}`);
    return;
  }
  report.vmis++;
  const spec = isObject(vmi.spec) ? vmi.spec : {};
  if (spec.startupProbe !== undefined) {
    push(
      'warning',
      'spec.startupProbe',
      'ignored: KubeVirt has no spec.startupProbe (the API server prunes it); use the annotation vmprobe.io/startup-probe',
    );
  }
  const probes = resolveVmiProbes(vmi);
  for (const kind of PROBE_KINDS) {
    const p = probes[kind];
    if (!p) continue;
    report.probes++;
    if (!p.ok) {
      for (const problem of p.problems) push('error', problem.path, problem.message);
      continue;
    }
    const handler = p.probe.handler.type;
    if (handler === 'exec' || handler === 'guestAgentPing') {
      push(
        'warning',
        `${p.fieldPath}.${handler}`,
        `valid, but ${handler} probes need the guest agent: vmprobe runs them only where the agent has --guest-probes (the manifests/components/guest-probes component); elsewhere they are reported Unknown/UnsupportedProbe`,
      );
    }
  }
}

export function formatCheckMessage(m: CheckMessage): string {
  const where = m.line === undefined ? m.file : `${m.file}:${m.line}`;
  const what = m.object ? `document ${m.document} (${m.object})` : `document ${m.document}`;
  const field = m.path === '' ? '' : `${m.path}: `;
  return `${where}: ${m.severity}: ${what}: ${field}${m.message}`;
}

/** Runs the command over files; returns the exit code. */
export async function runCheck(
  files: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  let errors = 0;
  let warnings = 0;
  let vmis = 0;
  let probes = 0;
  let unreadable = false;
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (e) {
      err(
        `vmprobe check: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`,
      );
      unreadable = true;
      continue;
    }
    const r = checkManifestText(text, file === '-' ? '<stdin>' : file);
    for (const m of r.messages) {
      out(`${formatCheckMessage(m)}\n`);
      if (m.severity === 'error') errors++;
      else warnings++;
    }
    vmis += r.vmis;
    probes += r.probes;
  }
  if (unreadable) return 2;
  const summary = `${probes} probe${probes === 1 ? '' : 's'} in ${vmis} VMI${vmis === 1 ? '' : 's'} checked: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  out(
    `${summary}${vmis === 0 ? ' (no VirtualMachineInstance, VirtualMachine, VirtualMachineInstanceReplicaSet or VirtualMachinePool found)' : ''}\n`,
  );
  return errors > 0 ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
