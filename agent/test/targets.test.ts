import { resolveProbe } from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import { trimPod, trimVmi } from '../src/model/trim.js';
import {
  InvalidCidrError,
  launcherPodsOf,
  NodeAddresses,
  ProbeAddressPolicy,
  parseCidr,
  resolveTarget,
  unmapIpv4,
} from '../src/targets/index.js';

const UID = 'uid-1';

// Fixtures go through the watchers' trimming, as every object the agent caches does.
function vmi(over: Partial<VmiObject> = {}, annotations: Record<string, string> = {}): VmiObject {
  return trimVmi({
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
  });
}

function pod(name: string, node: string, ips: string[], phase = 'Running', uid = UID): PodObject {
  return trimPod({
    metadata: { name, namespace: 'ns', uid: `pod-${name}`, labels: { 'kubevirt.io/created-by': uid } },
    spec: { nodeName: node },
    status: { phase, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  });
}

const NODE_IP = '192.0.2.2';
const nodeAddresses = { has: (ip: string) => ip === NODE_IP || ip === 'fd00:2::2' };
const policy = (allowCidrs: string[] = [], unsafeCidrs: string[] = []) =>
  new ProbeAddressPolicy({ allowCidrs, unsafeCidrs, nodeAddresses });
/** The fixture's guest-reported networks are allow-listed, as an operator would for a known range. */
const guestNets = policy(['10.0.0.0/8', 'fd00::/64', '192.168.50.0/24', 'fd50::/64']);
const tcp = (port: number | string, host?: string) =>
  resolveProbe({ tcpSocket: { port, ...(host ? { host } : {}) } }, 'liveness');

function choose(v: VmiObject, pods: PodObject[], probe = tcp(1500), addressPolicy = guestNets) {
  return resolveTarget(probe, v, {
    launcherPods: launcherPodsOf(v, pods, 'node-a'),
    addressPolicy,
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
  it('is accepted when it is the launcher pod IP, or a guest address inside --allow-probe-cidr', () => {
    expect(choose(vmi(), [], tcp(22, '192.168.50.4'))).toMatchObject({
      ok: true,
      target: { host: '192.168.50.4' },
    });
    expect(
      choose(vmi(), [pod('p', 'node-a', ['10.244.0.7'])], tcp(22, '10.244.0.7'), policy()),
    ).toMatchObject({
      ok: true,
    });
  });

  it('a guest-reported interface address outside --allow-probe-cidr is refused', () => {
    const r = choose(vmi(), [], tcp(22, '192.168.50.4'), policy());
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toContain("neither the launcher pod's IP nor inside --allow-probe-cidr");
  });

  it('is refused with InvalidProbe when it is outside --allow-probe-cidr, naming the field', () => {
    const r = choose(vmi(), [], tcp(10250, '172.32.0.1'));
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toBe(
      "172.32.0.1 (spec.livenessProbe.tcpSocket.host) is neither the launcher pod's IP nor inside --allow-probe-cidr; not probed",
    );
  });

  it('loopback, link-local, multicast and node addresses are refused even inside --allow-probe-cidr', () => {
    const all = policy(['0.0.0.0/0', '::/0']);
    for (const host of ['127.0.0.1', '169.254.169.254', '224.0.0.1', '0.0.0.0', '::1', 'fe80::1', NODE_IP]) {
      const r = choose(vmi(), [], tcp(80, host), all);
      expect(r, host).toMatchObject({ ok: false, reason: 'InvalidProbe' });
      expect(r.ok ? '' : r.message, host).toContain('never probes');
    }
    const mapped = choose(vmi(), [], tcp(80, '::ffff:127.0.0.1'), all);
    expect(mapped).toMatchObject({ ok: false, reason: 'InvalidProbe' });
  });

  it('is accepted inside --allow-probe-cidr (IPv4 and IPv6)', () => {
    const allowed = policy(['172.16.0.0/12', 'fd99::/64']);
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

describe('guest-reported addresses (status.interfaces)', () => {
  const reporting = (ip: string) =>
    vmi({
      status: { nodeName: 'node-a', phase: 'Running', interfaces: [{ name: 'default', ipAddress: ip }] },
    });

  it('are used only when they are the launcher pod IP or inside --allow-probe-cidr', () => {
    const launcher = [pod('p', 'node-a', ['10.1.0.9'], 'Pending')]; // not Running: no pod IP choice
    expect(choose(reporting('10.1.0.9'), launcher, tcp(1500), policy())).toMatchObject({
      ok: true,
      address: '10.1.0.9',
    });
    const r = choose(reporting('10.1.0.9'), [], tcp(1500), policy());
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toBe(
      "10.1.0.9 (status.interfaces, network default, reported by the guest) is neither the launcher pod's IP nor inside --allow-probe-cidr; not probed",
    );
    expect(choose(reporting('10.1.0.9'), [], tcp(1500), policy(['10.1.0.0/24']))).toMatchObject({ ok: true });
  });

  it('loopback, cloud metadata and the node address are refused whatever the allow-list', () => {
    const all = policy(['0.0.0.0/0', '::/0']);
    const cases: [string, string][] = [
      ['127.0.0.1', 'a loopback address'],
      ['169.254.169.254', 'a link-local address'],
      [NODE_IP, "one of the node's own addresses"],
      ['ff02::1', 'a multicast address'],
      ['::', 'an unspecified address'],
    ];
    for (const [ip, why] of cases) {
      const r = choose(reporting(ip), [], tcp(1500), all);
      expect(r, ip).toMatchObject({ ok: false, reason: 'InvalidProbe' });
      expect(r.ok ? '' : r.message, ip).toContain(`is ${why}`);
    }
  });

  it('the last launcher pod IP keeps vouching while the pod has just vanished (same VMI uid only)', () => {
    const p = policy();
    const v = reporting('10.1.0.9');
    expect(choose(v, [pod('p', 'node-a', ['10.1.0.9'], 'Pending')], tcp(1500), p)).toMatchObject({
      ok: true,
    });
    // the pod is gone (deleted after a liveness kill): the VMI is still Running for a moment
    expect(choose(v, [], tcp(1500), p)).toMatchObject({ ok: true, address: '10.1.0.9' });
    const other = { ...v, metadata: { ...v.metadata, uid: 'uid-2' } };
    expect(choose(other, [], tcp(1500), p)).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    // a new pod with another IP replaces the voucher
    expect(choose(v, [pod('q', 'node-a', ['10.1.0.10'], 'Pending')], tcp(1500), p)).toMatchObject({
      ok: false,
      reason: 'InvalidProbe',
    });
  });

  it('a launcher pod IP of a never-probed class is refused too', () => {
    const r = choose(vmi(), [pod('p', 'node-a', [NODE_IP])], tcp(1500), policy());
    expect(r).toMatchObject({ ok: false, reason: 'InvalidProbe' });
    expect(r.ok ? '' : r.message).toContain("the launcher pod's IP");
  });

  it('--unsafe-probe-cidr exempts a range from the fixed classes but never the node addresses', () => {
    const testbed = policy(['127.0.0.0/8'], ['127.64.0.0/10']);
    expect(choose(reporting('127.77.0.2'), [], tcp(1500), testbed)).toMatchObject({ ok: true });
    expect(choose(reporting('127.0.0.1'), [], tcp(1500), testbed)).toMatchObject({ ok: false });
    const nodeInUnsafe = policy(['0.0.0.0/0'], ['192.0.2.0/24']);
    expect(choose(reporting(NODE_IP), [], tcp(1500), nodeInUnsafe)).toMatchObject({ ok: false });
  });
});

describe('node addresses', () => {
  it('are read from the host lazily and re-read after the TTL; IPv4-mapped forms match', () => {
    let now = 0;
    let reads = 0;
    let addrs = ['192.0.2.2', 'FE80::1'];
    const n = new NodeAddresses(
      () => {
        reads++;
        return addrs;
      },
      () => now,
      1000,
    );
    expect(reads).toBe(0);
    expect(n.has('192.0.2.2')).toBe(true);
    expect(n.has('fe80::1')).toBe(true);
    addrs = ['192.0.2.3'];
    now = 999;
    expect(n.has('192.0.2.3')).toBe(false);
    now = 1000;
    expect(n.has('192.0.2.3')).toBe(true);
    expect(reads).toBe(2);
    expect(unmapIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(unmapIpv4('::ffff:10.0.0.1')).toBe('10.0.0.1');
  });

  it('the default reads this host, which always has a loopback address', () => {
    expect(new NodeAddresses().has('127.0.0.1')).toBe(true);
  });
});
