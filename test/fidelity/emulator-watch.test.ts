// Fidelity: list/watch semantics (resourceVersion, 410, bookmarks, selectors, pagination) via client-node.
import { CoreV1Api, CustomObjectsApi, ListWatch, type V1Pod, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFailure, type Emulator, startEmulator, waitFor } from '../src/emulator/index.js';

let emu: Emulator;
let core: CoreV1Api;

const mkPod = (name: string, labels: Record<string, string> = {}, nodeName?: string): V1Pod => ({
  metadata: { name, labels },
  spec: { containers: [{ name: 'c', image: 'i' }], nodeName },
});

interface Ev {
  type: string;
  obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string };
}

/** Opens a raw watch and collects its events until done. */
async function collect(path: string, params: Record<string, string | number | boolean | undefined>) {
  const events: Ev[] = [];
  let done = false;
  let doneErr: unknown;
  const ctl = await new Watch(emu.kubeConfig('admin')).watch(
    path,
    params,
    (type, obj) => events.push({ type, obj }),
    (err) => {
      done = true;
      doneErr = err;
    },
  );
  return { events, isDone: () => done, err: () => doneErr, abort: () => ctl.abort() };
}

beforeAll(async () => {
  emu = await startEmulator({ historySize: 50, bookmarkIntervalMs: 50 });
  core = emu.kubeConfig('admin').makeApiClient(CoreV1Api);
});
afterAll(async () => {
  await emu.stop();
});

