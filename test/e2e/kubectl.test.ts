// The real kubectl (v1.32 on the build machines) against the emulated cluster, with default
// settings: `apply -k manifests/` (OpenAPI v3, server-side field validation, three-way strategic
// merge patch on re-apply), `apply -f` of the seed's kubevirt.io/v1alpha3 VMIs, the VMIProbeStatus
// printer columns, `describe vmi` with KubeVirt's Events, `get events` after a liveness stop,
// `auth can-i --as` the agent's service account, and a patch of each type. Skipped (with the
// reason printed) when kubectl is not on the PATH.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SEED_VMI_FILES } from '../src/cluster.js';
import { ADMIN_USER } from '../src/emulator/auth.js';
import { REPO_ROOT } from '../src/emulator/server.js';
import { type AgentBed, FAST_TIMINGS, seedVmi, startAgentBed, waitForCondition } from './agent-helpers.js';

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
if (!hasKubectl) console.log('kubectl not found on the PATH: skipping the kubectl end-to-end tests');

const AGENT_SA = 'system:serviceaccount:vmprobe-system:vmprobe';
const NS = 'default';

let bed: AgentBed;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl with the admin kubeconfig and its own cache dir; never throws on a non-zero exit. */
function kubectl(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, HOME: dir, KUBECTL_KUBERC: 'false' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  expect(r.code, `kubectl ${args.join(' ')}\n${r.stderr}${r.stdout}`).toBe(0);
  return r.stdout;
}

/** The rows of a kubectl table as arrays of cells, cut at the header's column starts (empty cells kept). */
function table(out: string): string[][] {
  const lines = out.replace(/\s+$/, '').split('\n');
  const header = lines[0] ?? '';
  const starts = [...header.matchAll(/(?:^|\s{2,})(\S+(?: \S+)*)/g)].map(
    (m) => (m.index ?? 0) + m[0].indexOf(m[1] as string),
  );
  return lines.map((l) => starts.map((s, i) => l.slice(s, starts[i + 1] ?? l.length).trim()));
}

