// The agent's endpoints are not an open door (design §7 "Endpoints"): /metrics and /debug/probes
// need a bearer token that passes the emulator's TokenReview and a SubjectAccessReview for `get` on
// the path, evaluated with the shipped roles (manifests/base/rbac-endpoints.yaml) and the monitoring
// component's scrape identity; /healthz and /readyz stay open; --insecure-endpoints keeps the old
// behaviour; `vmprobe status --token-file` passes a token.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStatus } from '@vmprobe/agent/cli/status-command';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_VMI_FILES } from '../src/cluster.js';
import {
  type AgentBed,
  agentRbacFiles,
  PROMETHEUS_SCRAPE_USER,
  runSeedVmi,
  SCRAPE_IDENTITY_FILE,
  startAgentBed,
  waitForCondition,
} from './agent-helpers.js';

const NOBODY = 'system:serviceaccount:default:nobody';
const OPERATOR = 'ops@example.com';

describe('protected agent endpoints', () => {
  let bed: AgentBed;
  let secureUrl: string;
  let openUrl: string;
  let dir: string;

  beforeAll(async () => {
    bed = await startAgentBed({
      cluster: { rbacFiles: [...(agentRbacFiles() ?? []), SCRAPE_IDENTITY_FILE] },
      agents: [
        { listen: '127.0.0.1:0' },
        // on another node (no VMIs there): only its endpoints matter
        (c) => ({ nodeName: c.nodes[1] ?? 'node-b', listen: '127.0.0.1:0', insecureEndpoints: true }),
      ],
    });
    secureUrl = bed.agents[0]!.address()!.url;
    openUrl = bed.agents[1]!.address()!.url;
    bed.cluster.emu.loadRbac([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'ops-debug' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'vmprobe-debug-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR }],
      },
    ]);
    await runSeedVmi(bed.cluster, SEED_VMI_FILES.readiness, 'ep-vm');
    await waitForCondition(bed.cluster, 'default', 'ep-vm', 'ReadinessProbe', 'True', 30_000);
    dir = mkdtempSync(join(tmpdir(), 'vmprobe-endpoints-'));
  }, 90_000);

  afterAll(async () => {
    await bed?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (url: string, token?: string, method = 'GET') => {
    const r = await fetch(url, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
    return { status: r.status, body: await r.text(), auth: r.headers.get('www-authenticate') };
  };
  const token = (user: string) => bed.cluster.emu.tokenFor(user);

  it('/metrics and /debug/probes: 401 without a token and with an invalid one', async () => {
    for (const path of ['/metrics', '/debug/probes']) {
      const none = await get(`${secureUrl}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.auth).toContain('Bearer');
      expect(none.body).not.toContain('ep-vm');
      const bad = await get(`${secureUrl}${path}`, 'emu.not-a-token-the-cluster-issued');
      expect(bad.status, path).toBe(401);
      expect(bad.body).toContain('invalid bearer token');
    }
  });

  it('403 for a valid token without the RBAC, 200 with it (per path)', async () => {
    expect((await get(`${secureUrl}/metrics`, token(NOBODY))).status).toBe(403);
    const denied = await get(`${secureUrl}/debug/probes`, token(NOBODY));
    expect(denied.status).toBe(403);
    expect(denied.body).toContain(`cannot get path "/debug/probes"`);

    // The PodMonitor's identity may read /metrics, not /debug/probes.
    const scrape = await get(`${secureUrl}/metrics`, token(PROMETHEUS_SCRAPE_USER));
    expect(scrape.status).toBe(200);
    expect(scrape.body).toMatch(/^vmprobe_probe_status\{/m);
    expect((await get(`${secureUrl}/debug/probes`, token(PROMETHEUS_SCRAPE_USER))).status).toBe(403);

    // An operator bound to vmprobe-debug-reader reads /debug/probes (HEAD too), not /metrics.
    const debug = await get(`${secureUrl}/debug/probes`, token(OPERATOR));
    expect(debug.status).toBe(200);
    expect(JSON.parse(debug.body)).toEqual([expect.objectContaining({ vmi: 'ep-vm', probe: 'readiness' })]);
    expect((await get(`${secureUrl}/debug/probes`, token(OPERATOR), 'HEAD')).status).toBe(200);
    expect((await get(`${secureUrl}/metrics`, token(OPERATOR))).status).toBe(403);
  });

  it('caches decisions: repeated scrapes make no further review calls', async () => {
    const scrapeToken = token(PROMETHEUS_SCRAPE_USER);
    expect((await get(`${secureUrl}/metrics`, scrapeToken)).status).toBe(200);
    const reviews = () =>
      bed.cluster.emu.requests.filter(
        (r) => r.resource === 'tokenreviews' || r.resource === 'subjectaccessreviews',
      ).length;
    const before = reviews();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect((await get(`${secureUrl}/metrics`, scrapeToken)).status).toBe(200);
    expect(reviews()).toBe(before);
  });

  it('/healthz and /readyz stay open', async () => {
    expect((await get(`${secureUrl}/healthz`)).status).toBe(200);
    expect((await get(`${secureUrl}/readyz`)).status).toBe(200);
  });

  it('--insecure-endpoints serves them without a token', async () => {
    expect((await get(`${openUrl}/metrics`)).status).toBe(200);
    expect((await get(`${openUrl}/debug/probes`)).status).toBe(200);
  });

  it('vmprobe status passes --token / --token-file; without one it says what to do', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, `${token(OPERATOR)}\n`);
    let out = '';
    let err = '';
    const o = (s: string) => {
      out += s;
    };
    const e = (s: string) => {
      err += s;
    };
    expect(await runStatus({ agent: secureUrl, timeout: '10', tokenFile: file }, o, e)).toBe(0);
    expect(out).toContain('ep-vm');
    out = '';
    expect(await runStatus({ agent: secureUrl, timeout: '10', token: token(OPERATOR) }, o, e)).toBe(0);
    expect(out).toContain('ep-vm');
    expect(await runStatus({ agent: secureUrl, timeout: '10' }, o, e)).toBe(1);
    expect(err).toContain('401');
    expect(err).toContain('--token-file');
    err = '';
    expect(await runStatus({ agent: secureUrl, timeout: '10', token: token(NOBODY) }, o, e)).toBe(1);
    expect(err).toContain('403');
    expect(await runStatus({ agent: secureUrl, timeout: '10', token: 'a', tokenFile: file }, o, e)).toBe(2);
  });
});
