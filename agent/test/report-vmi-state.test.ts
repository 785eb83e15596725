// The reporter's per-VMI decisions as pure functions (agent/src/report/vmi-state.ts,
// stored-statuses.ts driftOf), table-tested; and the one-owner mutations they drive.
import { REASON } from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';
import type { PodConditionRead, ProbeStatusObject } from '../src/kube/api.js';
import { driftOf } from '../src/report/stored-statuses.js';
import type { ProbeConditionReport, VmiProbeReport } from '../src/report/types.js';
import {
  type AfterSync,
  afterSyncDecision,
  beginSync,
  type EventBase,
  endSync,
  eventAfterFailure,
  eventFailed,
  kickDecision,
  newVmiState,
  queueReminderEvents,
  retryArmed,
  transitionEvent,
} from '../src/report/vmi-state.js';
import { newProbeStatusObject } from '../src/report/write-plan.js';
import { FakeClock } from './helpers/fake-clock.js';

const vmi = { namespace: 'ns', name: 'vm1', uid: 'vmi-uid-1' };
const pod = { namespace: 'ns', name: 'virt-launcher-vm1-a', uid: 'pod-uid-1' };
const cond = (
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message = '',
  extra: Partial<ProbeConditionReport> = {},
): ProbeConditionReport => ({ kind: 'liveness', status, reason, message, ...extra });
const base = (
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message = '',
  provisional = false,
): EventBase => ({ status, reason, message, provisional });
const report = (conditions: ProbeConditionReport[]): VmiProbeReport => ({
  vmi,
  nodeName: 'node-a',
  conditions,
  launcherPods: [pod],
});

