import { resolveProbe } from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import {
  CidrAllowList,
  InvalidCidrError,
  launcherPodsOf,
  parseCidr,
  resolveTarget,
} from '../src/targets/index.js';

const UID = 'uid-1';

function vmi(over: Partial<VmiObject> = {}, annotations: Record<string, string> = {}): VmiObject {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid: UID, annotations },
    spec: {
      domain: { devices: { interfaces: [{ name: 'default', ports: [{ name: 'http', port: 8080 }] }] } },
      networks: [
        { name: 'default', pod: {} },
        { name: 'storage', multus: { networkName: 'storage-net' } },
      ],
    },
    status: {
      nodeName: 'node-a',
      phase: 'Running',
      interfaces: [
        { name: 'default', ipAddress: '10.1.0.9', ipAddresses: ['10.1.0.9', 'fd00::9'] },
        { name: 'storage', ipAddress: '192.168.50.4', ipAddresses: ['192.168.50.4', 'fd50::4'] },
      ],
    },
    ...over,
  };
}

function pod(name: string, node: string, ips: string[], phase = 'Running', uid = UID): PodObject {
  return {
    metadata: { name, namespace: 'ns', uid: `pod-${name}`, labels: { 'kubevirt.io/created-by': uid } },
    spec: { nodeName: node },
    status: { phase, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

const none = new CidrAllowList([]);
const tcp = (port: number | string, host?: string) =>
  resolveProbe({ tcpSocket: { port, ...(host ? { host } : {}) } }, 'liveness');

function choose(v: VmiObject, pods: PodObject[], probe = tcp(1500), allowed = none) {
  return resolveTarget(probe, v, {
    launcherPods: launcherPodsOf(v, pods, 'node-a'),
    allowedCidrs: allowed,
    fieldPath: 'spec.livenessProbe',
  });
}

describe('target address', () => {
  it('prefers the launcher pod IP, as the kubelet would', () => {
    const r = choose(vmi(), [pod('virt-launcher-vm1-x', 'node-a', ['10.244.0.7'])]);
    expect(r).toMatchObject({
      ok: true,
      target: { type: 'tcp', host: '10.244.0.7', port: 1500 },
      address: '10.244.0.7',
    });
  });

  it('during a migration takes the launcher pod on this node', () => {
    const pods = [
      pod('virt-launcher-vm1-a', 'node-b', ['10.244.1.3']),
      pod('virt-launcher-vm1-b', 'node-a', ['10.244.0.8']),
    ];
    expect(choose(vmi(), pods)).toMatchObject({ ok: true, address: '10.244.0.8' });
  });

  it('ignores pods of other VMIs and pods not Running', () => {
    const pods = [
      pod('other', 'node-a', ['10.9.9.9'], 'Running', 'other-uid'),
      pod('pending', 'node-a', ['10.8.8.8'], 'Pending'),
    ];
    expect(choose(vmi(), pods)).toMatchObject({ ok: true, address: '10.1.0.9' });
  });

  it('falls back to the pod-network interface address, using the network named in spec.networks', () => {
    const v = vmi({
      spec: { networks: [{ name: 'podnet', pod: {} }] },
      status: {
        interfaces: [
          { name: 'podnet', ipAddress: '10.3.0.1' },
          { name: 'default', ipAddress: '10.4.0.1' },
        ],
      },
    });
    expect(choose(v, [])).toMatchObject({ ok: true, address: '10.3.0.1' });
  });

  it('vmprobe.io/probe-network picks another network interface', () => {
    const v = vmi({}, { 'vmprobe.io/probe-network': 'storage' });
    expect(choose(v, [pod('p', 'node-a', ['10.244.0.7'])])).toMatchObject({
      ok: true,
      address: '192.168.50.4',
    });
  });

  it('vmprobe.io/probe-network naming an undeclared network is InvalidProbe', () => {
    const r = choose(vmi({}, { 'vmprobe.io/probe-network': 'nope' }), []);
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toContain('"nope"');
  });

  it('vmprobe.io/ip-family: IPv6 picks the IPv6 address of the pod and shows it bracketed', () => {
    const v = vmi({}, { 'vmprobe.io/ip-family': 'IPv6' });
    const r = choose(
      v,
      [pod('p', 'node-a', ['10.244.0.7', 'fd00:244::7'])],
      resolveProbe({ httpGet: { port: 80 } }, 'readiness'),
    );
    expect(r).toMatchObject({
      ok: true,
      address: '[fd00:244::7]',
      display: '[fd00:244::7]:80',
      target: { host: 'fd00:244::7' },
    });
  });

  it('vmprobe.io/ip-family: IPv6 with an IPv4-only pod falls back to the interface IPv6 address', () => {
    const v = vmi({}, { 'vmprobe.io/ip-family': 'IPv6' });
    expect(choose(v, [pod('p', 'node-a', ['10.244.0.7'])])).toMatchObject({ ok: true, address: '[fd00::9]' });
  });

  it('an unknown ip-family is InvalidProbe', () => {
    expect(choose(vmi({}, { 'vmprobe.io/ip-family': 'ipx' }), [])).toMatchObject({
      ok: false,
      reason: 'InvalidProbe',
    });
  });

  it('no address anywhere is NoTargetAddress', () => {
    const v = vmi({ status: { phase: 'Running', interfaces: [] } });
    expect(choose(v, [])).toMatchObject({ ok: false, reason: 'NoTargetAddress' });
  });
});

describe('explicit host', () => {
  it('is accepted when it is one of the VMI own addresses', () => {
    expect(choose(vmi(), [], tcp(22, '192.168.50.4'))).toMatchObject({
      ok: true,
      target: { host: '192.168.50.4' },
    });
    expect(choose(vmi(), [pod('p', 'node-a', ['10.244.0.7'])], tcp(22, '10.244.0.7'))).toMatchObject({
      ok: true,
    });
  });

  it('is refused with InvalidProbe when it is a node-local address outside --allow-probe-cidr', () => {
    const r = choose(vmi(), [], tcp(10250, '127.0.0.1'));
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toContain('--allow-probe-cidr');
  });

  it('is accepted inside --allow-probe-cidr (IPv4 and IPv6)', () => {
    const allowed = new CidrAllowList(['172.16.0.0/12', 'fd99::/64']);
    expect(choose(vmi(), [], tcp(80, '172.20.1.1'), allowed)).toMatchObject({ ok: true });
    expect(choose(vmi(), [], tcp(80, 'fd99::1'), allowed)).toMatchObject({ ok: true, address: '[fd99::1]' });
    expect(choose(vmi(), [], tcp(80, '172.32.0.1'), allowed)).toMatchObject({
      ok: false,
      reason: 'InvalidProbe',
    });
  });

  it('a host name is refused (the agent never resolves names)', () => {
    expect(choose(vmi(), [], tcp(80, 'localhost'))).toMatchObject({ ok: false, reason: 'InvalidProbe' });
  });
});

describe('ports', () => {
  it('a named port resolves against the VMI interface ports', () => {
    expect(choose(vmi(), [], tcp('http'))).toMatchObject({ ok: true, target: { port: 8080 } });
  });

  it('an unknown named port is InvalidProbe', () => {
    const r = choose(vmi(), [], tcp('metrics'));
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toContain('spec.livenessProbe.tcpSocket.port');
  });

  it('icmp needs no port; exec is UnsupportedProbe', () => {
    expect(choose(vmi(), [], resolveProbe({ icmp: {} }, 'readiness'))).toMatchObject({
      ok: true,
      display: '10.1.0.9',
    });
    expect(choose(vmi(), [], resolveProbe({ exec: { command: ['true'] } }, 'readiness'))).toMatchObject({
      ok: false,
      reason: 'UnsupportedProbe',
    });
  });

  it('http keeps scheme, path and headers', () => {
    const p = resolveProbe(
      { httpGet: { port: 443, scheme: 'HTTPS', path: '/healthz', httpHeaders: [{ name: 'X', value: 'y' }] } },
      'readiness',
    );
    expect(choose(vmi(), [], p)).toMatchObject({
      ok: true,
      target: {
        type: 'http',
        scheme: 'https',
        host: '10.1.0.9',
        port: 443,
        path: '/healthz',
        headers: [{ name: 'X', value: 'y' }],
      },
    });
  });
});

describe('CIDR parsing', () => {
  it('parses v4 and v6 and rejects garbage with a typed error', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'x/8', 'fd00::/129', '10.0.0.0/-1']) {
      expect(() => parseCidr(bad)).toThrow(InvalidCidrError);
    }
  });
});
