// Prometheus text exposition (format 0.0.4) for the families the agent writes itself: the per-probe
// ones, which are too many for prom-client's per-sample formatting to stay cheap at 2,000 probes.

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** A sample value as Prometheus writes it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/** `# HELP` and `# TYPE` lines of one family. */
export function familyHeader(name: string, help: string, type: 'counter' | 'gauge' | 'histogram'): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

/** A fixed-bucket histogram: observe() is a short scan over the bounds and three number writes. */
export class FixedHistogram {
  /** counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is (last bound, +Inf). */
  private readonly counts: Float64Array;
  private readonly leLabels: string[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
    this.leLabels = [...bounds.map((b) => formatValue(b)), '+Inf'];
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  /** `_bucket` (cumulative), `_sum` and `_count` lines; `labels` is pre-rendered (`a="x",b="y"` or ''). */
  write(name: string, labels: string): string {
    const sep = labels === '' ? '' : ',';
    let out = '';
    let cumulative = 0;
    for (let i = 0; i < this.counts.length; i++) {
      cumulative += this.counts[i]!;
      out += `${name}_bucket{${labels}${sep}le="${this.leLabels[i]}"} ${cumulative}\n`;
    }
    const braces = labels === '' ? '' : `{${labels}}`;
    out += `${name}_sum${braces} ${formatValue(this.sum)}\n${name}_count${braces} ${this.count}\n`;
    return out;
  }
}
