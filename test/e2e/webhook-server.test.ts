// `vmprobe webhook`'s HTTPS port: bad bodies → 400, TLS 1.2+ only, /healthz /readyz /metrics on
// the same port, the serving certificate re-read on change without dropping a request in flight,
// and the CLI (bad flags exit 2; against the emulator it serves and stops on SIGTERM with exit 0).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import {
  AdmissionHandler,
  type VmiLookup,
  type VmiReader,
  WebhookMetrics,
  WebhookServer,
} from '@vmprobe/agent/webhook/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startEmulator } from '../src/emulator/index.js';
import { WEBHOOK_USER } from '../src/webhook.js';
import { issueServing, makeCa } from '../src/webhook-certs.js';
import { freePort, spawnNode } from './cli-process.js';

const ca = makeCa();
const DNS = ['vmprobe-webhook.vmprobe-system.svc'];
let dir: string;
let certFile: string;
let keyFile: string;

async function writePair(): Promise<string> {
  const p = issueServing(ca, DNS);
  await writeFile(keyFile, p.keyPem);
  await writeFile(certFile, p.certPem);
  return p.certPem;
}

/** A reader whose answers the test releases. */
class GatedReader implements VmiReader {
  private waiting: Array<() => void> = [];
  private onHeld: (() => void) | undefined;
  hold = false;
  /** Resolves when a read is being held. */
  held(): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onHeld = resolve;
    });
  }
  get(_ns: string, name: string): Promise<VmiLookup> {
    const answer: VmiLookup = {
      found: true,
      vmi: { metadata: { name }, spec: { readinessProbe: { tcpSocket: { port: 80 } } } },
    };
    if (!this.hold) return Promise.resolve(answer);
    return new Promise((resolve) => {
      this.waiting.push(() => resolve(answer));
      this.onHeld?.();
      this.onHeld = undefined;
    });
  }
  pending(): number {
    return this.waiting.length;
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

const reader = new GatedReader();
let server: WebhookServer;
let port: number;

function post(body: string, agentOpts: { servername?: string } = {}) {
  return new Promise<{ status: number; body: string; fingerprint?: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mutate-v1-pod?timeout=5s',
        ca: ca.pem,
        servername: agentOpts.servername ?? DNS[0],
        agent: false,
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        const fp = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, fingerprint: fp }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(path: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, ca: ca.pem, servername: DNS[0], agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    })
      .on('error', reject)
      .end();
  });
}

function peer(opts: { minVersion?: 'TLSv1' | 'TLSv1.2'; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' }) {
  return new Promise<PeerCertificate>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: ca.pem, servername: DNS[0], ...opts }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}

