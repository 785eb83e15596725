// Root only: the guest-probes component's privilege is enough and needed. The launcher socket of a
// non-root VMI belongs to uid 107 with mode 0755 (umask 022); the agent runs as uid 0 with exactly
// the capabilities the rendered component grants, through a READ-ONLY bind mount of the "kubelet
// pods" directory at a short path, as manifests/components/guest-probes sets it up. Without
// DAC_OVERRIDE the same probe is unknown (EACCES), never a failure.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FakeLauncher, SOCKET_SUFFIX, startFakeLauncher } from '@vmprobe/test/launcher/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFESTS_DIR, renderKustomization } from './kustomize-render.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${root}agent/bin/vmprobe.js`;
const isRoot = process.getuid?.() === 0;
const hasTools = (() => {
  try {
    // unshare -m needs CAP_SYS_ADMIN (a root container without it cannot run this test).
    execFileSync('sh', ['-c', 'command -v setpriv && command -v mount && unshare -m true'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
})();
const skip = !isRoot || !hasTools;
if (skip)
  console.log(
    'guest-probes-privilege: skipped — needs root, setpriv and mount (util-linux), and unshare -m (CAP_SYS_ADMIN)',
  );

/** Capabilities the rendered overlay adds to the agent container. */
function componentCapabilities(): string[] {
  const ds = renderKustomization(join(MANIFESTS_DIR, 'overlays/guest-probes')).find(
    (r) => r.object.kind === 'DaemonSet',
  )?.object as unknown as {
    spec: { template: { spec: { containers: { securityContext: { capabilities: { add: string[] } } }[] } } };
  };
  return ds.spec.template.spec.containers[0]?.securityContext.capabilities.add ?? [];
}

function run(
  script: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args], {
      cwd: root,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// $1 host pods dir, $2 short mount point, $3 capabilities for setpriv, $4 node, $5 vmprobe bin.
const SCRIPT = `
set -e
mount --bind "$1" "$2"
mount -o remount,bind,ro "$2"
if touch "$2/write-test" 2>/dev/null; then echo WRITABLE; fi
exec setpriv --bounding-set=-all$3 --inh-caps=-all "$4" "$5" probe "guest-ping://$2/pod1/${SOCKET_SUFFIX}" --domain ns1/vm1
`;

describe.skipIf(skip)('guest probes with the component’s privileges', () => {
  let hostPods: string;
  let mountPoint: string;
  let launcher: FakeLauncher;
  beforeAll(async () => {
    if (!existsSync(`${root}agent/bundle/vmprobe.js`)) {
      execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    }
    hostPods = await mkdtemp(join(tmpdir(), 'vl-'));
    mountPoint = await mkdtemp(join(tmpdir(), 'vm-'));
    launcher = await startFakeLauncher({ podsRoot: hostPods, podUid: 'pod1', domainName: 'ns1_vm1' });
    // As on a node: the pod dir is root's 0750, the socket the launcher user's (107) 0755.
    await chmod(join(hostPods, 'pod1'), 0o750);
    await chown(launcher.socketPath, 107, 107);
    await chmod(launcher.socketPath, 0o755);
  });
  afterAll(async () => {
    await launcher?.stop();
    await rm(hostPods, { recursive: true, force: true });
    await rm(mountPoint, { recursive: true, force: true });
  });

  it('the component grants NET_RAW and DAC_OVERRIDE, nothing else', () => {
    expect(componentCapabilities().sort()).toEqual(['DAC_OVERRIDE', 'NET_RAW']);
  });

  it('with those capabilities, through the read-only mount: the ping succeeds and the mount is not writable', async () => {
    const caps = componentCapabilities()
      .map((c) => `,+${c.toLowerCase()}`)
      .join('');
    const r = await run(SCRIPT, [hostPods, mountPoint, caps, process.execPath, bin]);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('WRITABLE');
    expect(r.stdout).toMatch(/^success: guest agent of ns1_vm1 answered/);
    expect(r.code).toBe(0);
  });

  it('without DAC_OVERRIDE: unknown (EACCES), exit 1 — not a failure', async () => {
    const r = await run(SCRIPT, [hostPods, mountPoint, ',+net_raw', process.execPath, bin]);
    expect(r.stdout).toMatch(/^unknown: cannot reach the launcher command socket .*EACCES/);
    expect(r.code).toBe(1);
  });
});
