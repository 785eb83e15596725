import { spawnSync } from 'node:child_process';
import { register as globalRegister } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../src/metrics/index.js';
import type { ProbeIdentity } from '../src/observer.js';
import type { ProbeOutcome, ProbeResult } from '../src/probers/types.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool) console.log('promtool not found (apt-get install prometheus): skipping promtool checks');

function outcome(result: ProbeResult, durationMs: number): ProbeOutcome {
  return { result, reason: 'ProbeSucceeded', message: '', timings: { startedAt: 0, durationMs } };
}

/** Parses the text exposition into `name{labels}` → value; throws on a line it does not understand. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels = m[2]
      ? m[2]
          .slice(1, -1)
          .split(/,(?=[a-zA-Z_]+=")/)
          .sort()
          .join(',')
      : '';
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

function key(name: string, labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return `${name}{${parts.join(',')}}`;
}

const web: ProbeIdentity = { namespace: 'default', vmi: 'web-1', probe: 'readiness', handler: 'http' };

describe('AgentMetrics', () => {
  it('counts results, seconds and state per probe, and lag and durations node-wide', async () => {
    const m = new AgentMetrics({ node: 'node-a', version: '1.2.3', processMetrics: false });
    m.probeState(web, 'unknown', 'Initializing');
    m.probeResult(web, outcome('success', 20), 'success', 3);
    m.probeResult(web, outcome('success', 30), 'success', -1);
    m.probeResult({ ...web }, outcome('failure', 1000), 'success', 0); // a fresh identity object, same probe
    m.probeState(web, 'success', 'ProbeSucceeded');
    const s = parse((await m.expose()).body);
    const base = { namespace: 'default', vmi: 'web-1', probe: 'readiness' };
    expect(s.get(key('vmprobe_probe_results_total', { ...base, kind: 'http', result: 'success' }))).toBe(2);
    expect(s.get(key('vmprobe_probe_results_total', { ...base, kind: 'http', result: 'failure' }))).toBe(1);
    expect(s.get(key('vmprobe_probe_results_total', { ...base, kind: 'http', result: 'unknown' }))).toBe(0);
    expect(s.get(key('vmprobe_probe_seconds_total', { ...base, kind: 'http' }))).toBeCloseTo(1.05);
    expect(s.get(key('vmprobe_probe_status', { ...base, status: 'success' }))).toBe(1);
    expect(s.get(key('vmprobe_probe_status', { ...base, status: 'failure' }))).toBe(0);
    expect(s.get(key('vmprobe_probe_status', { ...base, status: 'unknown' }))).toBe(0);
    const dur = { probe: 'readiness', kind: 'http' };
    expect(s.get(key('vmprobe_probe_duration_seconds_bucket', { ...dur, le: '0.05' }))).toBe(2);
    expect(s.get(key('vmprobe_probe_duration_seconds_bucket', { ...dur, le: '1' }))).toBe(3);
    expect(s.get(key('vmprobe_probe_duration_seconds_bucket', { ...dur, le: '+Inf' }))).toBe(3);
    expect(s.get(key('vmprobe_probe_duration_seconds_count', dur))).toBe(3);
    expect(s.get(key('vmprobe_probe_schedule_lag_seconds_bucket', { le: '0.001' }))).toBe(2); // negative lag counts as 0
    expect(s.get(key('vmprobe_probe_schedule_lag_seconds_bucket', { le: '0.005' }))).toBe(3);
    expect(s.get(key('vmprobe_build_info', { version: '1.2.3', node: 'node-a' }))).toBe(1);
  });

  it('exports API, reporter, watch and kill counters', async () => {
    const m = new AgentMetrics({ node: 'n', version: 'v', processMetrics: false });
    m.apiRequest('patch', 'vmiprobestatuses', 409, 0.02);
    m.apiRequest('list', 'pods', 0, 0.5);
    m.reporterWrite('pod', 'conflict');
    m.watchRestart('virtualmachineinstances', 'gone');
    m.kill('default', 'web-1', 'stop-launcher', 'held_back', 'budget');
    const s = parse((await m.expose()).body);
    const api = { verb: 'patch', resource: 'vmiprobestatuses', code: '409' };
    expect(s.get(key('vmprobe_api_request_duration_seconds_count', api))).toBe(1);
    expect(
      s.get(key('vmprobe_api_request_duration_seconds_count', { verb: 'list', resource: 'pods', code: '0' })),
    ).toBe(1);
    expect(s.get(key('vmprobe_reporter_writes_total', { target: 'pod', result: 'conflict' }))).toBe(1);
    expect(s.get(key('vmprobe_reporter_writes_total', { target: 'event', result: 'error' }))).toBe(0);
    expect(
      s.get(key('vmprobe_watch_restarts_total', { resource: 'virtualmachineinstances', reason: 'gone' })),
    ).toBe(1);
    expect(
      s.get(key('vmprobe_liveness_kills_total', { action: 'stop-launcher', outcome: 'held_back' })),
    ).toBe(1);
  });

  it('deletes every series of a probe on probeRemoved, and a later result starts it afresh', async () => {
    const m = new AgentMetrics({ node: 'n', version: 'v', processMetrics: false });
    const live: ProbeIdentity = { ...web, probe: 'liveness', handler: 'tcp' };
    m.probeResult(web, outcome('success', 5), 'success', 0);
    m.probeResult(live, outcome('failure', 5), 'failure', 0);
    m.probeRemoved({ namespace: 'default', vmi: 'web-1', probe: 'readiness' });
    m.probeRemoved({ namespace: 'default', vmi: 'gone', probe: 'readiness' }); // unknown: no-op
    let body = (await m.expose()).body;
    expect(body).not.toMatch(/vmi="web-1",probe="readiness"/);
    expect(body).toMatch(/vmi="web-1",probe="liveness"/);
    expect(body).toMatch(/vmprobe_probe_results_total\{[^}]*probe="liveness"[^}]*result="failure"\} 1/);
    expect(m.probeCount).toBe(1);
    m.probeResult(web, outcome('success', 5), 'success', 0); // same identity object as before removal
    body = (await m.expose()).body;
    expect(
      parse(body).get(
        key('vmprobe_probe_results_total', { ...baseOf(web), kind: 'http', result: 'success' }),
      ),
    ).toBe(1);
  });

  it('moves a probe to its new handler label and restarts its counters', async () => {
    const m = new AgentMetrics({ node: 'n', version: 'v', processMetrics: false });
    m.probeResult(web, outcome('success', 5), 'success', 0);
    m.probeResult({ ...web, handler: 'tcp' }, outcome('success', 5), 'success', 0);
    const s = parse((await m.expose()).body);
    expect(
      s.get(key('vmprobe_probe_results_total', { ...baseOf(web), kind: 'tcp', result: 'success' })),
    ).toBe(1);
    expect(
      s.has(key('vmprobe_probe_results_total', { ...baseOf(web), kind: 'http', result: 'success' })),
    ).toBe(false);
  });

  it('escapes label values and keeps the global registry untouched', async () => {
    const m = new AgentMetrics({ node: 'n"\\', version: 'v', processMetrics: false });
    const body = (await m.expose()).body;
    expect(body).toContain('node="n\\"\\\\"');
    expect(await globalRegister.metrics()).not.toContain('vmprobe_');
  });

  it('includes process metrics with the vmprobe_ prefix', async () => {
    const m = new AgentMetrics({ node: 'n', version: 'v' });
    const { body, contentType } = await m.expose();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(body).toMatch(/^vmprobe_process_cpu_seconds_total /m);
    expect(body).toMatch(/^vmprobe_nodejs_eventloop_lag_seconds /m);
    expect(body).not.toMatch(/^vmprobe_nodejs_active_handles_total/m);
  });

  it.skipIf(!hasPromtool)('passes promtool check metrics', async () => {
    const m = new AgentMetrics({ node: 'node-a', version: '0.1.0' });
    for (let i = 0; i < 3; i++) {
      const id: ProbeIdentity = { namespace: 'ns', vmi: `vm-${i}`, probe: 'liveness', handler: 'icmp' };
      m.probeState(id, 'success', 'ProbeSucceeded');
      m.probeResult(id, outcome('success', 1), 'success', 1);
    }
    m.apiRequest('get', 'pods', 200, 0.01);
    m.reporterWrite('probestatus', 'ok');
    m.watchRestart('pods', 'error');
    m.kill('ns', 'vm-0', 'stop-launcher', 'done', 'failed');
    const { body } = await m.expose();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});

function baseOf(id: ProbeIdentity) {
  return { namespace: id.namespace, vmi: id.vmi, probe: id.probe };
}