describe('emulator list/watch', () => {
  it('a ListWatch informer sees add, update and delete', async () => {
    const path = '/api/v1/namespaces/default/pods';
    const lw = new ListWatch<V1Pod>(
      path,
      new Watch(emu.kubeConfig('admin')),
      () => core.listNamespacedPod({ namespace: 'default' }),
      false,
    );
    const seen: string[] = [];
    lw.on('add', (p) => seen.push(`add:${p.metadata?.name}`));
    lw.on('update', (p) => seen.push(`update:${p.metadata?.name}:${p.metadata?.labels?.v}`));
    lw.on('delete', (p) => seen.push(`delete:${p.metadata?.name}`));
    await lw.start();
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('w1') });
    await core.patchNamespacedPod({
      namespace: 'default',
      name: 'w1',
      body: [{ op: 'add', path: '/metadata/labels/v', value: '2' }],
    });
    await core.deleteNamespacedPod({ namespace: 'default', name: 'w1' });
    await waitFor(() => seen.includes('delete:w1'), 'delete event');
    expect(seen).toEqual(['add:w1', 'update:w1:2', 'delete:w1']);
    await lw.stop();
  });

  it('watch from a resourceVersion replays exactly the later events', async () => {
    const a = await core.createNamespacedPod({ namespace: 'default', body: mkPod('w2') });
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('w3') });
    await core.deleteNamespacedPod({ namespace: 'default', name: 'w2' });
    const w = await collect('/api/v1/namespaces/default/pods', {
      resourceVersion: a.metadata?.resourceVersion,
    });
    await waitFor(() => w.events.length >= 2, 'replayed events');
    expect(w.events.map((e) => `${e.type}:${e.obj.metadata?.name}`)).toEqual(['ADDED:w3', 'DELETED:w2']);
    w.abort();
  });

  it('a compacted resourceVersion yields an ERROR event with a 410 Expired Status, then the stream ends', async () => {
    const first = await core.createNamespacedPod({ namespace: 'default', body: mkPod('w4') });
    for (let i = 0; i < 60; i++) {
      await core.patchNamespacedPod({
        namespace: 'default',
        name: 'w4',
        body: [{ op: 'add', path: '/metadata/labels/i', value: String(i) }],
      });
    }
    const w = await collect('/api/v1/namespaces/default/pods', {
      resourceVersion: first.metadata?.resourceVersion,
    });
    await waitFor(() => w.isDone(), 'stream end');
    expect(w.events).toHaveLength(1);
    expect(w.events[0]?.type).toBe('ERROR');
    expect(w.events[0]?.obj.code).toBe(410);
    expect(w.events[0]?.obj.reason).toBe('Expired');
    // An Exact list at that version is 410 too; NotOlderThan is served from the current state.
    const rv = first.metadata?.resourceVersion;
    const f = await apiFailure(
      core.listNamespacedPod({ namespace: 'default', resourceVersion: rv, resourceVersionMatch: 'Exact' }),
    );
    expect(f.code).toBe(410);
    const cur = await core.listNamespacedPod({
      namespace: 'default',
      resourceVersion: rv,
      resourceVersionMatch: 'NotOlderThan',
    });
    expect(cur.items.some((p) => p.metadata?.name === 'w4')).toBe(true);
  });

  it('an informer recovers from a forced 410 by relisting', async () => {
    const lw = new ListWatch<V1Pod>(
      '/api/v1/namespaces/default/pods',
      new Watch(emu.kubeConfig('admin')),
      () => core.listNamespacedPod({ namespace: 'default' }),
      false,
    );
    let lists = 0;
    lw.on('connect', () => lists++);
    await lw.start();
    emu.faults.forceGoneOnNextWatch();
    emu.faults.dropAllWatches();
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('w5') });
    await waitFor(() => lw.get('w5', 'default'), 'informer has w5 after 410 + relist');
    expect(lists).toBeGreaterThanOrEqual(2);
    await lw.stop();
  });

  it('bookmarks arrive when asked for, with the current resourceVersion', async () => {
    const w = await collect('/api/v1/namespaces/default/pods', {
      allowWatchBookmarks: true,
      resourceVersion: emu.store.resourceVersion,
    });
    await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'), 'a bookmark');
    const b = w.events.find((e) => e.type === 'BOOKMARK');
    expect(b?.obj.metadata?.resourceVersion).toBe(emu.store.resourceVersion);
    w.abort();
    const plain = await collect('/api/v1/namespaces/default/pods', {
      resourceVersion: emu.store.resourceVersion,
      timeoutSeconds: 1,
    });
    await waitFor(() => plain.isDone(), 'timeoutSeconds ends the watch', 3000);
    expect(plain.events.filter((e) => e.type === 'BOOKMARK')).toHaveLength(0);
  });

  it('watch headers are flushed at once (before any event)', async () => {
    const ctl = new AbortController();
    const res = await fetch(
      `${emu.url}/api/v1/namespaces/empty-ns-x/pods?watch=true&resourceVersion=${emu.store.resourceVersion}`,
      {
        headers: { authorization: `Bearer ${emu.tokenFor('admin')}` },
        signal: ctl.signal,
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    ctl.abort();
  });

  it('label selectors (set-based) and pod field selectors filter lists and watches; leaving the selector is DELETED', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: mkPod('s1', { tier: 'a', env: 'prod' }, 'node-1'),
    });
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('s2', { tier: 'b' }, 'node-2') });
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('s3', { tier: 'c' }, 'node-1') });
    const names = async (o: { labelSelector?: string; fieldSelector?: string }) =>
      (await core.listNamespacedPod({ namespace: 'default', ...o })).items
        .map((p) => p.metadata?.name)
        .sort();
    expect(await names({ labelSelector: 'tier in (a,b)' })).toEqual(['s1', 's2']);
    expect(await names({ labelSelector: 'tier notin (a,b),tier' })).toEqual(['s3']);
    expect(await names({ labelSelector: 'env' })).toEqual(['s1']);
    expect(await names({ labelSelector: 'tier,!env' })).toEqual(['s2', 's3']);
    expect(await names({ labelSelector: 'tier!=a,tier' })).toEqual(['s2', 's3']);
    expect(await names({ fieldSelector: 'spec.nodeName=node-1' })).toEqual(['s1', 's3']);
    expect(await names({ fieldSelector: 'spec.nodeName=node-1,metadata.name!=s1' })).toEqual(['s3']);
    expect(await names({ fieldSelector: 'status.phase=Pending,spec.nodeName=node-2' })).toEqual(['s2']);

    const w = await collect('/api/v1/pods', {
      fieldSelector: 'spec.nodeName=node-1',
      labelSelector: 'tier=a',
      resourceVersion: emu.store.resourceVersion,
    });
    await core.patchNamespacedPod({
      namespace: 'default',
      name: 's1',
      body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'z' }],
    });
    await core.patchNamespacedPod({
      namespace: 'default',
      name: 's3',
      body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'a' }],
    });
    await core.patchNamespacedPod({
      namespace: 'default',
      name: 's2',
      body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'a' }],
    });
    await waitFor(() => w.events.length >= 2, 'selector transition events');
    expect(w.events.map((e) => `${e.type}:${e.obj.metadata?.name}`)).toEqual(['DELETED:s1', 'ADDED:s3']);
    w.abort();
  });

  it('custom resources accept only metadata.name/metadata.namespace field selectors (else 400)', async () => {
    const custom = emu.kubeConfig('admin').makeApiClient(CustomObjectsApi);
    const args = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
    const ok = await custom.listClusterCustomObject({ ...args, fieldSelector: 'metadata.namespace=default' });
    expect(ok.items).toEqual([]);
    const f = await apiFailure(
      custom.listClusterCustomObject({ ...args, fieldSelector: 'status.nodeName=node-1' }),
    );
    expect(f.code).toBe(400);
    expect(f.status.reason).toBe('BadRequest');
    expect(f.status.message).toBe('field label not supported: status.nodeName');
    const g = await apiFailure(core.listNamespacedPod({ namespace: 'default', labelSelector: 'a in (' }));
    expect(g.code).toBe(400);
  });

  it('limit/continue pages through a list at one resourceVersion', async () => {
    await core.createNamespace({ body: { metadata: { name: 'paged' } } });
    for (let i = 0; i < 7; i++) await core.createNamespacedPod({ namespace: 'paged', body: mkPod(`p${i}`) });
    const seen: string[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await core.listNamespacedPod({ namespace: 'paged', limit: 3, _continue: cont });
      seen.push(...page.items.map((p) => p.metadata?.name as string));
      rv ??= page.metadata?.resourceVersion;
      expect(page.metadata?.resourceVersion).toBe(rv);
      cont = page.metadata?._continue;
      if (cont) expect(page.metadata?.remainingItemCount).toBe(7 - seen.length);
    } while (cont);
    expect(seen).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });

  it('a cluster-wide watch sees every namespace; a namespaced one only its own', async () => {
    await core.createNamespace({ body: { metadata: { name: 'other' } } });
    const all = await collect('/api/v1/pods', { resourceVersion: emu.store.resourceVersion });
    const one = await collect('/api/v1/namespaces/other/pods', {
      resourceVersion: emu.store.resourceVersion,
    });
    await core.createNamespacedPod({ namespace: 'default', body: mkPod('cw1') });
    await core.createNamespacedPod({ namespace: 'other', body: mkPod('cw2') });
    await waitFor(() => all.events.length >= 2 && one.events.length >= 1, 'events');
    expect(all.events.map((e) => e.obj.metadata?.name)).toEqual(['cw1', 'cw2']);
    expect(one.events.map((e) => e.obj.metadata?.name)).toEqual(['cw2']);
    all.abort();
    one.abort();
  });
});
