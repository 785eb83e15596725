// exec and guestAgentPing probers against fake virt-launcher command servers on real unix sockets
// (test/src/launcher): kubelet verdicts, the clamps and caps of issue 13, and what the agent sends.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LauncherClientPool, probeExec, probeGuestPing } from '@vmprobe/agent';
import { type FakeLauncher, SOCKET_SUFFIX, startFakeLauncher } from '@vmprobe/test/launcher/index';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const DOMAIN = 'ns1_vm1';
const POD_UID = '3f1e2d4c-0b6a-4c8e-9a7d-5e2f1a0b9c8d';

describe('guest probers against a fake launcher', () => {
  let root: string;
  let launcher: FakeLauncher;
  let pool: LauncherClientPool;
  const exec = (command: string, args: string[], timeoutMs = 1000, signal?: AbortSignal) =>
    probeExec(
      { type: 'exec', socketPath: launcher.socketPath, domainName: DOMAIN, command, args },
      { timeoutMs },
      signal,
      pool,
    );
  const ping = (timeoutMs = 1000) =>
    probeGuestPing(
      { type: 'guestAgentPing', socketPath: launcher.socketPath, domainName: DOMAIN },
      { timeoutMs },
      undefined,
      pool,
    );

  beforeAll(async () => {
    // Short root: the socket path must stay under 107 bytes (as on a node, see OPERATIONS.md).
    root = await mkdtemp(join(tmpdir(), 'vl-'));
    launcher = await startFakeLauncher({ podsRoot: root, podUid: POD_UID, domainName: DOMAIN });
    expect(Buffer.byteLength(launcher.socketPath)).toBeLessThan(107);
  });
  afterEach(() => {
    launcher.guest = { guest: 'answers' };
    pool.close();
  });
  afterAll(async () => {
    pool?.close();
    await launcher?.stop();
    await rm(root, { recursive: true, force: true });
  });
  beforeAll(() => {
    pool = new LauncherClientPool();
  });

  it('exec: exit code 0 is success, and the request carries domain, command, args and timeout', async () => {
    launcher.guest = { guest: 'answers', stdOut: 'ready\n' };
    const out = await exec('cat', ['/tmp/ready'], 3000);
    expect(out.result).toBe('success');
    expect(out.message).toBe('ready');
    const last = launcher.calls.at(-1);
    expect(last).toEqual({
      method: 'Exec',
      request: { domainName: DOMAIN, Command: 'cat', Args: ['/tmp/ready'], timeoutSeconds: 3 },
    });
  });

  it('exec: a non-zero exit code is failure with the code and output in the message', async () => {
    launcher.guest = { guest: 'fails', exitCode: 3, stdOut: 'not ready' };
    const out = await exec('test', ['-f', '/tmp/ready']);
    expect(out).toMatchObject({ result: 'failure', reason: 'ProbeFailed' });
    expect(out.message).toBe('exec test -f /tmp/ready: exit code 3: not ready');
  });

  it('exec and ping: an absent guest agent is failure with the launcher message', async () => {
    launcher.guest = { guest: 'absent' };
    const e = await exec('true', []);
    expect(e).toMatchObject({ result: 'failure', reason: 'ProbeFailed' });
    expect(e.message).toContain('QEMU guest agent is not connected');
    const p = await ping();
    expect(p).toMatchObject({ result: 'failure', reason: 'ProbeFailed' });
    expect(p.message).toContain('guest agent ping: ');
    expect(p.message).toContain('not connected');
  });

  it('ping: an answering agent is success; a failing one is failure', async () => {
    expect((await ping()).result).toBe('success');
    launcher.guest = { guest: 'fails' };
    const out = await ping();
    expect(out.result).toBe('failure');
    expect(out.message).toContain('guest-ping failed');
  });

  it('a hanging guest is a ProbeTimeout failure at timeoutSeconds + 1 s (exec and ping)', async () => {
    launcher.guest = { guest: 'hangs' };
    for (const run of [() => exec('sleep', ['60'], 1000), () => ping(1000)]) {
      const out = await run();
      expect(out).toMatchObject({ result: 'failure', reason: 'ProbeTimeout' });
      expect(out.message).toContain('timed out after 1s');
      // Deadline = 1 s + 1 s grace; the lower bound is what the grace guarantees.
      expect(out.timings.durationMs).toBeGreaterThanOrEqual(1900);
    }
    const pingCall = launcher.calls.at(-1);
    expect(pingCall).toEqual({ method: 'GuestPing', request: { domainName: DOMAIN, timeoutSeconds: 1 } });
  });

  it('timeoutSeconds is clamped to >= 1: a 0 or sub-second timeout never reaches the launcher as 0', async () => {
    for (const timeoutMs of [0, 1, 400, Number.NaN]) {
      const out = await exec('true', [], timeoutMs);
      expect(out.result).toBe('success');
      const last = launcher.calls.at(-1);
      expect(last?.method === 'Exec' && last.request.timeoutSeconds).toBe(1);
      await ping(timeoutMs);
      const p = launcher.calls.at(-1);
      expect(p?.method === 'GuestPing' && p.request.timeoutSeconds).toBe(1);
    }
    expect(launcher.panicked).toBe(false);
  });

  it('an exec response over the 64 KiB receive cap is unknown (ProbeError), not failure', async () => {
    launcher.guest = { guest: 'answers', stdOut: 'x'.repeat(100 * 1024) };
    const out = await exec('cat', ['/dev/zero']);
    expect(out).toMatchObject({ result: 'unknown', reason: 'ProbeError' });
    expect(out.message).toContain('receive limit');
  });

  it('the cmd version is negotiated once per client: two probes, one Info call', async () => {
    pool.close();
    const before = launcher.calls.filter((c) => c.method === 'Info').length;
    await exec('true', []);
    await ping();
    expect(launcher.calls.filter((c) => c.method === 'Info').length).toBe(before + 1);
    expect(pool.size).toBe(1);
  });

  it('aborting one of two concurrent first calls on a socket leaves the other unharmed', async () => {
    pool.close();
    const ac = new AbortController();
    const first = exec('true', [], 1000, ac.signal);
    const second = ping();
    ac.abort();
    expect(await first).toMatchObject({ result: 'unknown', reason: 'ProbeAborted' });
    expect((await second).result).toBe('success');
  });

  it('a client idle for longer than idleMs is closed when another socket is used', async () => {
    let now = 0;
    const idlePool = new LauncherClientPool({ idleMs: 1000, now: () => now });
    const other = await startFakeLauncher({ podsRoot: root, podUid: 'other', domainName: DOMAIN });
    try {
      const target = (socketPath: string) => ({
        type: 'guestAgentPing' as const,
        socketPath,
        domainName: DOMAIN,
      });
      expect(
        (await probeGuestPing(target(launcher.socketPath), { timeoutMs: 1000 }, undefined, idlePool)).result,
      ).toBe('success');
      now = 500;
      expect(
        (await probeGuestPing(target(other.socketPath), { timeoutMs: 1000 }, undefined, idlePool)).result,
      ).toBe('success');
      expect(idlePool.size).toBe(2);
      now = 1600; // the first is idle 1,600 ms, the second 1,100 ms: both over idleMs, but the one in use stays
      expect(
        (await probeGuestPing(target(other.socketPath), { timeoutMs: 1000 }, undefined, idlePool)).result,
      ).toBe('success');
      expect(idlePool.size).toBe(1);
    } finally {
      idlePool.close();
      await other.stop();
    }
  });

  it('an aborted attempt is unknown/ProbeAborted and cancels the call', async () => {
    launcher.guest = { guest: 'hangs' };
    const ac = new AbortController();
    const pending = exec('sleep', ['60'], 10_000, ac.signal);
    // Abort once the launcher has the call (an event, not a sleep).
    await expect.poll(() => launcher.calls.at(-1)?.method === 'Exec' && launcher.calls.at(-1)).toBeTruthy();
    ac.abort();
    expect(await pending).toMatchObject({ result: 'unknown', reason: 'ProbeAborted' });
  });
});

