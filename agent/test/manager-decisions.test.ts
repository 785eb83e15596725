// The manager's decisions as pure functions (agent/src/manager/decisions.ts), table by table.
import { REASON } from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';
import {
  armsLivenessAction,
  conditionAfterResult,
  isLivenessRecovery,
  type ShownCondition,
  startingState,
} from '../src/manager/decisions.js';
import type { ConditionStatus, ProbeState } from '../src/model/conditions.js';

describe('manager decisions', () => {
  it('startingState: previous worker, else last reported, else readiness False / others Unknown', () => {
    const table: [string, ProbeState | undefined, ConditionStatus | undefined, ProbeState, string][] = [
      ['readiness', undefined, undefined, 'failure', REASON.Initializing],
      ['liveness', undefined, undefined, 'unknown', REASON.Initializing],
      ['startup', undefined, undefined, 'unknown', REASON.Initializing],
      ['liveness', undefined, 'False', 'failure', REASON.ProbeFailed],
      ['liveness', undefined, 'True', 'success', REASON.ProbeSucceeded],
      ['liveness', undefined, 'Unknown', 'unknown', REASON.Initializing],
      ['liveness', 'failure', 'True', 'failure', REASON.ProbeFailed],
      ['readiness', 'success', 'False', 'success', REASON.ProbeSucceeded],
      // A previous worker that never reached a verdict: the kind's default, not the old report.
      ['liveness', 'unknown', 'False', 'unknown', REASON.Initializing],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [kind, last, reported, state, reason] of table)
      expect([kind, last, reported, startingState(kind as 'liveness', last, reported)]).toEqual([
        kind,
        last,
        reported,
        { state, reason, message: '' },
      ]);
  });

  it('startingState: carries the reason and message of the verdict it starts from, only from that source', () => {
    const refused = { reason: REASON.ProbeFailed, message: 'connection refused' };
    const timeout = { reason: REASON.ProbeTimeout, message: 'timed out after 1s' };
    const ok = { reason: REASON.ProbeSucceeded, message: 'HTTP 200' };
    const table: [
      string,
      ProbeState | undefined,
      ConditionStatus | undefined,
      Parameters<typeof startingState>[3],
      ReturnType<typeof startingState>,
    ][] = [
      // Agent restart: the stored condition's reason and message.
      ['liveness', undefined, 'False', { lastReported: timeout }, { state: 'failure', ...timeout }],
      ['readiness', undefined, 'True', { lastReported: ok }, { state: 'success', ...ok }],
      // Resume after pause/migration: the previous worker's last verdict, not the stored one.
      [
        'liveness',
        'failure',
        'Unknown',
        { lastRun: refused, lastReported: { reason: REASON.Suspended, message: 'x' } },
        { state: 'failure', ...refused },
      ],
      [
        'liveness',
        'failure',
        'False',
        { lastReported: refused },
        { state: 'failure', reason: REASON.ProbeFailed, message: '' },
      ],
      // A stored reason that is no verdict of that state (StartupPending, Suspended…) is not carried.
      [
        'readiness',
        undefined,
        'False',
        { lastReported: { reason: REASON.StartupPending, message: 'waiting' } },
        { state: 'failure', reason: REASON.ProbeFailed, message: '' },
      ],
      [
        'liveness',
        undefined,
        'True',
        { lastReported: refused },
        { state: 'success', reason: REASON.ProbeSucceeded, message: '' },
      ],
      // Nothing to start from: nothing carried.
      [
        'liveness',
        undefined,
        'Unknown',
        { lastReported: refused },
        { state: 'unknown', reason: REASON.Initializing, message: '' },
      ],
    ];
    expect(table.length).toBeGreaterThan(0);
    for (const [kind, last, reported, shown, want] of table)
      expect([kind, last, reported, shown, startingState(kind as 'liveness', last, reported, shown)]).toEqual(
        [kind, last, reported, shown, want],
      );
  });

  it('conditionAfterResult: verdicts show their outcome; unknown before a verdict shows its reason; else unchanged', () => {
    const shown: ShownCondition = { status: 'False', reason: REASON.Initializing, message: '' };
    const o = (result: string, reason: string, message: string) => ({ result, reason, message });
    const table: [string, ProbeState, ReturnType<typeof o>, boolean, boolean, ShownCondition][] = [
      [
        'first failure verdict',
        'failure',
        o('failure', REASON.ProbeFailed, 'refused'),
        true,
        false,
        { status: 'False', reason: REASON.ProbeFailed, message: 'refused' },
      ],
      [
        'success verdict',
        'success',
        o('success', REASON.ProbeSucceeded, ''),
        true,
        true,
        { status: 'True', reason: REASON.ProbeSucceeded, message: '' },
      ],
      [
        'unknown before verdict',
        'failure',
        o('unknown', REASON.ProbeError, 'no CAP_NET_RAW'),
        false,
        false,
        { status: 'False', reason: REASON.ProbeError, message: 'no CAP_NET_RAW' },
      ],
      ['unknown after verdict', 'failure', o('unknown', REASON.ProbeError, 'x'), false, true, shown],
      [
        'failure below threshold',
        'failure',
        o('failure', REASON.ProbeFailed, 'refused'),
        false,
        false,
        shown,
      ],
    ];
    for (const [name, state, outcome, verdict, confirmed, want] of table)
      expect([name, conditionAfterResult(shown, { state, outcome }, verdict, confirmed)]).toEqual([
        name,
        want,
      ]);
  });

  it('armsLivenessAction / isLivenessRecovery', () => {
    const arms: [string, ProbeState, boolean][] = [
      ['liveness', 'failure', true],
      ['startup', 'failure', true],
      ['readiness', 'failure', false],
      ['liveness', 'success', false],
      ['liveness', 'unknown', false],
    ];
    for (const [kind, state, want] of arms)
      expect([kind, state, armsLivenessAction(kind as 'liveness', state)]).toEqual([kind, state, want]);
    const rec: [string, ProbeState, ProbeState | 'removed', boolean][] = [
      ['liveness', 'failure', 'success', true],
      ['liveness', 'failure', 'unknown', true],
      ['startup', 'failure', 'removed', true],
      ['liveness', 'failure', 'failure', false],
      ['readiness', 'failure', 'success', false],
      ['liveness', 'success', 'unknown', false],
    ];
    for (const [kind, from, to, want] of rec)
      expect([kind, from, to, isLivenessRecovery(kind as 'liveness', from, to)]).toEqual([
        kind,
        from,
        to,
        want,
      ]);
  });
});
