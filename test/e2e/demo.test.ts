// The Quick start demo runs to the end of its script (--exit-when-done) and exits 0, having shown
// the liveness kill with a fresh VMI and the readiness round trip through the Service endpoints.
import { spawn } from 'node:child_process';
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
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out.slice(-3000)).toBe(0);
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