const launcherReview = (uid: string) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      operation: 'CREATE',
      namespace: 'ns',
      resource: { group: '', version: 'v1', resource: 'pods' },
      object: {
        metadata: {
          labels: { 'kubevirt.io': 'virt-launcher' },
          ownerReferences: [
            { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'v', uid: 'u' },
          ],
        },
        spec: { containers: [] },
      },
    },
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vmprobe-webhook-test-'));
  certFile = join(dir, 'tls.crt');
  keyFile = join(dir, 'tls.key');
  await writePair();
  const metrics = new WebhookMetrics({ version: 'test', processMetrics: false });
  server = new WebhookServer({
    listen: '127.0.0.1:0',
    certFile,
    keyFile,
    handler: new AdmissionHandler({ reader, metrics }),
    metrics,
    certPollMs: 50,
  });
  port = (await server.start()).port;
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('vmprobe webhook HTTPS port', () => {
  it('answers an AdmissionReview with the gate patch and the request uid', async () => {
    const r = await post(launcherReview('uid-1'));
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.response.uid).toBe('uid-1');
    expect(body.response.allowed).toBe(true);
    expect(JSON.parse(Buffer.from(body.response.patch, 'base64').toString())).toEqual([
      { op: 'add', path: '/spec/readinessGates', value: [{ conditionType: 'vmprobe.io/ReadinessProbe' }] },
    ]);
  });

  it('answers 400 with a message for a body that is not an AdmissionReview, and keeps serving', async () => {
    const bad = await post('{"kind":"Pod"}');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/expected kind AdmissionReview/);
    const garbage = await post('\u0000garbage');
    expect(garbage.status).toBe(400);
    expect((await post(launcherReview('uid-2'))).status).toBe(200);
  });

  it('speaks TLS 1.2 and 1.3, never older', async () => {
    expect((await peer({ maxVersion: 'TLSv1.2' })).subject).toBeDefined();
    expect((await peer({ maxVersion: 'TLSv1.3' })).subject).toBeDefined();
    await expect(peer({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it('serves /healthz, /readyz and /metrics on the same port', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/vmprobe_webhook_admissions_total\{decision="patched"\} \d+/);
    expect(m.body).toMatch(/vmprobe_webhook_bad_requests_total [1-9]/);
    expect(m.body).toMatch(/vmprobe_webhook_admission_duration_seconds_count \d+/);
    expect(m.body).toMatch(/vmprobe_webhook_certificate_expiry_timestamp_seconds \d/);
  });

  it('re-reads a rotated certificate: a request in flight finishes, new connections get the new certificate', async () => {
    const before = (await peer({})).fingerprint256;
    reader.hold = true;
    const inFlight = post(launcherReview('uid-in-flight'));
    await reader.held(); // the request is inside the handler, its VMI read held
    expect(reader.pending()).toBe(1);
    const reloaded = new Promise((resolve) => {
      const off = server.onReload((p) => {
        off();
        resolve(p);
      });
    });
    await writePair();
    await reloaded;
    reader.hold = false;
    reader.release();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).response.uid).toBe('uid-in-flight');
    expect(r.fingerprint).toBe(before); // served on its old connection
    const after = (await peer({})).fingerprint256;
    expect(after).not.toBe(before);
    expect(after).toBe(server.certificate()?.fingerprint256);
  });

  it('keeps the old certificate while the new files do not make a pair', async () => {
    const before = server.certificate()?.fingerprint256;
    await writeFile(keyFile, issueServing(ca, DNS).keyPem); // key of another certificate
    server.checkCertificate();
    expect(server.certificate()?.fingerprint256).toBe(before);
    expect((await peer({})).fingerprint256).toBe(before);
    const reloaded = new Promise((resolve) => {
      const off = server.onReload((p) => {
        off();
        resolve(p);
      });
    });
    await writePair();
    await reloaded;
    expect(server.certificate()?.fingerprint256).not.toBe(before);
  });
});

// --- the CLI ------------------------------------------------------------------------------------

const BIN = join(REPO_ROOT, 'agent/bin/vmprobe.js');

function run(args: string[]) {
  return spawnNode([BIN, 'webhook', ...args]);
}

describe('vmprobe webhook CLI', () => {
  it.each([
    [[], 'tls-cert-file'],
    [['--tls-cert-file', '/nonexistent.crt'], 'tls-private-key-file'],
    [['--tls-cert-file', '/nonexistent.crt', '--tls-private-key-file', '/nonexistent.key'], 'cannot load'],
    [['--tls-cert-file', 'CERT', '--tls-private-key-file', 'KEY', '--listen', 'nowhere'], 'listen address'],
    [
      ['--tls-cert-file', 'CERT', '--tls-private-key-file', 'KEY', '--kubeconfig', '/nonexistent/kubeconfig'],
      'no such file',
    ],
  ])('%j exits 2 naming the problem', async (args, words) => {
    const p = run(args.map((a) => (a === 'CERT' ? certFile : a === 'KEY' ? keyFile : a)));
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(words);
  });

  it('serves against the emulator until SIGTERM, then exits 0', async () => {
    const emu = await startEmulator();
    const kubeconfig = join(dir, 'kubeconfig');
    await emu.writeKubeconfig(WEBHOOK_USER, kubeconfig);
    const cliPort = await freePort();
    const p = run([
      '--tls-cert-file',
      certFile,
      '--tls-private-key-file',
      keyFile,
      '--listen',
      `127.0.0.1:${cliPort}`,
      '--kubeconfig',
      kubeconfig,
    ]);
    try {
      const saved = port;
      port = cliPort;
      let healthy: { status: number } | undefined;
      for (let i = 0; i < 200 && !healthy; i++) {
        healthy = await get('/healthz').catch(() => undefined);
        if (!healthy) await new Promise((r) => setTimeout(r, 50));
      }
      expect(healthy?.status).toBe(200);
      // VMI v does not exist in the emulator: allowed, no patch.
      const r = await post(launcherReview('uid-cli'));
      port = saved;
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).response).toEqual({ uid: 'uid-cli', allowed: true });
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain('vmprobe webhook starting');
    } finally {
      p.child.kill('SIGKILL');
      await emu.stop();
    }
  });
});
