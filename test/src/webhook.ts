/**
 * The real `vmprobe webhook` in the test bed, wired as on a cluster: its serving certificate (issued
 * by a CA, as cert-manager's CA Issuer does) in files it re-reads on change, the shipped
 * MutatingWebhookConfiguration (manifests/webhook) with that CA as caBundle, and the Service
 * `vmprobe-system/vmprobe-webhook:443` mapped to the in-process server's local address. The webhook
 * reads VMIs as its own service account, so with RBAC enforced the shipped ClusterRole is proven.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmiReader } from '@vmprobe/agent/kube/vmi-reader';
import { type Logger, silentLogger } from '@vmprobe/agent/log';
import { AdmissionHandler, type TlsPair, WebhookMetrics, WebhookServer } from '@vmprobe/agent/webhook/index';
import { parseAllDocuments } from 'yaml';
import type { Emulator } from './emulator/index.js';
import { REPO_ROOT } from './emulator/index.js';
import { issueServing, makeCa, type TestCa } from './webhook-certs.js';

export const WEBHOOK_USER = 'system:serviceaccount:vmprobe-system:vmprobe-webhook';
export const WEBHOOK_SERVICE = { namespace: 'vmprobe-system', name: 'vmprobe-webhook', port: 443 };
export const WEBHOOK_DNS_NAMES = [
  'vmprobe-webhook.vmprobe-system.svc',
  'vmprobe-webhook.vmprobe-system.svc.cluster.local',
];
export const WEBHOOK_MANIFEST = join(REPO_ROOT, 'manifests/webhook/mutatingwebhookconfiguration.yaml');
export const WEBHOOK_RBAC_FILE = join(REPO_ROOT, 'manifests/webhook/rbac.yaml');

export interface ReadinessWebhookOptions {
  /** Overrides the shipped failurePolicy. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Overrides the shipped timeoutSeconds. */
  timeoutSeconds?: number;
  /** Certificate poll interval of the server (default 100 ms: tests wait for the reload event). */
  certPollMs?: number;
  /** The VMI read deadline (default the product's). */
  vmiReadTimeoutMs?: number;
  logger?: Logger;
}

export interface ReadinessWebhook {
  readonly server: WebhookServer;
  readonly metrics: WebhookMetrics;
  readonly ca: TestCa;
  readonly certFile: string;
  readonly keyFile: string;
  /** The local address the Service is mapped to. */
  readonly port: number;
  /** Writes a new serving certificate (same CA) over the files; resolves once the server uses it. */
  rotateCertificate(): Promise<TlsPair>;
  /** Stops the server (the configuration stays: the webhook is "down"); start() serves again on the same port. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops the server, deletes the configuration and the files. Idempotent. */
  stop(): Promise<void>;
}

export async function startReadinessWebhook(
  emu: Emulator,
  opts: ReadinessWebhookOptions = {},
): Promise<ReadinessWebhook> {
  const ca = makeCa();
  const dir = await mkdtemp(join(tmpdir(), 'vmprobe-webhook-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const writePair = async () => {
    const pair = issueServing(ca, WEBHOOK_DNS_NAMES);
    // Key first, then certificate: the server sees a mismatched pair in between, refuses it and
    // keeps the old one until the next poll (what a non-atomic rewrite would look like).
    await writeFile(keyFile, pair.keyPem);
    await writeFile(certFile, pair.certPem);
  };
  await writePair();
  const metrics = new WebhookMetrics({ version: 'test', processMetrics: false });
  const logger = opts.logger ?? silentLogger;
  const handler = new AdmissionHandler({
    reader: createVmiReader(emu.kubeConfig(WEBHOOK_USER)),
    metrics,
    logger,
    ...(opts.vmiReadTimeoutMs !== undefined ? { vmiReadTimeoutMs: opts.vmiReadTimeoutMs } : {}),
  });
  let port = 0;
  const makeServer = () =>
    new WebhookServer({
      listen: `127.0.0.1:${port}`,
      certFile,
      keyFile,
      handler,
      metrics,
      logger,
      certPollMs: opts.certPollMs ?? 100,
    });
  let server = makeServer();
  port = (await server.start()).port;
  emu.webhooks.mapService(WEBHOOK_SERVICE, { host: '127.0.0.1', port });

  const config = parseAllDocuments(readFileSync(WEBHOOK_MANIFEST, 'utf8'))[0]!.toJS() as {
    metadata: { name: string };
    webhooks: Record<string, unknown>[];
  };
  for (const w of config.webhooks) {
    (w.clientConfig as Record<string, unknown>).caBundle = Buffer.from(ca.pem).toString('base64');
    if (opts.failurePolicy) w.failurePolicy = opts.failurePolicy;
    if (opts.timeoutSeconds !== undefined) w.timeoutSeconds = opts.timeoutSeconds;
  }
  emu.store.create(config);

  let stopped = false;
  const hook: ReadinessWebhook = {
    get server() {
      return server;
    },
    metrics,
    ca,
    certFile,
    keyFile,
    port,
    async rotateCertificate() {
      const reloaded = new Promise<TlsPair>((resolve) => {
        const off = server.onReload((p) => {
          off();
          resolve(p);
        });
      });
      await writePair();
      return reloaded;
    },
    async stopServer() {
      await server.stop();
    },
    async startServer() {
      server = makeServer();
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      emu.webhooks.unmapService(WEBHOOK_SERVICE);
      try {
        emu.store.delete({
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'MutatingWebhookConfiguration',
          name: config.metadata.name,
        });
      } catch {
        // already gone (the emulator may be stopped)
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return hook;
}
