// Fidelity: HTTPS with the emulator's own CA — kubeconfig with certificate-authority-data,
// a kubeconfig file, and in-cluster config (loadFromCluster) from inClusterDir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, VMPROBE_AGENT_USER } from '../src/emulator/index.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ tls: true });
  dir = await mkdtemp(join(tmpdir(), 'emu-tls-'));
});
afterAll(async () => {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('emulator over https', () => {
  it('serves https with a certificate the emitted CA verifies', async () => {
    expect(emu.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emu.caPem).toContain('BEGIN CERTIFICATE');
    const kc = emu.kubeConfig('admin');
    expect(kc.getCurrentCluster()?.skipTLSVerify).toBe(false);
    const ns = await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(ns.items.map((n) => n.metadata?.name)).toContain('default');
  });

  it('a client without the CA is rejected by TLS verification', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: emu.url, skipTLSVerify: false }],
      users: [{ name: 'u', token: emu.tokenFor('admin') }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await expect(kc.makeApiClient(CoreV1Api).listNamespace()).rejects.toThrow(
      /certificate|self.signed|issuer/i,
    );
  });

  it('a written kubeconfig file (certificate-authority-data + token) works with loadFromFile', async () => {
    const file = join(dir, 'kubeconfig');
    await emu.writeKubeconfig('admin', file);
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const list = await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachineinstances',
    });
    expect(list.items).toEqual([]);
  });

  it('in-cluster config: loadFromCluster(inClusterDir) with KUBERNETES_SERVICE_HOST/PORT', async () => {
    const root = await emu.inClusterDir(VMPROBE_AGENT_USER);
    const url = new URL(emu.url);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = url.hostname;
    process.env.KUBERNETES_SERVICE_PORT = url.port;
    try {
      const kc = new KubeConfig();
      kc.loadFromCluster(root);
      expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('vmprobe-system');
      await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' });
      const rec = emu.requests.filter({ user: VMPROBE_AGENT_USER, resource: 'pods' });
      expect(rec).toHaveLength(1);
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});
