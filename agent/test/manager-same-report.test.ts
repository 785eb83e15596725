// sameReport (manager.ts): the manager hands the reporter a VMI's report only when it differs from
// the last one; every field of VmiProbeReport counts, and a structural copy is the same report.
import { describe, expect, it } from 'vitest';
import { sameReport } from '../src/manager/manager.js';
import type { VmiProbeReport } from '../src/report/types.js';

function report(): VmiProbeReport {
  return {
    vmi: { namespace: 'ns', name: 'vm1', uid: 'u1' },
    nodeName: 'node-a',
    target: '10.0.0.5',
    conditions: [
      { kind: 'liveness', status: 'True', reason: 'ProbeSucceeded', message: 'ok' },
      { kind: 'readiness', status: 'False', reason: 'ProbeFailed', message: 'refused', provisional: true },
    ],
    launcherPods: [{ namespace: 'ns', name: 'virt-launcher-vm1-a', uid: 'p1' }],
    readinessGate: { enforced: true, pod: 'virt-launcher-vm1-a' },
  };
}

describe('sameReport', () => {
  it('holds for a structural copy', () => {
    expect(sameReport(report(), report())).toBe(true);
    const { target: _t, readinessGate: _g, ...bare } = report();
    expect(sameReport(bare, { ...bare })).toBe(true);
  });

  const changes: [string, (r: VmiProbeReport) => void][] = [
    ['vmi.uid', (r) => (r.vmi.uid = 'u2')],
    ['vmi.namespace', (r) => (r.vmi.namespace = 'other')],
    ['vmi.name', (r) => (r.vmi.name = 'vm2')],
    ['nodeName', (r) => (r.nodeName = 'node-b')],
    ['target', (r) => (r.target = '10.0.0.6')],
    ['target removed', (r) => delete r.target],
    [
      'a condition added',
      (r) => r.conditions.push({ kind: 'startup', status: 'Unknown', reason: 'x', message: '' }),
    ],
    ['condition kind', (r) => (r.conditions[0]!.kind = 'startup')],
    ['condition status', (r) => (r.conditions[0]!.status = 'False')],
    ['condition reason', (r) => (r.conditions[0]!.reason = 'ProbeTimeout')],
    ['condition message', (r) => (r.conditions[0]!.message = 'ok again')],
    ['provisional dropped', (r) => delete r.conditions[1]!.provisional],
    ['a launcher pod removed', (r) => r.launcherPods.pop()],
    ['launcher pod uid', (r) => (r.launcherPods[0]!.uid = 'p2')],
    ['launcher pod name', (r) => (r.launcherPods[0]!.name = 'virt-launcher-vm1-b')],
    ['launcher pod namespace', (r) => (r.launcherPods[0]!.namespace = 'other')],
    ['readinessGate.enforced', (r) => (r.readinessGate!.enforced = false)],
    ['readinessGate.pod', (r) => (r.readinessGate!.pod = 'virt-launcher-vm1-b')],
    ['readinessGate removed', (r) => delete r.readinessGate],
  ];
  it.each(changes)('differs when %s changes', (_name, change) => {
    const b = report();
    change(b);
    expect(sameReport(report(), b)).toBe(false);
    expect(sameReport(b, report())).toBe(false);
  });
});
