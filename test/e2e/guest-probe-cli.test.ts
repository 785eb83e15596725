// The built `vmprobe probe exec:// | guest-ping://` against a fake launcher socket, spawned as an
// operator would run it on a node: one line or JSON, exit 0 success, 1 failure or unknown, 2 usage.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FakeLauncher, startFakeLauncher } from '@vmprobe/test/launcher/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${root}agent/bin/vmprobe.js`;

function vmprobe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
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

describe('vmprobe probe exec:// and guest-ping://', () => {
  let dir: string;
  let launcher: FakeLauncher;
  beforeAll(async () => {
    if (!existsSync(`${root}agent/bundle/vmprobe.js`)) {
      execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    }
    dir = await mkdtemp(join(tmpdir(), 'vl-'));
    launcher = await startFakeLauncher({ podsRoot: dir, podUid: 'pod1', domainName: 'ns1_vm1' });
  });
  afterAll(async () => {
    await launcher?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('exec success: the guest output, exit 0; the command and args reach the launcher', async () => {
    launcher.guest = { guest: 'answers', stdOut: 'ready' };
    const r = await vmprobe([
      'probe',
      `exec://${launcher.socketPath}`,
      '--domain',
      'ns1/vm1',
      '--',
      'cat',
      '/tmp/ready',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^success: ready \[ProbeSucceeded, exec:\/\//);
    expect(launcher.calls.at(-1)).toEqual({
      method: 'Exec',
      request: { domainName: 'ns1_vm1', Command: 'cat', Args: ['/tmp/ready'], timeoutSeconds: 1 },
    });
  });

  it('exec non-zero exit: failure, exit 1; --timeout 0.2 still sends timeoutSeconds 1', async () => {
    launcher.guest = { guest: 'fails', exitCode: 2 };
    const r = await vmprobe([
      'probe',
      `exec://${launcher.socketPath}`,
      '--domain',
      'ns1_vm1',
      '--timeout',
      '0.2',
      '--',
      'false',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('failure: exec false: exit code 2');
    const last = launcher.calls.at(-1);
    expect(last?.method === 'Exec' && last.request.timeoutSeconds).toBe(1);
  });

  it('guest-ping --json: the outcome as JSON, exit 0; an absent agent exits 1', async () => {
    launcher.guest = { guest: 'answers' };
    const ok = await vmprobe([
      'probe',
      `guest-ping://${launcher.socketPath}`,
      '--domain',
      'ns1/vm1',
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      target: { type: 'guestAgentPing', domainName: 'ns1_vm1' },
      outcome: { result: 'success' },
    });
    launcher.guest = { guest: 'absent' };
    const bad = await vmprobe(['probe', `guest-ping://${launcher.socketPath}`, '--domain', 'ns1/vm1']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('not connected');
  });

  it('a socket that is not there: unknown, exit 1', async () => {
    const r = await vmprobe(['probe', `guest-ping://${dir}/none/launcher-sock`, '--domain', 'ns1/vm1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unknown: cannot reach the launcher command socket/);
  });

  it.each([
    [['probe', 'exec:///s', '--', 'true'], 'exec:// needs --domain'],
    [['probe', 'exec:///s', '--domain', 'ns/vm'], 'command: required value (give it after --'],
    [['probe', 'exec:///s', '--domain', 'ns/vm', '--', 'echo', 'a"b'], 'command[1]: must not contain'],
    [['probe', 'exec:///s', '--domain', 'ns/vm', '--', 'echo', 'a\\b'], 'command[1]: must not contain'],
    [['probe', 'exec://relative/s', '--domain', 'ns/vm', '--', 'true'], 'takes an absolute socket path'],
    [
      ['probe', `exec:///${'x'.repeat(120)}`, '--domain', 'ns/vm', '--', 'true'],
      'a unix socket path may have 107',
    ],
    [['probe', 'guest-ping:///s', '--domain', 'Bad_Domain!'], 'invalid --domain'],
    [['probe', 'guest-ping:///s', '--domain', 'ns/vm', '--', 'true'], 'guest-ping:// takes no command'],
    [
      ['probe', 'tcp://127.0.0.1:22', '--domain', 'ns/vm'],
      '--domain applies to exec:// and guest-ping:// only',
    ],
    [['probe', 'tcp://127.0.0.1:22', '--', 'true'], 'a command goes with exec:// only'],
  ])('bad usage %j exits 2 and says what is wrong', async (args, message) => {
    const r = await vmprobe(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });
});
