import { describe, expect, it } from 'vitest';
import type { AgentOptions } from '../src/agent.js';
import { livenessFactory, parseMaxKillsPerMinute } from '../src/cli/agent-command.js';
import { checkFreshPod, checkFreshVmi } from '../src/liveness/fresh-check.js';
import {
  createLivenessHandler,
  type LivenessAction,
  LivenessActionHandler,
} from '../src/liveness/handler.js';
import { silentLogger } from '../src/log.js';
import type { LivenessHandler as ManagerLivenessHandler } from '../src/manager/types.js';
import { noopObserver } from '../src/observer.js';
import { EventRecorder } from '../src/report/events.js';
import { TokenBucket } from '../src/report/rate-limit.js';
import { FakeClock } from './helpers/fake-clock.js';
import { apiError, FakeWrites, settle } from './report-fake-writes.js';

function setup(action: LivenessAction = 'stop-launcher', probed = 10, maxPerMinute = 3) {
  const clock = new FakeClock();
  const writes = new FakeWrites();
  const limiter = new TokenBucket({ qps: 100, burst: 100, clock });
  const kills: string[] = [];
  const observer = {
    ...noopObserver,
    kill: (_ns: string, vmi: string, act: string, outcome: string, reason: string) => {
      kills.push(`${vmi}:${act}:${outcome}:${reason}`);
    },
  };
  const events = new EventRecorder({ writes, limiter, clock, observer });
  const handler = new LivenessActionHandler({
    action,
    writes,
    events,
    limiter,
    clock,
    observer,
    random: () => 0,
    probedCount: () => probed,
    settleMs: 1000,
    budget: { maxPerMinute },
  });
  // The API holds each failing VMI, Running on this node, unless a test says otherwise.
  const onFailure = handler.onFailure.bind(handler);
  handler.onFailure = (f) => {
    const key = `${f.vmi.namespace}/${f.vmi.name}`;
    if (!writes.vmis.has(key)) writes.addVmi(f.vmi.namespace, f.vmi.name, f.vmi.uid);
    onFailure(f);
  };
  return { clock, writes, handler, kills, limiter, events };
}

function failure(i: number, grace?: number) {
  const vmi = { namespace: 'ns', name: `vm${i}`, uid: `vmi-${i}` };
  return {
    vmi,
    nodeName: 'node-a',
    probe: 'liveness' as const,
    launcherPods: [{ namespace: 'ns', name: `virt-launcher-vm${i}-x`, uid: `pod-${i}` }],
    ...(grace !== undefined ? { terminationGracePeriodSeconds: grace } : {}),
    message: 'connection refused',
  };
}

