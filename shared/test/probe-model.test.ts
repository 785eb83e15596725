import {
  formatProblem,
  InvalidProbeError,
  PROBE_DEFAULTS,
  parseProbe,
  probesOfVmi,
  resolveProbe,
  resolveVmiProbes,
  validateProbe,
} from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';

const msgs = (probe: unknown, kind: 'liveness' | 'readiness' | 'startup' = 'readiness') =>
  validateProbe(probe, kind, `spec.${kind}Probe`).map(formatProblem);

describe('resolveProbe', () => {
  it('applies the kubelet defaults', () => {
    const r = resolveProbe({ tcpSocket: { port: 1500 } }, 'liveness');
    expect(r).toEqual({
      kind: 'liveness',
      handler: { type: 'tcp', port: 1500 },
      initialDelaySeconds: 0,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(PROBE_DEFAULTS).toEqual({
      initialDelaySeconds: 0,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
  });

  it('keeps given values and defaults httpGet path and scheme', () => {
    const r = resolveProbe(
      {
        httpGet: { port: 'http', httpHeaders: [{ name: 'X-A', value: '1' }] },
        initialDelaySeconds: 120,
        periodSeconds: 20,
        timeoutSeconds: 10,
        failureThreshold: 3,
        successThreshold: 3,
      },
      'readiness',
    );
    expect(r.handler).toEqual({
      type: 'http',
      port: 'http',
      path: '/',
      scheme: 'HTTP',
      headers: [{ name: 'X-A', value: '1' }],
    });
    expect([r.initialDelaySeconds, r.periodSeconds, r.timeoutSeconds, r.successThreshold]).toEqual([
      120, 20, 10, 3,
    ]);
  });

  it('resolves icmp, exec and guestAgentPing handlers', () => {
    expect(resolveProbe({ icmp: {} }, 'readiness').handler).toEqual({ type: 'icmp' });
    expect(resolveProbe({ exec: { command: ['true'] } }, 'readiness').handler).toEqual({
      type: 'exec',
      command: ['true'],
    });
    expect(resolveProbe({ guestAgentPing: {} }, 'liveness').handler).toEqual({ type: 'guestAgentPing' });
  });

  it('throws InvalidProbeError with every problem; parseProbe returns them', () => {
    const bad = { httpGet: { port: 0, path: 'x' }, periodSeconds: 0 };
    expect(() => resolveProbe(bad as never, 'liveness')).toThrow(InvalidProbeError);
    try {
      resolveProbe(bad as never, 'liveness');
    } catch (err) {
      expect((err as InvalidProbeError).code).toBe('ERR_INVALID_PROBE');
      expect((err as InvalidProbeError).problems).toHaveLength(3);
    }
    const parsed = parseProbe(bad, 'liveness', 'spec.livenessProbe');
    expect(parsed.ok).toBe(false);
  });
});

describe('validateProbe', () => {
  it('accepts the seed document probes', () => {
    expect(
      msgs(
        { initialDelaySeconds: 120, periodSeconds: 20, tcpSocket: { port: 1500 }, timeoutSeconds: 10 },
        'liveness',
      ),
    ).toEqual([]);
    expect(
      msgs({
        httpGet: { port: 1500 },
        initialDelaySeconds: 120,
        periodSeconds: 20,
        timeoutSeconds: 10,
        failureThreshold: 3,
        successThreshold: 3,
      }),
    ).toEqual([]);
  });

  it('reports ports out of range in the documented form', () => {
    expect(msgs({ httpGet: { port: 70000 } }, 'liveness')).toEqual([
      'spec.livenessProbe.httpGet.port: must be between 1 and 65535',
    ]);
    expect(msgs({ tcpSocket: { port: 0 } })).toEqual([
      'spec.readinessProbe.tcpSocket.port: must be between 1 and 65535',
    ]);
    expect(msgs({ tcpSocket: { port: 1.5 } })).toEqual([
      'spec.readinessProbe.tcpSocket.port: must be between 1 and 65535',
    ]);
    expect(msgs({ tcpSocket: {} })).toEqual(['spec.readinessProbe.tcpSocket.port: required value']);
  });

  it('checks named ports against IANA_SVC_NAME', () => {
    expect(msgs({ tcpSocket: { port: 'http' } })).toEqual([]);
    expect(msgs({ tcpSocket: { port: 'a-very-long-port-name' } })[0]).toMatch(/no more than 15 characters/);
    expect(msgs({ tcpSocket: { port: 'HTTP' } })[0]).toMatch(/lowercase/);
    expect(msgs({ tcpSocket: { port: '8080' } })[0]).toMatch(/at least one letter/);
    expect(msgs({ tcpSocket: { port: '-web' } })[0]).toMatch(/begin or end/);
    expect(msgs({ tcpSocket: { port: 'we--b' } })[0]).toMatch(/consecutive/);
    expect(msgs({ tcpSocket: { port: true } })[0]).toMatch(/port number .* or a port name, got a boolean/);
  });

  it('requires exactly one handler', () => {
    expect(msgs({ periodSeconds: 5 })).toEqual([
      'spec.readinessProbe: must specify a handler type (one of httpGet, tcpSocket, exec, guestAgentPing, icmp)',
    ]);
    expect(msgs({ tcpSocket: { port: 1 }, icmp: {} })).toEqual([
      'spec.readinessProbe: may not specify more than 1 handler type (found tcpSocket, icmp)',
    ]);
  });

  it('checks path, scheme and header names', () => {
    expect(
      msgs({
        httpGet: {
          port: 80,
          path: 'healthz',
          scheme: 'FTP',
          httpHeaders: [
            { name: 'Bad Name', value: 'v' },
            { name: 'X-Ok', value: 'a\r\nb' },
          ],
        },
      }),
    ).toEqual([
      "spec.readinessProbe.httpGet.path: must start with '/'",
      'spec.readinessProbe.httpGet.scheme: unsupported value "FTP": supported values: "HTTP", "HTTPS"',
      'spec.readinessProbe.httpGet.httpHeaders[0].name: must be a valid HTTP header name, got "Bad Name"',
      'spec.readinessProbe.httpGet.httpHeaders[1].value: must not contain CR, LF or NUL',
    ]);
    expect(msgs({ httpGet: { port: 80, httpHeaders: 'x' } })).toEqual([
      'spec.readinessProbe.httpGet.httpHeaders: must be a list, got a string',
    ]);
  });

  it('checks thresholds, period, timeout and delay; successThreshold 1 for liveness and startup', () => {
    expect(
      msgs({
        icmp: {},
        timeoutSeconds: 0,
        periodSeconds: -1,
        successThreshold: 0,
        failureThreshold: 2.5,
        initialDelaySeconds: -1,
      }),
    ).toEqual([
      'spec.readinessProbe.initialDelaySeconds: must be greater than or equal to 0',
      'spec.readinessProbe.timeoutSeconds: must be greater than or equal to 1',
      'spec.readinessProbe.periodSeconds: must be greater than or equal to 1',
      'spec.readinessProbe.successThreshold: must be greater than or equal to 1',
      'spec.readinessProbe.failureThreshold: must be an integer, got 2.5',
    ]);
    expect(msgs({ icmp: {}, successThreshold: 3 }, 'liveness')).toEqual([
      'spec.livenessProbe.successThreshold: must be 1 for liveness probes',
    ]);
    expect(msgs({ icmp: {}, successThreshold: 2 }, 'startup')).toEqual([
      'spec.startupProbe.successThreshold: must be 1 for startup probes',
    ]);
    expect(msgs({ icmp: {}, successThreshold: 2 }, 'readiness')).toEqual([]);
    expect(msgs({ icmp: {}, periodSeconds: '10' })).toEqual([
      'spec.readinessProbe.periodSeconds: must be an integer, got a string',
    ]);
  });

  it('exec.command: a non-empty array of strings without double quotes, backslashes or control characters', () => {
    const problems = (command: unknown) =>
      validateProbe({ exec: { command } }, 'readiness', 'p').map(formatProblem);
    expect(problems(['cat', '/tmp/ready'])).toEqual([]);
    expect(problems(['sh', '-c', "grep 'ok' /tmp/state"])).toEqual([]);
    expect(problems(undefined)).toEqual(['p.exec.command: required value']);
    expect(problems([])).toEqual(['p.exec.command: must not be empty']);
    expect(problems('cat /tmp/ready')).toEqual(['p.exec.command: must be an array of strings, got a string']);
    expect(problems([true])).toEqual(['p.exec.command[0]: must be a string, got a boolean']);
    expect(problems([''])).toEqual(['p.exec.command[0]: the command must not be empty']);
    for (const [bad, shown] of [
      ['a"b', '"\\""'],
      ['a\\b', '"\\\\"'],
      ['a\nb', '"\\n"'],
      ['a\tb', '"\\t"'],
      ['a\u0000b', '"\\u0000"'],
      ['a\u007fb', '"\u007f"'],
    ] as const) {
      const got = problems(['echo', bad]);
      expect(got).toHaveLength(1);
      expect(got[0]).toContain(`p.exec.command[1]: must not contain ${shown}`);
    }
    expect(problems(['"quoted"'])[0]).toContain('p.exec.command[0]: must not contain');
    expect(problems(['x'.repeat(5000)])).toEqual(['p.exec.command: must be at most 4096 characters in all']);
  });

  it('rejects unknown handler types and non-objects without throwing', () => {
    expect(msgs({ grpc: { port: 1 } })).toEqual([
      'spec.readinessProbe.grpc: unknown field (handlers: httpGet, tcpSocket, exec, guestAgentPing, icmp; timings: initialDelaySeconds, timeoutSeconds, periodSeconds, successThreshold, failureThreshold)',
      'spec.readinessProbe: must specify a handler type (one of httpGet, tcpSocket, exec, guestAgentPing, icmp)',
    ]);
    expect(msgs(null)).toEqual(['spec.readinessProbe: must be an object, got null']);
    expect(msgs([1])).toEqual(['spec.readinessProbe: must be an object, got an array']);
    expect(msgs('x')).toEqual(['spec.readinessProbe: must be an object, got a string']);
    expect(msgs({ httpGet: 5 })).toEqual(['spec.readinessProbe.httpGet: must be an object, got a number']);
    expect(msgs({ icmp: { count: 3 } })[0]).toMatch(/^spec.readinessProbe.icmp.count: unknown field/);
  });
});

describe('probesOfVmi', () => {
  const vmi = {
    metadata: {
      annotations: {
        'vmprobe.io/readiness-probe': JSON.stringify({ icmp: {}, periodSeconds: 2 }),
        'vmprobe.io/startup-probe': '{not json',
      },
    },
    spec: { livenessProbe: { tcpSocket: { port: 1500 } }, readinessProbe: { httpGet: { port: 80 } } },
  };

  it('prefers the annotation over the spec and reads startup only from its annotation', () => {
    const p = probesOfVmi(vmi);
    expect(p.readiness).toEqual({
      kind: 'readiness',
      source: 'annotation',
      fieldPath: 'metadata.annotations[vmprobe.io/readiness-probe]',
      probe: { icmp: {}, periodSeconds: 2 },
    });
    expect(p.liveness).toEqual({
      kind: 'liveness',
      source: 'spec',
      fieldPath: 'spec.livenessProbe',
      probe: { tcpSocket: { port: 1500 } },
    });
    expect(p.startup && 'error' in p.startup && p.startup.error).toMatch(
      /^metadata.annotations\[vmprobe.io\/startup-probe\]: not valid JSON: /,
    );
    expect(probesOfVmi({ spec: { startupProbe: { icmp: {} } } })).toEqual({});
  });

  it('never throws on malformed objects', () => {
    for (const v of [
      null,
      undefined,
      3,
      'x',
      [],
      { metadata: 5, spec: [] },
      { metadata: { annotations: { 'vmprobe.io/liveness-probe': 7 } } },
    ]) {
      expect(() => probesOfVmi(v)).not.toThrow();
      expect(() => resolveVmiProbes(v)).not.toThrow();
    }
    const p = probesOfVmi({ metadata: { annotations: { 'vmprobe.io/liveness-probe': 7 } } });
    expect(p.liveness && 'error' in p.liveness && p.liveness.error).toBe(
      'metadata.annotations[vmprobe.io/liveness-probe]: must be a string of JSON',
    );
  });

  it('resolveVmiProbes validates and defaults each source', () => {
    const r = resolveVmiProbes(vmi);
    expect(r.readiness?.ok && r.readiness.probe.periodSeconds).toBe(2);
    expect(r.liveness?.ok && r.liveness.probe.handler).toEqual({ type: 'tcp', port: 1500 });
    expect(r.startup?.ok).toBe(false);
    const bad = resolveVmiProbes({ spec: { livenessProbe: { httpGet: { port: 0 } } } });
    expect(bad.liveness?.ok === false && bad.liveness.problems.map(formatProblem)).toEqual([
      'spec.livenessProbe.httpGet.port: must be between 1 and 65535',
    ]);
  });
});
