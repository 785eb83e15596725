// Spawns the built CLI (agent/bin/vmprobe.js → agent/bundle, built by `npm test` / `npm run build`) against a real agent HTTP server.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAge, formatProbeTable } from '../src/cli/status-command.js';
import { AgentHttpServer } from '../src/http/index.js';
import type { ProbeSnapshot } from '../src/snapshot.js';

const CLI = fileURLToPath(new URL('../bin/vmprobe.js', import.meta.url));

function vmprobe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

const now = Date.now();
function snap(over: Partial<ProbeSnapshot>): ProbeSnapshot {
  return {
    namespace: 'default',
    vmi: 'vmi-fedora',
    uid: 'u1',
    probe: 'liveness',
    handler: 'http',
    target: '10.244.1.7:1500',
    state: 'success',
    reason: 'ProbeSucceeded',
    message: 'HTTP 200',
    consecutiveSuccesses: 12,
    consecutiveFailures: 0,
    periodSeconds: 20,
    lastProbeTime: new Date(now - 200_000).toISOString(), // 3m for the next 40 s
    lastTransitionTime: new Date(now - 2 * 3600_000).toISOString(), // 2h
    suspended: false,
    ...over,
  };
}
const probes: ProbeSnapshot[] = [
  snap({
    vmi: 'vmi-tcp',
    probe: 'readiness',
    handler: 'tcp',
    target: null,
    state: 'unknown',
    reason: 'NoTargetAddress',
    lastProbeTime: null,
    consecutiveSuccesses: 0,
  }),
  snap({}),
  snap({
    namespace: 'apps',
    vmi: 'db',
    probe: 'readiness',
    state: 'failure',
    reason: 'ProbeTimeout',
    consecutiveFailures: 4,
    consecutiveSuccesses: 0,
    suspended: true,
  }),
];