describe('LivenessActionHandler', () => {
  it('stop-launcher deletes the launcher pod with the VMI grace period after a Killing event, once per failure', async () => {
    const { clock, writes, handler, kills } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    handler.onFailure(failure(1, 45));
    await settle();
    expect(writes.deleted).toHaveLength(0); // settling
    clock.advance(1000);
    await settle();
    expect(writes.deleted).toEqual([
      { kind: 'pod', namespace: 'ns', name: 'virt-launcher-vm1-x', uid: 'pod-1', grace: 45 },
    ]);
    const ev = [...writes.events.values()][0]!;
    expect(ev).toMatchObject({
      type: 'Normal',
      reason: 'Killing',
      message: 'Stopping VMI: liveness probe failed: connection refused',
    });
    expect(kills).toEqual(['vm1:stop-launcher:done:liveness_failed']);
    handler.onFailure(failure(1, 45));
    clock.advance(10_000);
    await settle();
    expect(writes.count('deletePod')).toBe(1);
    await handler.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('uses 30 s grace by default and acts again after a recovery', async () => {
    const { clock, writes, handler } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    handler.onFailure(failure(1));
    clock.advance(1000);
    await settle();
    expect(writes.deleted[0]?.grace).toBe(30);
    handler.onRecovery('vmi-1');
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    handler.onFailure(failure(1));
    clock.advance(1000);
    await settle();
    expect(writes.count('deletePod')).toBe(2);
    await handler.stop();
  });

  it('delete-vmi deletes the VMI with a uid precondition; none only reports', async () => {
    const a = setup('delete-vmi');
    a.handler.onFailure(failure(1));
    a.clock.advance(1000);
    await settle();
    expect(a.writes.deleted).toEqual([{ kind: 'vmi', namespace: 'ns', name: 'vm1', uid: 'vmi-1' }]);
    await a.handler.stop();

    const b = setup('none');
    b.handler.onFailure(failure(1));
    b.clock.advance(60_000);
    await settle();
    expect(b.writes.writeCount()).toBe(0);
    await b.handler.stop();
  });

  it('a recovery during the settle window cancels the stop', async () => {
    const { clock, writes, handler } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    handler.onFailure(failure(1));
    clock.advance(500);
    handler.onRecovery('vmi-1');
    clock.advance(10_000);
    await settle();
    expect(writes.count('deletePod')).toBe(0);
    await handler.stop();
  });

  it('holds back kills beyond the per-minute budget with one KillHeldBack event, and stops them when it allows', async () => {
    const { clock, writes, handler, kills } = setup('stop-launcher', 100, 2);
    for (let i = 1; i <= 3; i++) {
      writes.addPod('ns', `virt-launcher-vm${i}-x`, `pod-${i}`);
      handler.onFailure(failure(i));
    }
    clock.advance(1000);
    await settle();
    expect(writes.count('deletePod')).toBe(2);
    expect(kills).toContain('vm3:stop-launcher:held_back:rate_limit');
    const held = [...writes.events.values()].filter((e) => e.reason === 'KillHeldBack');
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ type: 'Warning' });
    expect(held[0]!.involvedObject.name).toBe('vm3');
    clock.advance(59_999);
    await settle();
    expect(writes.count('deletePod')).toBe(2);
    clock.advance(1);
    await settle();
    expect(writes.count('deletePod')).toBe(3);
    await handler.stop();
  });

  it('a node-wide fault holds every kill; a held kill is dropped when its probe recovers', async () => {
    const { clock, writes, handler, kills } = setup('stop-launcher', 6, 100);
    for (let i = 1; i <= 4; i++) {
      writes.addPod('ns', `virt-launcher-vm${i}-x`, `pod-${i}`);
      handler.onFailure(failure(i));
    }
    clock.advance(1000);
    await settle();
    expect(writes.count('deletePod')).toBe(0);
    expect(kills.filter((k) => k.endsWith('held_back:node_fault'))).toHaveLength(4);
    clock.advance(60_000);
    await settle();
    expect(writes.count('deletePod')).toBe(0);
    expect(writes.count('createEvent') + writes.count('patchEvent')).toBe(4); // one per VMI, not per recheck
    for (let i = 1; i <= 4; i++) handler.onRecovery(`vmi-${i}`);
    expect(handler.pending()).toEqual([]);
    await handler.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('retries a delete that failed with 500, and treats a replaced pod (409) as nothing to stop', async () => {
    const { clock, writes, handler, kills } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    writes.fail('deletePod', apiError('ServerError', 500));
    handler.onFailure(failure(1));
    clock.advance(1000);
    await settle();
    expect(kills).toContain('vm1:stop-launcher:failed:ServerError');
    clock.advance(500);
    await settle();
    expect(writes.deleted).toHaveLength(1);

    writes.addPod('ns', 'virt-launcher-vm2-x', 'another-uid');
    handler.onFailure(failure(2));
    clock.advance(1000);
    await settle();
    expect(writes.deleted).toHaveLength(1);
    expect(handler.pending().find((p) => p.uid === 'vmi-2')?.phase).toBe('done');
    await handler.stop();
  });

  it('plugs into the Agent’s liveness factory slot and the manager’s LivenessHandler', async () => {
    const clock = new FakeClock();
    const writes = new FakeWrites();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    writes.addVmi('ns', 'vm1', 'vmi-1');
    let built: LivenessActionHandler | undefined;
    const factory: AgentOptions['liveness'] = (deps) => {
      built = createLivenessHandler(
        'stop-launcher',
        { ...deps, writes, clock },
        { maxKillsPerMinute: 1, settleMs: 10 },
      );
      return built;
    };
    const asManagerSees: ManagerLivenessHandler = factory!({
      kubeConfig: undefined as never,
      nodeName: 'node-a',
      observer: noopObserver,
      logger: silentLogger,
      clock,
      writes,
      probedVmiCount: () => 1,
    });
    asManagerSees.onFailure(failure(1, 5));
    clock.advance(10);
    await settle();
    expect(writes.deleted).toEqual([
      { kind: 'pod', namespace: 'ns', name: 'virt-launcher-vm1-x', uid: 'pod-1', grace: 5 },
    ]);
    expect(built!.budget.opts.maxPerMinute).toBe(1);
    await built!.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('--max-kills-per-minute reaches the kill budget through the CLI’s liveness factory', async () => {
    const clock = new FakeClock();
    const deps = {
      kubeConfig: undefined as never,
      nodeName: 'node-a',
      observer: noopObserver,
      logger: silentLogger,
      clock,
      writes: new FakeWrites(),
      probedVmiCount: () => 1,
    };
    const seven = livenessFactory('stop-launcher', parseMaxKillsPerMinute('7'))(deps);
    const byDefault = livenessFactory('stop-launcher')(deps);
    expect(seven).toBeInstanceOf(LivenessActionHandler);
    expect((seven as LivenessActionHandler).budget.opts.maxPerMinute).toBe(7);
    expect((byDefault as LivenessActionHandler).budget.opts.maxPerMinute).toBe(3);
    await seven.stop?.();
    await byDefault.stop?.();
    expect(parseMaxKillsPerMinute('0')).toBe(0);
    for (const bad of ['', 'abc', '-1', '1.5', '1e3', '10001', ' '])
      expect(() => parseMaxKillsPerMinute(bad), bad).toThrow(/integer from 0 to 10000/);
  });

  it('a recovery during the Killing event deletes nothing (issue 10.5 / 8.4)', async () => {
    const { clock, writes, handler, kills } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    writes.during.set('createEvent', () => handler.onRecovery('vmi-1'));
    handler.onFailure(failure(1));
    clock.advance(1000);
    await settle();
    expect(writes.count('createEvent')).toBe(1); // the Killing event was being written
    expect(writes.count('deletePod')).toBe(0);
    expect(writes.deleted).toEqual([]);
    expect(kills).toEqual([]);
    expect(handler.pending()).toEqual([]);
    await handler.stop();
    expect(clock.pendingCount()).toBe(0);
  });

  it('forget() or stop() while the pod is read fresh deletes nothing', async () => {
    for (const how of ['forget', 'stop'] as const) {
      const { clock, writes, handler } = setup();
      writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
      writes.during.set('getPod', () => {
        if (how === 'forget') handler.forget('vmi-1');
        else void handler.stop();
      });
      handler.onFailure(failure(1));
      clock.advance(1000);
      await settle();
      expect([how, writes.count('getPod'), writes.count('deletePod')]).toEqual([how, 1, 0]);
      await handler.stop();
    }
  });

  it('reads the VMI and pod fresh from the API: a stale cache never deletes a migrated, moved or replaced VMI', async () => {
    const cases: [string, (w: FakeWrites) => void, 'held' | 'done'][] = [
      [
        'migrating',
        (w) => w.addVmi('ns', 'vm1', 'vmi-1', 'node-a', { migrationState: { startTimestamp: 't' } }),
        'held',
      ],
      [
        'paused',
        (w) => w.addVmi('ns', 'vm1', 'vmi-1', 'node-a', { conditions: [{ type: 'Paused', status: 'True' }] }),
        'held',
      ],
      ['moved', (w) => w.addVmi('ns', 'vm1', 'vmi-1', 'node-b'), 'done'],
      ['replaced', (w) => w.addVmi('ns', 'vm1', 'vmi-other'), 'done'],
      [
        'deleted',
        (w) =>
          w.vmis.set('ns/vm1', {
            metadata: { name: 'vm1', namespace: 'ns', uid: 'vmi-1', deletionTimestamp: 't' },
            status: { nodeName: 'node-a', phase: 'Running' },
          }),
        'done',
      ],
      ['pod on another node', (w) => w.addPod('ns', 'virt-launcher-vm1-x', 'pod-1', [], 'node-b'), 'done'],
    ];
    expect(cases.length).toBeGreaterThan(0);
    for (const [name, arrange, phase] of cases) {
      const { clock, writes, handler } = setup();
      writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
      writes.addVmi('ns', 'vm1', 'vmi-1');
      arrange(writes);
      handler.onFailure(failure(1));
      clock.advance(1000);
      await settle();
      expect([name, writes.count('deletePod'), handler.pending()[0]?.phase]).toEqual([name, 0, phase]);
      expect(writes.count('getVmi')).toBeGreaterThan(0);
      await handler.stop();
    }
  });

  it('a VMI held for migration is stopped once the fresh read shows it settled and still failing', async () => {
    const { clock, writes, handler } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    writes.addVmi('ns', 'vm1', 'vmi-1', 'node-a', { migrationState: { startTimestamp: 't' } });
    handler.onFailure(failure(1));
    clock.advance(1000);
    await settle();
    expect(writes.count('deletePod')).toBe(0);
    writes.addVmi('ns', 'vm1', 'vmi-1', 'node-a', {
      migrationState: { startTimestamp: 't', endTimestamp: 'u', completed: true },
    });
    clock.advance(60_000);
    await settle();
    expect(writes.count('deletePod')).toBe(1);
    await handler.stop();
  });

  it('fresh checks (table)', () => {
    const ref = { namespace: 'ns', name: 'vm1', uid: 'u1' };
    const v = (status: object, meta: object = {}) => ({
      metadata: { name: 'vm1', namespace: 'ns', uid: 'u1', ...meta },
      status: { nodeName: 'n1', phase: 'Running', ...status },
    });
    const vmiTable: [string, Parameters<typeof checkFreshVmi>[0], string][] = [
      ['running here', v({}), 'ok'],
      ['404', undefined, 'gone'],
      ['other uid', v({}, { uid: 'u2' }), 'gone'],
      ['terminating', v({}, { deletionTimestamp: 't' }), 'gone'],
      ['other node', v({ nodeName: 'n2' }), 'gone'],
      ['Failed', v({ phase: 'Failed' }), 'gone'],
      ['paused', v({ conditions: [{ type: 'Paused', status: 'True' }] }), 'wait'],
      ['migrating', v({ migrationState: { startTimestamp: 't' } }), 'wait'],
      ['migration done', v({ migrationState: { startTimestamp: 't', completed: true } }), 'ok'],
      ['Scheduling', v({ phase: 'Scheduling' }), 'wait'],
    ];
    for (const [name, vmi, want] of vmiTable)
      expect([name, checkFreshVmi(vmi, ref, 'n1').verdict]).toEqual([name, want]);
    const pref = { namespace: 'ns', name: 'p', uid: 'p1' };
    const p = (meta: object, nodeName = 'n1') => ({
      metadata: { name: 'p', uid: 'p1', ...meta },
      spec: { nodeName },
    });
    const podTable: [string, Parameters<typeof checkFreshPod>[0], string][] = [
      ['here', p({}), 'ok'],
      ['404', undefined, 'gone'],
      ['other uid', p({ uid: 'p2' }), 'gone'],
      ['terminating', p({ deletionTimestamp: 't' }), 'gone'],
      ['other node', p({}, 'n2'), 'gone'],
    ];
    for (const [name, pod, want] of podTable)
      expect([name, checkFreshPod(pod, pref, 'n1').verdict]).toEqual([name, want]);
  });

  it('item 9: the handler forgets a VMI in its EventRecorder when the VMI recovers or is forgotten', async () => {
    const { clock, writes, handler, events } = setup();
    writes.addPod('ns', 'virt-launcher-vm1-x', 'pod-1');
    writes.addPod('ns', 'virt-launcher-vm2-x', 'pod-2');
    handler.onFailure(failure(1));
    handler.onFailure(failure(2));
    clock.advance(1000);
    await settle();
    expect(writes.count('createEvent')).toBe(2);
    expect(events.trackedVmis).toBe(2);
    handler.onRecovery('vmi-1');
    handler.forget('vmi-2');
    expect(events.trackedVmis).toBe(0);
    await handler.stop();
  });
});