describe.skipIf(!hasKubectl)('kubectl against the emulated cluster', () => {
  beforeAll(async () => {
    bed = await startAgentBed({ cluster: { tls: true, vmprobeReadinessGate: true } });
    dir = await mkdtemp(join(tmpdir(), 'vmprobe-kubectl-'));
    await bed.cluster.emu.writeKubeconfig(ADMIN_USER, join(dir, 'kubeconfig'));
  }, 60_000);

  afterAll(async () => {
    await bed?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('apply -k manifests/ creates the install, and a second apply leaves it unchanged', async () => {
    const first = await ok('apply', '-k', 'manifests/');
    expect(first).toMatch(/^namespace\/vmprobe-system created$/m);
    expect(first).toMatch(/^daemonset\.apps\/vmprobe created$/m);
    expect(first).toMatch(
      /^customresourcedefinition\.apiextensions\.k8s\.io\/vmiprobestatuses\.vmprobe\.io (created|configured)$/m,
    );
    const second = await ok('apply', '-k', 'manifests/');
    expect(second).toMatch(/^daemonset\.apps\/vmprobe unchanged$/m);
    expect(second).toMatch(/^serviceaccount\/vmprobe unchanged$/m);
    const ds = table(await ok('get', 'daemonsets', '-n', 'vmprobe-system', '-o', 'wide'));
    expect(ds[0]).toEqual([
      'NAME',
      'DESIRED',
      'CURRENT',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'NODE SELECTOR',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR',
    ]);
    expect(ds[1]?.[0]).toBe('vmprobe');
  }, 120_000);

  it('diff shows a changed manifest from a server dry run, which stores nothing', async () => {
    const rendered = await ok('kustomize', 'manifests/');
    const file = join(dir, 'changed.yaml');
    // Every image of the install (the agent's DaemonSet and the webhook's Deployment).
    await writeFile(file, rendered.replace(/(ghcr\.io\/vmprobe\/vmprobe):[\w.-]+/g, '$1:9.9.9'));
    const diff = await kubectl('diff', '-f', file);
    expect(diff.code, diff.stderr).toBe(1); // 1: differences found
    expect(diff.stdout).toMatch(/^\+\s+image: ghcr\.io\/vmprobe\/vmprobe:9\.9\.9$/m);
    const dry = await ok('apply', '-f', file, '--dry-run=server');
    expect(dry).toMatch(/^daemonset\.apps\/vmprobe configured \(server dry run\)$/m);
    expect(dry).toMatch(/^deployment\.apps\/vmprobe-webhook configured \(server dry run\)$/m);
    const image = await ok(
      'get',
      'ds',
      'vmprobe',
      '-n',
      'vmprobe-system',
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    );
    expect(image).not.toContain('9.9.9');
  }, 60_000);

  it('apply -f takes the seed’s kubevirt.io/v1alpha3 VMIs as they are', async () => {
    for (const [i, file] of Object.values(SEED_VMI_FILES).entries()) {
      const ns = `seed-${i}`;
      await ok('create', 'namespace', ns);
      expect(await ok('apply', '-n', ns, '-f', file)).toMatch(
        /^virtualmachineinstance\.kubevirt\.io\/vmi-fedora created$/m,
      );
    }
    await bed.cluster.waitForRunning('seed-0', 'vmi-fedora');
    const rows = table(await ok('get', 'vmis', '-A'));
    expect(rows[0]).toEqual(['NAMESPACE', 'NAME', 'AGE', 'PHASE', 'IP', 'NODENAME', 'READY']);
    expect(rows.filter((r) => r[1] === 'vmi-fedora')).toHaveLength(3);
  }, 120_000);

  it('get vmiprobestatuses prints the CRD’s printer columns; describe vmi shows KubeVirt’s Events', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, stringify(await seedVmi(SEED_VMI_FILES.httpLiveness, 'kt-web', FAST_TIMINGS)));
    await ok('apply', '-n', NS, '-f', file);
    await bed.cluster.waitForRunning(NS, 'kt-web');
    await waitForCondition(bed.cluster, NS, 'kt-web', 'LivenessProbe', 'True', 20_000);
    const rows = table(await ok('get', 'vmiprobestatuses', '-n', NS));
    expect(rows[0]).toEqual(['NAME', 'READY', 'LIVE', 'NODE', 'AGE']);
    const row = rows.find((r) => r[0] === 'kt-web');
    expect(row?.slice(2, 4)).toEqual(['True', 'node-a']);
    const wide = table(await ok('get', 'vmiprobestatuses', 'kt-web', '-n', NS, '-o', 'wide'));
    expect(wide[0]).toEqual(['NAME', 'READY', 'LIVE', 'NODE', 'AGE', 'TARGET', 'GATE']);
    expect(wide[1]?.[5]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const described = await ok('describe', 'vmi', 'kt-web', '-n', NS);
    expect(described).toMatch(/^Events:/m);
    expect(described).toMatch(
      /Normal\s+SuccessfulCreate\s+\S+\s+virtualmachine-controller\s+Created virtual machine pod virt-launcher-kt-web-/,
    );
    expect(described).toMatch(/Normal\s+Started\s+\S+\s+virt-handler\s+VirtualMachineInstance started\./);

    const pods = table(await ok('get', 'pods', '-n', NS, '-l', 'vm.kubevirt.io/name=kt-web', '-o', 'wide'));
    expect(pods[0]).toEqual([
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
    ]);
    expect(pods[1]?.slice(1, 3)).toEqual(['1/1', 'Running']);
    const qos = await ok(
      'get',
      'pods',
      '-n',
      NS,
      '-l',
      'vm.kubevirt.io/name=kt-web',
      '-o',
      'jsonpath={.items[0].status.qosClass}',
    );
    expect(qos).toBe('Burstable'); // the seed asks for memory only, as the VMI's own qosClass says
  }, 120_000);

  it('get events after a liveness stop shows the agent’s Killing on the VMI and the kubelet’s on its pod', async () => {
    await bed.cluster.kubevirt.vmFor(NS, 'kt-web')?.setBehaviour({ kind: 'status', code: 500 });
    await bed.cluster.waitForVmi(NS, 'kt-web', (v) => v.status?.phase === 'Failed', { timeoutMs: 30_000 });
    let last = '';
    const out = await bed.cluster
      .waitFor(
        async () => {
          last = await ok('get', 'events', '-n', NS, '--field-selector', 'reason=Killing');
          return /pod\/virt-launcher-kt-web-/.test(last) && /virtualmachineinstance\/kt-web/.test(last)
            ? last
            : undefined;
        },
        { timeoutMs: 20_000, description: 'Killing events' },
      )
      .catch((e) => {
        throw new Error(`${(e as Error).message}; last kubectl get events:\n${last}`);
      });
    const rows = table(out);
    expect(rows[0]).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(out).toMatch(
      /Normal\s+Killing\s+virtualmachineinstance\/kt-web\s+Stopping VMI: liveness probe failed/,
    );
    expect(out).toMatch(/Normal\s+Killing\s+pod\/virt-launcher-kt-web-\S+\s+Stopping container compute/);
  }, 120_000);

  it('auth can-i --as the agent’s service account: yes for a verb it has, no for one it has not', async () => {
    const yes = await kubectl(
      'auth',
      'can-i',
      'patch',
      'pods',
      '--subresource=status',
      '-A',
      '--as',
      AGENT_SA,
    );
    expect([yes.code, yes.stdout.trim()]).toEqual([0, 'yes']);
    const no = await kubectl(
      'auth',
      'can-i',
      'delete',
      'virtualmachineinstances.kubevirt.io',
      '-A',
      '--as',
      AGENT_SA,
    );
    expect([no.code, no.stdout.trim()]).toEqual([1, 'no']);
    const denied = await kubectl('get', 'nodes', '--as', AGENT_SA);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      `nodes is forbidden: User "${AGENT_SA}" cannot list resource "nodes" in API group "" at the cluster scope`,
    );
    const list = await ok('auth', 'can-i', '--list', '-n', NS, '--as', AGENT_SA);
    expect(list).toMatch(/^pods\/status\s+\[\]\s+\[\]\s+\[patch\]$/m);
    expect(list).toMatch(/^virtualmachineinstances\.kubevirt\.io\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(list).not.toMatch(/^nodes/m);
    const whoami = await ok('auth', 'whoami', '--as', AGENT_SA);
    expect(whoami).toMatch(new RegExp(`Username\\s+${AGENT_SA}`));
  }, 60_000);

  it('patches of each type: merge and json on a VMI, strategic on a DaemonSet merges containers by name', async () => {
    await ok(
      'patch',
      'vmi',
      'vmi-fedora',
      '-n',
      'seed-0',
      '--type=merge',
      '-p',
      '{"metadata":{"labels":{"tier":"web"}}}',
    );
    await ok(
      'patch',
      'vmi',
      'vmi-fedora',
      '-n',
      'seed-0',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/metadata/labels/owner","value":"kt"}]',
    );
    const labels = await ok(
      'get',
      'vmi',
      'vmi-fedora',
      '-n',
      'seed-0',
      '-o',
      'jsonpath={.metadata.labels.tier},{.metadata.labels.owner}',
    );
    expect(labels).toBe('web,kt');
    const smp = await kubectl(
      'patch',
      'vmi',
      'vmi-fedora',
      '-n',
      'seed-0',
      '-p',
      '{"metadata":{"labels":{"x":"y"}}}',
    );
    expect(smp.code).toBe(1); // kubectl's default (strategic) is refused for custom resources, as on a real cluster
    expect(smp.stderr).toContain(
      'application/strategic-merge-patch+json is not supported by kubevirt.io/v1, Kind=VirtualMachineInstance',
    );

    await ok(
      'patch',
      'daemonset',
      'vmprobe',
      '-n',
      'vmprobe-system',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"vmprobe","env":[{"name":"KT_PATCHED","value":"1"}]}]}}}}',
    );
    const ds = JSON.parse(await ok('get', 'daemonset', 'vmprobe', '-n', 'vmprobe-system', '-o', 'json'));
    const c = ds.spec.template.spec.containers;
    expect(c).toHaveLength(1);
    expect(c[0].image).toMatch(/vmprobe/); // merged by name, not replaced
    expect(c[0].env.map((e: { name: string }) => e.name)).toContain('KT_PATCHED');
    expect(c[0].env.length).toBeGreaterThan(1);
  }, 60_000);

  it('explain reads the served OpenAPI v3 schemas of built-in kinds and CRDs', async () => {
    expect(await ok('explain', 'daemonset.spec.template.spec.containers.ports')).toMatch(
      /containerPort\s+<integer>/,
    );
    expect(await ok('explain', 'vmiprobestatuses.status')).toMatch(/nodeName\s+<string>/);
  }, 60_000);

  it('delete -k manifests/ removes the install (the namespace goes after its contents)', async () => {
    const out = await ok('delete', '-k', 'manifests/');
    expect(out).toMatch(/^namespace "vmprobe-system" deleted$/m);
    expect(out).toMatch(/^daemonset\.apps "vmprobe" deleted$/m);
    const gone = await kubectl('get', 'namespace', 'vmprobe-system');
    expect(gone.stderr).toContain('namespaces "vmprobe-system" not found');
  }, 60_000);
});