describe('vmprobe status', () => {
  let server: AgentHttpServer;
  let url = '';
  beforeAll(async () => {
    server = new AgentHttpServer({
      listen: '127.0.0.1:0',
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      probes: () => probes,
    });
    url = (await server.start()).url;
  });
  afterAll(() => server.stop());

  it('prints one sorted row per probe', async () => {
    const r = await vmprobe('status', '--agent', url);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAMESPACE\s+VMI\s+PROBE\s+HANDLER\s+TARGET\s+STATE\s+REASON\s+SUCCESSES\s+FAILURES\s+LAST-PROBE\s+SINCE$/,
    );
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(
      /^apps\s+db\s+readiness\s+http\s+10\.244\.1\.7:1500\s+failure \(suspended\)\s+ProbeTimeout\s+0\s+4\s+3m\s+2h$/,
    );
    expect(lines[2]).toMatch(
      /^default\s+vmi-fedora\s+liveness\s+http\s+\S+\s+success\s+ProbeSucceeded\s+12\s+0\s+3m\s+2h$/,
    );
    expect(lines[3]).toMatch(
      /^default\s+vmi-tcp\s+readiness\s+tcp\s+<none>\s+unknown\s+NoTargetAddress\s+0\s+0\s+-\s+2h$/,
    );
  });

  it('prints the JSON with --json', async () => {
    const r = await vmprobe('status', '--agent', url, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(probes);
  });

  it('exits 1 with a clear message when the agent is unreachable', async () => {
    const closed = new AgentHttpServer({
      listen: '127.0.0.1:0',
      metrics: async () => ({ contentType: 'x', body: '' }),
      probes: () => [],
    });
    const port = (await closed.start()).port;
    await closed.stop();
    const r = await vmprobe('status', '--agent', `http://127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`cannot reach the vmprobe agent at http://127.0.0.1:${port}: ECONNREFUSED`);
    expect(r.stderr).toContain('--agent URL');
  });

  it('exits 2 on a bad --agent', async () => {
    const r = await vmprobe('status', '--agent', 'ftp://x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--agent must be an http(s) URL');
  });

  it('formats ages like kubectl', () => {
    expect([
      formatAge(-5),
      formatAge(59_999),
      formatAge(150_000),
      formatAge(3 * 3600_000),
      formatAge(3 * 86400_000),
    ]).toEqual(['0s', '59s', '2m', '3h', '3d']);
    expect(formatProbeTable([snap({ message: 'a\nb' })], now, true).split('\n')[1]).toMatch(/a b$/);
  });
});

describe('vmprobe check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-check-'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('accepts the seed VMIs', async () => {
    const seed = fileURLToPath(new URL('../../test/fixtures/seed/', import.meta.url));
    const r = await vmprobe(
      'check',
      join(seed, 'vmi-http-liveness.yaml'),
      join(seed, 'vmi-readiness.yaml'),
      join(seed, 'vmi-tcp-liveness.yaml'),
    );
    expect(r.stdout).toBe('3 probes in 3 VMIs checked: 0 errors, 0 warnings\n');
    expect(r.code).toBe(0);
  });

  it('reports every problem with file, line, document, object and field path; exit 1', async () => {
    const p = file(
      'bad.yaml',
      `apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  namespace: apps
spec:
  template:
    metadata:
      annotations:
        vmprobe.io/startup-probe: '{"tcpSocket": {"port": 22}, "periodSeconds": "x"'
    spec:
      livenessProbe:
        httpGet:
          port: 70000
        successThreshold: 2
      readinessProbe:
        guestAgentPing: {}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata: {name: rs}
spec:
  template:
    spec:
      readinessProbe:
        tcpSocket: {port: 22}
        exec: {command: ["true"]}
`,
    );
    const r = await vmprobe('check', p);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toContain(
      `${p}:18: error: document 2 (VirtualMachine apps/web): spec.template.spec.livenessProbe.httpGet.port: must be between 1 and 65535`,
    );
    expect(lines).toContain(
      `${p}:19: error: document 2 (VirtualMachine apps/web): spec.template.spec.livenessProbe.successThreshold: must be 1 for liveness probes`,
    );
    expect(
      lines.some((l) =>
        l.startsWith(
          `${p}:14: error: document 2 (VirtualMachine apps/web): spec.template.metadata.annotations[vmprobe.io/startup-probe]: not valid JSON`,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith(
          `${p}:21: warning: document 2 (VirtualMachine apps/web): spec.template.spec.readinessProbe.guestAgentPing: valid, but`,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith(
          `${p}:29: error: document 3 (VirtualMachineInstanceReplicaSet rs): spec.template.spec.readinessProbe: may not specify more than 1 handler type`,
        ),
      ),
    ).toBe(true);
    expect(lines.at(-1)).toBe('4 probes in 2 VMIs checked: 4 errors, 1 warning');
  });

  it('reports YAML syntax errors with their line and checks the other documents', async () => {
    const p = file(
      'syntax.yaml',
      'kind: VirtualMachineInstance\nmetadata: {name: a\n---\nkind: VirtualMachineInstance\nmetadata: {name: b}\nspec: {}\n',
    );
    const r = await vmprobe('check', p);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^${p}:\\d+: error: document 1: YAML syntax: `, 'm'));
    expect(r.stdout).toContain('0 probes in 1 VMI checked: ');
  });

  it('checks items of a List', async () => {
    const p = file(
      'list.yaml',
      'kind: List\nitems:\n- kind: VirtualMachineInstance\n  metadata: {name: a}\n  spec:\n    livenessProbe: {icmp: {}, periodSeconds: 0}\n',
    );
    const r = await vmprobe('check', p);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${p}:6: error: document 1 (VirtualMachineInstance a): items[0].spec.livenessProbe.periodSeconds: must be greater than or equal to 1`,
    );
  });

  it('exits 2 on an unreadable file or no file', async () => {
    const r = await vmprobe('check', join(dir, 'missing.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read');
    expect(r.stderr).toContain('ENOENT');
    expect((await vmprobe('check')).code).toBe(2);
  });
});
