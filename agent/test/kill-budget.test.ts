import { describe, expect, it } from 'vitest';
import { countKillableVmis, KillBudget } from '../src/liveness/budget.js';
import type { ProbeSnapshot } from '../src/snapshot.js';

const T0 = 1_700_000_000_000;

describe('KillBudget', () => {
  it('allows up to maxPerMinute kills in a sliding minute, then says when the next one fits', () => {
    const b = new KillBudget({ maxPerMinute: 3, nodeFaultMinProbed: 4 });
    for (let i = 0; i < 3; i++) {
      expect(b.decide(T0 + i * 1000, 100)).toEqual({ allow: true });
      b.recordKill(T0 + i * 1000);
    }
    const held = b.decide(T0 + 5000, 100);
    expect(held).toMatchObject({ allow: false, reason: 'rate_limit', retryAtMs: T0 + 60_000 });
    expect(b.decide(T0 + 59_999, 100).allow).toBe(false);
    expect(b.decide(T0 + 60_000, 100)).toEqual({ allow: true });
    expect(b.recentKills(T0 + 62_000)).toBe(0);
  });

  it('holds every kill when at least half of at least 4 probed VMIs fail within the window', () => {
    const b = new KillBudget({
      maxPerMinute: 100,
      nodeFaultMinProbed: 4,
      nodeFaultRatio: 0.5,
      windowMs: 60_000,
    });
    b.failureStarted('a', T0);
    expect(b.decide(T0, 8).allow).toBe(true);
    b.failureStarted('b', T0 + 1000);
    b.failureStarted('c', T0 + 2000);
    expect(b.decide(T0 + 2000, 8).allow).toBe(true); // 3 of 8
    b.failureStarted('d', T0 + 3000);
    const d = b.decide(T0 + 3000, 8);
    expect(d).toMatchObject({ allow: false, reason: 'node_fault' });
    if (!d.allow) expect(d.detail).toContain('4 of 8');
  });

  it('counts a failure that began within the window even after its VMI was killed and forgotten', () => {
    const b = new KillBudget({ maxPerMinute: 100, windowMs: 60_000 });
    for (const uid of ['a', 'b']) {
      b.failureStarted(uid, T0);
      b.failureEnded(uid);
    }
    b.failureStarted('c', T0 + 10_000);
    b.failureStarted('d', T0 + 10_000);
    // 4 VMIs probed now (a and b were replaced by fresh ones); a..d all failed within 60 s.
    expect(b.decide(T0 + 10_000, 4)).toMatchObject({ allow: false, reason: 'node_fault' });
    // Once a and b leave the window only c and d count: 2 of 4 is still half.
    expect(b.decide(T0 + 61_000, 4)).toMatchObject({ allow: false, reason: 'node_fault' });
    b.failureEnded('d');
    expect(b.decide(T0 + 71_000, 4)).toEqual({ allow: true });
  });

  it('does not call a node fault below the minimum population', () => {
    const b = new KillBudget({ nodeFaultMinProbed: 4 });
    b.failureStarted('a', T0);
    b.failureStarted('b', T0);
    b.failureStarted('c', T0);
    expect(b.decide(T0, 3)).toEqual({ allow: true });
  });

  it('a repeated failureStarted does not reset the window start', () => {
    const b = new KillBudget({ windowMs: 10_000, nodeFaultMinProbed: 1, nodeFaultRatio: 1 });
    b.failureStarted('a', T0);
    b.failureEnded('a');
    b.failureStarted('a', T0 + 5000);
    b.failureStarted('a', T0 + 9000);
    expect(b.failingCount(T0 + 14_000)).toBe(1); // still failing
    b.failureEnded('a');
    expect(b.failingCount(T0 + 15_001)).toBe(0);
  });

  it('rejects nonsense options', () => {
    expect(() => new KillBudget({ nodeFaultRatio: 0 })).toThrow(RangeError);
    expect(() => new KillBudget({ maxPerMinute: -1 })).toThrow(RangeError);
  });
});

type Row = Pick<ProbeSnapshot, 'uid' | 'probe' | 'suspended' | 'target'>;
const row = (uid: string, probe: Row['probe'], over: Partial<Row> = {}): Row => ({
  uid,
  probe,
  suspended: false,
  target: '10.0.0.1:1500',
  ...over,
});

describe('countKillableVmis (the node-fault denominator)', () => {
  it('counts each VMI with a running liveness or startup probe once, and nothing else', () => {
    expect(
      countKillableVmis([
        row('a', 'liveness'),
        row('a', 'readiness'),
        row('b', 'readiness'), // readiness only: never killed
        row('c', 'liveness', { suspended: true }), // paused / migrating / gated by startup
        row('c', 'readiness'),
        row('d', 'liveness', { target: null }), // invalid, unsupported or no address: not probed
        row('e', 'startup'), // still starting: its failure kills too
        row('e', 'liveness', { suspended: true }),
        row('f', 'startup', { target: null }), // startup succeeded: fixed True, no longer probed
        row('f', 'liveness'),
      ]),
    ).toBe(3);
    expect(countKillableVmis([])).toBe(0);
  });

  it('paused VMIs do not dilute a node-wide fault: 2 of 4 active fail → held, though 8 VMIs are probed', () => {
    const rows: Row[] = [];
    for (let i = 0; i < 8; i++) rows.push(row(`vmi-${i}`, 'liveness', { suspended: i >= 4 }));
    const b = new KillBudget();
    b.failureStarted('vmi-0', T0);
    b.failureStarted('vmi-1', T0);
    expect(countKillableVmis(rows)).toBe(4);
    expect(b.decide(T0 + 10_000, countKillableVmis(rows))).toMatchObject({
      allow: false,
      reason: 'node_fault',
    });
    // Counting every probed VMI (the old denominator) would have let the kill through.
    expect(b.decide(T0 + 10_000, new Set(rows.map((r) => r.uid)).size)).toEqual({ allow: true });
  });
});
