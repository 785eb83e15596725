// The built `vmprobe probe` command, spawned as a user would run it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, startHttpServer, type TestServer } from './helpers/servers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${root}agent/bin/vmprobe.js`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
/** dropNetRaw: run as root without CAP_NET_RAW (util-linux `setpriv` drops it from the bounding and
 *  inheritable sets), as a container with `capabilities.drop: [NET_RAW]` runs. Unlike switching to an
 *  unprivileged uid, this does not depend on the checkout being readable by that uid. */
function vmprobe(args: string[], opts: { dropNetRaw?: boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, cmdArgs] = opts.dropNetRaw
      ? ['setpriv', ['--bounding-set=-net_raw', '--inh-caps=-net_raw', process.execPath, bin, ...args]]
      : [process.execPath, [bin, ...args]];
    const child = spawn(cmd, cmdArgs, { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
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

let server: TestServer;
let closedPort: number;
const seenHeaders: Record<string, string | string[] | undefined>[] = [];

beforeAll(async () => {
  if (!existsSync(`${root}agent/bundle/vmprobe.js`)) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  server = await startHttpServer((req, res) => {
    seenHeaders.push(req.headers);
    if (req.url === '/500') res.writeHead(500).end();
    else if (req.url === '/away') res.writeHead(302, { Location: 'http://127.0.0.2:9/' }).end('bye');
    else if (req.url === '/hang') return;
    else res.end('ok');
  });
  const tmp = await startHttpServer(() => {});
  closedPort = tmp.port;
  await tmp.close();
});
afterAll(() => server.close());

describe('vmprobe probe', () => {
  it('http success: one line, exit 0; a host name is resolved', async () => {
    const r = await vmprobe(['probe', `http://localhost:${server.port}/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^success: HTTP probe succeeded with statuscode: 200 \[ProbeSucceeded, http:\/\/localhost:\d+\/, [\d.]+ ms\]\n$/,
    );
  });

  it('http failure with --json: exit 1 and the outcome as JSON', async () => {
    const r = await vmprobe(['probe', `http://127.0.0.1:${server.port}/500`, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      url: `http://127.0.0.1:${server.port}/500`,
      target: { type: 'http', host: '127.0.0.1', port: server.port, path: '/500' },
      outcome: {
        result: 'failure',
        reason: 'ProbeFailed',
        message: 'HTTP probe failed with statuscode: 500',
      },
    });
  });

  it('an off-host redirect is a warning: exit 0', async () => {
    const r = await vmprobe(['probe', `http://127.0.0.1:${server.port}/away`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^warning: Probe terminated redirects, Response body: bye/);
  });

  it('--header is sent; --timeout bounds the attempt', async () => {
    const r = await vmprobe([
      'probe',
      `http://127.0.0.1:${server.port}/h`,
      '--header',
      'X-Probe: one',
      '--header',
      'Host: vm.test',
    ]);
    expect(r.code).toBe(0);
    expect(seenHeaders.at(-1)).toMatchObject({ 'x-probe': 'one', host: 'vm.test' });
    const t = await vmprobe(['probe', `http://127.0.0.1:${server.port}/hang`, '--timeout', '0.3', '--json']);
    expect(t.code).toBe(1);
    expect(JSON.parse(t.stdout).outcome).toMatchObject({ result: 'failure', reason: 'ProbeTimeout' });
  });

  it('tcp open exits 0, closed exits 1', async () => {
    expect((await vmprobe(['probe', `tcp://127.0.0.1:${server.port}`])).code).toBe(0);
    const closed = await vmprobe(['probe', `tcp://127.0.0.1:${closedPort}`]);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toContain('connect: connection refused');
  });

  it.skipIf(!isRoot)('icmp to 127.0.0.1 exits 0; without CAP_NET_RAW unknown and exit 1', async () => {
    const ok = await vmprobe(['probe', 'icmp://127.0.0.1']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^success: ICMP echo reply from 127.0.0.1/);
    const unpriv = await vmprobe(['probe', 'icmp://127.0.0.1'], { dropNetRaw: true });
    expect(unpriv.code).toBe(1);
    expect(unpriv.stdout).toMatch(/^unknown: ICMP needs CAP_NET_RAW/);
  });
  if (!isRoot)
    console.log(
      'probe-cli: not root, skipping the icmp test (needs CAP_NET_RAW, and root to drop it with setpriv)',
    );

  it.each([
    [['probe', 'ftp://127.0.0.1/'], 'unknown scheme "ftp": use http, https, tcp or icmp'],
    [['probe', 'http://127.0.0.1:70000/'], 'port 70000 out of range: must be between 1 and 65535'],
    [['probe', 'tcp://127.0.0.1'], 'tcp:// needs a port'],
    [['probe', 'icmp://127.0.0.1:80'], 'icmp:// takes a host only'],
    [
      ['probe', 'http://127.0.0.1/', '--header', 'no colon'],
      'malformed header "no colon": expected \'Name: value\'',
    ],
    [['probe', 'http://127.0.0.1/', '--header', 'Bad Name: x'], 'invalid header name "Bad Name"'],
    [['probe', 'http://127.0.0.1/', '--timeout', '0'], 'invalid --timeout "0"'],
    [['probe', 'tcp://127.0.0.1:1', '--header', 'A: b'], '--header applies to http:// and https:// only'],
    [['probe'], "missing required argument 'url'"],
    [['probe', 'http://127.0.0.1/', '--bogus'], "unknown option '--bogus'"],
  ])('bad usage %j exits 2 and says what is wrong', async (args, message) => {
    const r = await vmprobe(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });
});