describe('guest probers: a launcher socket that cannot be used is unknown, never failure', () => {
  let root: string;
  const pool = new LauncherClientPool();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vl-'));
  });
  afterAll(async () => {
    pool.close();
    await rm(root, { recursive: true, force: true });
  });

  it('no socket file: unknown with the socket path in the reason', async () => {
    const socketPath = join(root, 'nopod', SOCKET_SUFFIX);
    for (const out of [
      await probeExec(
        { type: 'exec', socketPath, domainName: DOMAIN, command: 'true', args: [] },
        { timeoutMs: 1000 },
        undefined,
        pool,
      ),
      await probeGuestPing(
        { type: 'guestAgentPing', socketPath, domainName: DOMAIN },
        { timeoutMs: 1000 },
        undefined,
        pool,
      ),
    ]) {
      expect(out).toMatchObject({ result: 'unknown', reason: 'ProbeError' });
      expect(out.message).toContain(`cannot reach the launcher command socket ${socketPath}`);
    }
  });

  it('a file that is not a listening socket: unknown', async () => {
    const socketPath = join(root, 'plainfile');
    await writeFile(socketPath, '');
    const out = await probeGuestPing(
      { type: 'guestAgentPing', socketPath, domainName: DOMAIN },
      { timeoutMs: 1000 },
      undefined,
      pool,
    );
    expect(out).toMatchObject({ result: 'unknown', reason: 'ProbeError' });
  });

  it('a launcher that speaks only another cmd version: unknown', async () => {
    const l = await startFakeLauncher({
      podsRoot: root,
      podUid: 'v2pod',
      domainName: DOMAIN,
      supportedCmdVersions: [2],
    });
    try {
      const out = await probeGuestPing(
        { type: 'guestAgentPing', socketPath: l.socketPath, domainName: DOMAIN },
        { timeoutMs: 1000 },
        undefined,
        pool,
      );
      expect(out).toMatchObject({ result: 'unknown', reason: 'ProbeError' });
      expect(out.message).toContain('cmd versions [2]');
      expect(l.calls.some((c) => c.method === 'GuestPing')).toBe(false);
    } finally {
      await l.stop();
    }
  });

  it('a launcher that goes away between probes: unknown, then success again once it is back', async () => {
    const opts = { podsRoot: root, podUid: 'bounce', domainName: DOMAIN };
    let l = await startFakeLauncher(opts);
    const target = { type: 'guestAgentPing' as const, socketPath: l.socketPath, domainName: DOMAIN };
    expect((await probeGuestPing(target, { timeoutMs: 1000 }, undefined, pool)).result).toBe('success');
    await l.stop();
    expect((await probeGuestPing(target, { timeoutMs: 1000 }, undefined, pool)).result).toBe('unknown');
    l = await startFakeLauncher(opts);
    try {
      await expect
        .poll(async () => (await probeGuestPing(target, { timeoutMs: 1000 }, undefined, pool)).result, {
          timeout: 20_000,
          interval: 200,
        })
        .toBe('success');
    } finally {
      await l.stop();
    }
  });
});
