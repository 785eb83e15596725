// The Quick start demo runs to the end of its script (--exit-when-done) and exits 0, having shown
// the liveness kill with a fresh VMI and the readiness round trip through the Service endpoints.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('scripts/demo.ts', () => {
  it('plays its whole script and exits cleanly', async () => {
    const child = spawn(
      process.execPath,
      [
        'node_modules/tsx/dist/cli.mjs',
        'scripts/demo.ts',
        '--exit-when-done',
        '--plain',
        '--listen',
        '127.0.0.1:0',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const kubeconfig = join(ROOT, 'demo.kubeconfig');
    let kubeconfigWhileRunning: boolean | undefined;
    let kubectlWhileRunning: { status: number | null; stdout: string; stderr: string } | undefined;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (kubeconfigWhileRunning === undefined && out.includes('== all healthy')) {
        kubeconfigWhileRunning = existsSync(kubeconfig);
        const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
        if (hasKubectl)
          kubectlWhileRunning = spawnSync(
            'kubectl',
            ['--kubeconfig', kubeconfig, 'get', 'vmis,vmiprobestatuses', '-n', 'default'],
            { encoding: 'utf8', timeout: 30_000 },
          );
        else console.log('kubectl not found on the PATH: not running it against the demo');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toContain('try `kubectl --kubeconfig demo.kubeconfig get vmis,vmiprobestatuses`');
    expect(kubeconfigWhileRunning).toBe(true);
    expect(existsSync(kubeconfig)).toBe(false); // removed on exit
    if (kubectlWhileRunning) {
      expect(kubectlWhileRunning.status, kubectlWhileRunning.stderr).toBe(0);
      expect(kubectlWhileRunning.stdout).toMatch(/^virtualmachineinstance\.kubevirt\.io\/fedora-ready\s/m);
      expect(kubectlWhileRunning.stdout).toMatch(/^NAME\s+READY\s+LIVE\s+NODE\s+AGE$/m);
    }
    for (const line of [
      'time is scaled 20×',
      "== vmprobe webhook injected its readiness gate into fedora-ready's launcher pod at creation (readinessGates: kubevirt.io/virtual-machine-unpaused, vmprobe.io/ReadinessProbe)",
      '== all healthy: fedora-ready is in its Service endpoints',
      '== liveness failed: the agent stops the launcher pod',
      '== the VirtualMachine started a fresh fedora-http VMI (new UID)',
      '== readiness False: the launcher pod is not Ready, fedora-ready left its Service endpoints',
      '== readiness True: fedora-ready is back in its Service endpoints',
      '== demo script done',
      'bye (agent log:',
    ]) {
      expect(out).toContain(line);
    }
    expect(out).toMatch(/^default\s+fedora-http\s+liveness\s+http\s+\S+\s+success/m);
  }, 180_000);
});
