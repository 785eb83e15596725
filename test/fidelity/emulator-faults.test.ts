// Fidelity: fault injection (latency, 5xx, 429 Retry-After, dropped watches, outage) and the request log.
import { CoreV1Api, ListWatch, type V1Pod, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiFailure,
  type Emulator,
  startEmulator,
  VMPROBE_AGENT_USER,
  waitFor,
} from '../src/emulator/index.js';

let emu: Emulator;
let core: CoreV1Api;

beforeAll(async () => {
  emu = await startEmulator();
  core = emu.kubeConfig('admin').makeApiClient(CoreV1Api);
});
afterAll(async () => {
  await emu.stop();
});

describe('emulator faults and request log', () => {
  it('a 429 storm answers TooManyRequests with Retry-After for the matching verb only, then ends', async () => {
    const remove = emu.faults.tooManyRequests({ verb: 'list', retryAfterSeconds: 7, count: 2 });
    const f = await apiFailure(core.listNamespacedPod({ namespace: 'default' }));
    expect(f.code).toBe(429);
    expect(f.status.reason).toBe('TooManyRequests');
    expect(f.status.details?.retryAfterSeconds).toBe(7);
    expect(f.headers['retry-after']).toBe('7');
    await core.readNamespace({ name: 'default' }); // other verbs unaffected
    expect((await apiFailure(core.listNamespacedPod({ namespace: 'default' }))).code).toBe(429);
    await core.listNamespacedPod({ namespace: 'default' }); // count exhausted
    remove();
  });

  it('error rates per path answer 500/503 Status objects; latency delays', async () => {
    emu.faults.random = () => 0; // deterministic: every matching request fails
    const remove = emu.faults.errorRate(0.5, 503, { path: /\/namespaces\/default\/services/ });
    const f = await apiFailure(core.listNamespacedService({ namespace: 'default' }));
    expect(f.code).toBe(503);
    expect(f.status.reason).toBe('ServiceUnavailable');
    remove();
    const r2 = emu.faults.errorRate(1, 500, { verb: 'create' });
    const g = await apiFailure(
      core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'x' } } }),
    );
    expect(g.code).toBe(500);
    expect(g.status.reason).toBe('InternalError');
    r2();
    emu.faults.random = Math.random;
    const r3 = emu.faults.latency(150, { verb: 'get' });
    const t0 = performance.now();
    await core.readNamespace({ name: 'default' });
    const took = performance.now() - t0;
    r3();
    const rec = emu.requests.filter({ verb: 'get', resource: 'namespaces' }).at(-1);
    expect(rec?.durationMs).toBeGreaterThanOrEqual(150);
    expect(took).toBeGreaterThanOrEqual(150);
  });

  it('an outage refuses connections; after recovery state and resourceVersions continue', async () => {
    const before = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'kept' } },
    });
    await emu.faults.outage(true);
    const err = await core.listNamespacedConfigMap({ namespace: 'default' }).then(
      () => undefined,
      (e: Error & { code?: unknown; cause?: { code?: string } }) => e,
    );
    expect(err).toBeDefined();
    expect(JSON.stringify(err?.message) + String(err?.code) + String(err?.cause?.code)).toMatch(
      /ECONNREFUSED/,
    );
    await emu.faults.outage(false);
    const kept = await core.readNamespacedConfigMap({ namespace: 'default', name: 'kept' });
    expect(kept.metadata?.uid).toBe(before.metadata?.uid);
    const next = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'after' } },
    });
    expect(Number(next.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
  });

  it('dropAllWatches ends streams cleanly; a ListWatch re-watches from its resourceVersion without relisting', async () => {
    let lists = 0;
    const lw = new ListWatch<V1Pod>(
      '/api/v1/namespaces/default/pods',
      new Watch(emu.kubeConfig('admin')),
      () => {
        lists++;
        return core.listNamespacedPod({ namespace: 'default' });
      },
      false,
    );
    await lw.start();
    await waitFor(() => emu.faults.dropAllWatches() > 0, 'an open watch to drop');
    emu.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'after-drop', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    await waitFor(() => lw.get('after-drop', 'default'), 'event after re-watch');
    expect(lists).toBe(1);
    await lw.stop();
  });

  it('the request log records user, verb, resource, subresource, content type and status; writes are queryable', async () => {
    const t = Date.now();
    const agent = emu.kubeConfig(VMPROBE_AGENT_USER).makeApiClient(CoreV1Api);
    await agent.listNamespacedPod({ namespace: 'default' });
    await agent.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'logged' } } });
    const writes = emu.requests.writes({ since: t, user: VMPROBE_AGENT_USER });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({
      verb: 'create',
      resource: 'configmaps',
      namespace: 'default',
      status: 201,
      contentType: 'application/json',
      method: 'POST',
    });
    expect(emu.requests.count({ since: t, verb: 'list', resource: 'pods', user: VMPROBE_AGENT_USER })).toBe(
      1,
    );
    expect(emu.requests.writes({ since: t, resource: 'virtualmachineinstances' })).toHaveLength(0);
  });
});
