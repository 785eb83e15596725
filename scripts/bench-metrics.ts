// Measures the metrics hot path and the scrape at 1,000 VMIs × 2 probes. Prints numbers; asserts nothing.
// Run: npx tsx scripts/bench-metrics.ts
import { AgentMetrics } from '../agent/src/metrics/index.js';
import type { ProbeIdentity } from '../agent/src/observer.js';
import type { ProbeOutcome } from '../agent/src/probers/types.js';

const m = new AgentMetrics({ node: 'bench', version: '0.0.0' });
const ids: ProbeIdentity[] = [];
for (let i = 0; i < 1000; i++) {
  ids.push({ namespace: `ns-${i % 20}`, vmi: `vm-${i}`, probe: 'liveness', handler: 'http' });
  ids.push({ namespace: `ns-${i % 20}`, vmi: `vm-${i}`, probe: 'readiness', handler: 'tcp' });
}
const ok: ProbeOutcome = {
  result: 'success',
  reason: 'ProbeSucceeded',
  message: '',
  timings: { startedAt: 0, durationMs: 2 },
};
for (const id of ids) m.probeState(id, 'success', 'ProbeSucceeded');

const rounds = 500;
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) for (const id of ids) m.probeResult(id, ok, 'success', 1);
const ns = Number(process.hrtime.bigint() - t0) / (rounds * ids.length);
console.log(`probeResult: ${ns.toFixed(0)} ns per call (${rounds * ids.length} calls)`);

const s0 = process.hrtime.bigint();
let body = '';
for (let i = 0; i < 10; i++) body = (await m.expose()).body;
const scrapeMs = Number(process.hrtime.bigint() - s0) / 10 / 1e6;
const lines = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
console.log(`scrape: ${scrapeMs.toFixed(1)} ms, ${lines} samples, ${(body.length / 1024).toFixed(0)} KiB`);