describe('reporter per-VMI decisions (vmi-state.ts)', () => {
  it('transitionEvent: an Event on a change into failure / InvalidProbe and on a verdict after a provisional failure; none otherwise', () => {
    const failed = cond('False', REASON.ProbeFailed, 'refused');
    const table: [string, EventBase | undefined, ProbeConditionReport, string | undefined][] = [
      ['first sight of a failure', undefined, failed, 'Unhealthy'],
      ['True -> failure', base('True', REASON.ProbeSucceeded), failed, 'Unhealthy'],
      ['failure holds', base('False', REASON.ProbeFailed, 'refused'), failed, undefined],
      ['failure, new message only', base('False', REASON.ProbeFailed, 'x'), failed, undefined],
      [
        'ProbeFailed -> ProbeTimeout',
        base('False', REASON.ProbeFailed, 'x'),
        cond('False', REASON.ProbeTimeout, 't'),
        'Unhealthy',
      ],
      [
        'provisional (empty message)',
        base('Unknown', REASON.Suspended),
        cond('False', REASON.ProbeFailed),
        undefined,
      ],
      [
        'provisional (carried message)',
        base('Unknown', REASON.Suspended),
        cond('False', REASON.ProbeFailed, 'refused', { provisional: true }),
        undefined,
      ],
      [
        'verdict after an empty provisional',
        base('False', REASON.ProbeFailed, '', true),
        failed,
        'Unhealthy',
      ],
      [
        'verdict after a carried provisional',
        base('False', REASON.ProbeFailed, 'refused', true),
        failed,
        'Unhealthy',
      ],
      [
        'recovery',
        base('False', REASON.ProbeFailed, 'refused'),
        cond('True', REASON.ProbeSucceeded),
        undefined,
      ],
      ['invalid probe', undefined, cond('False', REASON.InvalidProbe, 'bad port'), 'InvalidProbe'],
      ['initializing', undefined, cond('Unknown', REASON.Initializing), undefined],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [name, prev, c, want] of table)
      expect([name, transitionEvent(prev, c)?.reason]).toEqual([name, want]);
  });

  it('kickDecision: a running sync is marked dirty, a retry waiting for health is kept, else a sync starts', () => {
    const table: [boolean, boolean, boolean, ReturnType<typeof kickDecision>][] = [
      [true, false, false, 'mark-dirty'],
      [true, true, true, 'mark-dirty'],
      [false, true, true, 'wait-for-retry'],
      [false, true, false, 'start'],
      [false, false, false, 'start'],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [running, retryPending, retryForHealth, want] of table)
      expect([
        running,
        retryPending,
        retryForHealth,
        kickDecision({ running, retryPending, retryForHealth }),
      ]).toEqual([running, retryPending, retryForHealth, want]);
  });

  it('afterSyncDecision: resync, clean, give up past the flush deadline, retry now for a newer state, else retry later', () => {
    const s = {
      ok: false,
      health: true,
      outage: false,
      dirty: false,
      delayMs: 4000,
      draining: false,
      nowMs: 0,
      drainDeadlineMs: Infinity,
    };
    const table: [string, Partial<typeof s>, AfterSync][] = [
      ['ok, newer state waiting', { ok: true, dirty: true }, { next: 'resync' }],
      ['ok', { ok: true }, { next: 'clean' }],
      [
        '429/409: back off, updates wait',
        {},
        { next: 'retry-later', delayMs: 4000, forHealth: true, forOutage: false },
      ],
      ['outage', { outage: true }, { next: 'retry-later', delayMs: 4000, forHealth: true, forOutage: true }],
      [
        'health failure, newer state: still backs off',
        { dirty: true },
        { next: 'retry-later', delayMs: 4000, forHealth: false, forOutage: false },
      ],
      ['403 with a newer state: try it at once', { health: false, dirty: true }, { next: 'retry-now' }],
      [
        '403: ceiling retry, updates do not wait',
        { health: false },
        { next: 'retry-later', delayMs: 4000, forHealth: false, forOutage: false },
      ],
      [
        'draining: delay capped at 250 ms',
        { draining: true, drainDeadlineMs: 1000 },
        { next: 'retry-later', delayMs: 250, forHealth: true, forOutage: false },
      ],
      [
        'draining: past the deadline',
        { draining: true, nowMs: 900, drainDeadlineMs: 1000 },
        { next: 'give-up' },
      ],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [name, over, want] of table)
      expect([name, afterSyncDecision({ ...s, ...over })]).toEqual([name, want]);
  });

  it('eventAfterFailure: drop a permanent failure or one out of attempts, else retry', () => {
    const table: [number, boolean, number, 'drop' | 'retry'][] = [
      [1, true, 5, 'drop'],
      [1, false, 5, 'retry'],
      [4, false, 5, 'retry'],
      [5, false, 5, 'drop'],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [attempts, permanent, max, want] of table)
      expect([attempts, permanent, max, eventAfterFailure(attempts, permanent, max)]).toEqual([
        attempts,
        permanent,
        max,
        want,
      ]);
  });

  it('driftOf: the object when it is gone or differs, the pods whose cached gate differs', () => {
    const now = 1_700_000_000_000;
    const failing = cond('False', REASON.ProbeFailed, 'refused');
    const ready = { ...cond('True', REASON.ProbeSucceeded, 'ok'), kind: 'readiness' as const };
    const st = newVmiState(report([failing, ready]), undefined);
    const stored: ProbeStatusObject = newProbeStatusObject(st.desired, 'node-a', now);
    const edited: ProbeStatusObject = structuredClone(stored);
    edited.status!.conditions![0]!.message = 'edited';
    const gate = (status: string, reason: string, message: string): PodConditionRead =>
      ({ type: 'vmprobe.io/ReadinessProbe', status, reason, message }) as PodConditionRead;
    const table: [
      string,
      ProbeStatusObject | undefined,
      PodConditionRead | undefined,
      { object: boolean; pods: string[] },
    ][] = [
      ['all as reported', stored, gate('True', REASON.ProbeSucceeded, 'ok'), { object: false, pods: [] }],
      ['object deleted', undefined, gate('True', REASON.ProbeSucceeded, 'ok'), { object: true, pods: [] }],
      ['object edited', edited, gate('True', REASON.ProbeSucceeded, 'ok'), { object: true, pods: [] }],
      ['gate reverted', stored, gate('False', REASON.ProbeFailed, 'x'), { object: false, pods: [pod.uid] }],
      ['gate missing from the cache', stored, undefined, { object: false, pods: [pod.uid] }],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [name, obj, cached, want] of table)
      expect([name, driftOf(st, obj, now, () => cached)]).toEqual([name, want]);
  });

  it('the mutations apply the decisions: beginSync marks running/dirty, endSync counts attempts, eventFailed drops at the limit', () => {
    const clock = new FakeClock();
    const st = newVmiState(report([cond('False', REASON.ProbeFailed, 'refused')]), undefined);
    expect(beginSync(st, clock)).toBe('start');
    expect(st.running).toBe(true);
    expect(beginSync(st, clock)).toBe('mark-dirty');
    expect(st.dirty).toBe(true);
    expect(endSync(st, false)).toBe(1);
    expect(st.running).toBe(false);
    retryArmed(
      st,
      clock.setTimeout(() => {}, 1000),
      true,
      false,
    );
    expect(beginSync(st, clock)).toBe('wait-for-retry'); // waits for the retry the API asked for
    retryArmed(
      st,
      clock.setTimeout(() => {}, 1000),
      false,
      false,
    );
    expect(beginSync(st, clock)).toBe('start'); // the pending retry is cancelled, the sync starts
    expect(st.retryTimer).toBeUndefined();
    expect(endSync(st, true)).toBe(0);
    expect(queueReminderEvents(st)).toBe(true);
    const key = [...st.pendingEvents.keys()][0] as string;
    expect(key).toBe('liveness/Unhealthy');
    expect(eventFailed(st, key, false, 2)).toBe('retry');
    expect(st.pendingEvents.get(key)?.attempts).toBe(1);
    expect(eventFailed(st, key, false, 2)).toBe('drop');
    expect(st.pendingEvents.has(key)).toBe(false);
  });
});
