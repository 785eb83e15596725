// Enrolment (issue 9): `vmprobe check` over VMIs and their launcher pods (e.g. the output of
// `kubectl get vmi,pod -o yaml`) warns, with the remedy, for a live launcher pod of a VMI with a
// readiness probe that lacks the vmprobe.io/ReadinessProbe gate; `vmprobe status` lists such VMIs
// under the table.
import { describe, expect, it } from 'vitest';
import { checkManifestText, formatCheckMessage } from '../src/cli/check.js';
import { formatNotEnforced } from '../src/cli/status-command.js';
import type { ProbeSnapshot } from '../src/snapshot.js';

const vmi = (name: string, readiness: boolean) => `
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: { name: ${name}, namespace: ns }
spec:
  domain: { devices: {} }
${readiness ? '  readinessProbe: { tcpSocket: { port: 80 } }' : '  livenessProbe: { tcpSocket: { port: 80 } }'}
`;
const pod = (name: string, owner: string, gates: string[], phase = 'Running') => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ns
  labels: { kubevirt.io: virt-launcher }
  ownerReferences: [{ apiVersion: kubevirt.io/v1, kind: VirtualMachineInstance, name: ${owner}, uid: u }]
spec:
  containers: [{ name: compute, image: x }]
  readinessGates: [${gates.map((g) => `{ conditionType: ${g} }`).join(', ')}]
status: { phase: ${phase} }
`;

describe('vmprobe check: readiness enrolment', () => {
  it('warns for the launcher pod of a readiness VMI without the gate, naming the remedy; not for a gated pod, a VMI without readiness or a finished pod', () => {
    const text = [
      vmi('old', true),
      pod('virt-launcher-old-abc', 'old', ['kubevirt.io/virtual-machine-unpaused']),
      vmi('new', true),
      pod('virt-launcher-new-def', 'new', [
        'kubevirt.io/virtual-machine-unpaused',
        'vmprobe.io/ReadinessProbe',
      ]),
      vmi('live-only', false),
      pod('virt-launcher-live-only-x', 'live-only', []),
      pod('virt-launcher-new-done', 'new', [], 'Succeeded'),
    ].join('---\n');
    const report = checkManifestText(text, 'cluster.yaml');
    const warnings = report.messages.filter((m) => m.path === 'spec.readinessGates');
    expect(warnings).toHaveLength(1);
    const line = formatCheckMessage(warnings[0]!);
    expect(line).toMatch(/warning: document 2 \(Pod ns\/virt-launcher-old-abc\): spec\.readinessGates: /);
    expect(line).toMatch(/VirtualMachineInstance ns\/old is NOT ENFORCED/);
    expect(line).toMatch(/restart or live-migrate the VMI/);
    expect(report.messages.filter((m) => m.severity === 'error')).toEqual([]);
  });
});

describe('vmprobe status: readiness enrolment', () => {
  const base: Omit<ProbeSnapshot, 'vmi' | 'probe'> = {
    namespace: 'ns',
    uid: 'u',
    handler: 'tcp',
    target: '10.0.0.1:80',
    state: 'success',
    reason: 'ProbeSucceeded',
    message: '',
    consecutiveSuccesses: 1,
    consecutiveFailures: 0,
    periodSeconds: 10,
    lastProbeTime: null,
    lastTransitionTime: null,
    suspended: false,
  };
  it('lists the VMIs whose readiness is not enforced with the remedy, and nothing when all are', () => {
    const probes: ProbeSnapshot[] = [
      { ...base, vmi: 'a', probe: 'readiness', readinessGate: 'not-enforced' },
      { ...base, vmi: 'a', probe: 'liveness' },
      { ...base, vmi: 'b', probe: 'readiness', readinessGate: 'enforced' },
    ];
    const out = formatNotEnforced(probes);
    expect(out).toMatch(/Readiness NOT ENFORCED for 1 VMI\(s\)/);
    expect(out).toContain('  ns/a\n');
    expect(out).not.toContain('ns/b');
    expect(out).toMatch(/Remedy: restart or live-migrate the VMI/);
    expect(formatNotEnforced(probes.slice(1))).toBe('');
  });
});
