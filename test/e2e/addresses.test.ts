// Guest-reported addresses are not trusted (design §7 "Addresses"): a VM owner whose guest reports
// 127.0.0.1, the node's address or 169.254.169.254 in status.interfaces must not aim the host-network
// agent there. Real listeners on those addresses count connections; the agent must open none and
// report InvalidProbe saying why, while a VMI whose guest reports its own launcher pod IP is probed.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isRoot } from '@vmprobe/test/vmsim/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vmi } from '../src/kubevirt/index.js';
import { type AgentBed, conditionOf, probeStatus, startAgentBed, waitForCondition } from './agent-helpers.js';

const METADATA_IP = '169.254.169.254';

interface CountingListener {
  server: Server;
  port: number;
  connections: number;
}

async function listen(host: string): Promise<CountingListener> {
  const l: CountingListener = { server: createServer(), port: 0, connections: 0 };
  l.server.on('connection', (s) => {
    l.connections++;
    s.destroy();
  });
  l.server.listen(0, host);
  await once(l.server, 'listening');
  l.port = (l.server.address() as { port: number }).port;
  return l;
}

/** A non-internal IPv4 address of this host: what the agent must treat as the node's own. */
function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return undefined;
}

function hasAddress(ip: string): boolean {
  return Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === ip));
}

/** A VMI whose readiness probe (tcpSocket, or httpGet on the VM's :1500) targets network `guest`, or an explicit host. */
function guestVmi(name: string, port: number | 'http', host?: string): Vmi {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name, annotations: host ? {} : { 'vmprobe.io/probe-network': 'guest' } },
    spec: {
      domain: {
        devices: { interfaces: [{ name: 'default', masquerade: {} }] },
        resources: { requests: { memory: '64Mi' } },
      },
      networks: [
        { name: 'default', pod: {} },
        { name: 'guest', multus: { networkName: 'guest-net' } },
      ],
      readinessProbe: {
        ...(port === 'http'
          ? { httpGet: { port: 1500 } }
          : { tcpSocket: { port, ...(host ? { host } : {}) } }),
        periodSeconds: 1,
        timeoutSeconds: 1,
      },
    },
  } as unknown as Vmi;
}

const hostIp = hostAddress();
if (!hostIp)
  console.warn('addresses.test: no non-loopback IPv4 address on this host; node-address case skipped');
const metadataOk = isRoot && !hasAddress(METADATA_IP);
if (!metadataOk)
  console.warn(
    `addresses.test: ${METADATA_IP} case skipped (needs root to add it to lo, and it must not exist yet)`,
  );

describe('guest-reported addresses', () => {
  let bed: AgentBed;
  const listeners: CountingListener[] = [];
  let addedMetadata = false;

  beforeAll(async () => {
    if (metadataOk) {
      execFileSync('ip', ['addr', 'add', `${METADATA_IP}/32`, 'dev', 'lo']);
      addedMetadata = true;
    }
    bed = await startAgentBed();
  }, 60_000);

  afterAll(async () => {
    await bed?.stop();
    for (const l of listeners) l.server.close();
    if (addedMetadata) execFileSync('ip', ['addr', 'del', `${METADATA_IP}/32`, 'dev', 'lo']);
  });

  /** Makes the guest of `name` report `ip` on network `guest` (as the guest agent would). */
  async function guestReports(name: string, ip: string) {
    const vmi = bed.cluster.emu.store.get<Vmi>({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      namespace: 'default',
      name,
    });
    const interfaces = [
      ...(vmi?.status?.interfaces ?? []),
      { name: 'guest', ipAddress: ip, ipAddresses: [ip] },
    ];
    bed.cluster.emu.store.patch(
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', namespace: 'default', name },
      { status: { interfaces } },
    );
  }

  it('127.0.0.1, 169.254.169.254 and the node address → InvalidProbe and no connection; the pod IP is probed', async () => {
    const { cluster } = bed;
    const refused: { name: string; ip: string; why: string; listener: CountingListener; host?: string }[] =
      [];
    const lo = await listen('127.0.0.1');
    listeners.push(lo);
    refused.push({ name: 'guest-loopback', ip: '127.0.0.1', why: 'is a loopback address', listener: lo });
    refused.push({
      name: 'guest-explicit-host',
      ip: '127.0.0.1',
      why: 'is a loopback address',
      listener: lo,
      host: '127.0.0.1',
    });
    if (hostIp) {
      const l = await listen(hostIp);
      listeners.push(l);
      refused.push({
        name: 'guest-node',
        ip: hostIp,
        why: "is one of the node's own addresses",
        listener: l,
      });
    }
    if (addedMetadata) {
      const l = await listen(METADATA_IP);
      listeners.push(l);
      refused.push({ name: 'guest-metadata', ip: METADATA_IP, why: 'is a link-local address', listener: l });
    }

    for (const r of refused) await cluster.createVmi(guestVmi(r.name, r.listener.port, r.host));
    await cluster.createVmi(guestVmi('guest-own-pod-ip', 'http'));
    const running = { timeoutMs: 60_000 };
    for (const r of refused) await cluster.waitForRunning('default', r.name, running);
    const ctrl = await cluster.waitForRunning('default', 'guest-own-pod-ip', running);
    for (const r of refused) await guestReports(r.name, r.ip);
    const podIp = ctrl.pod.status?.podIP;
    expect(podIp, 'control launcher pod IP').toBeTruthy();
    expect(ctrl.vmi.status?.interfaces?.[0]?.ipAddress).toBe(podIp);
    await guestReports('guest-own-pod-ip', podIp as string);

    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const r of refused) {
      await cluster.waitFor(
        async () => {
          const c = conditionOf(await probeStatus(cluster, 'default', r.name), 'ReadinessProbe');
          return c?.reason === 'InvalidProbe' ? c : undefined;
        },
        { timeoutMs: 20_000, description: `${r.name} InvalidProbe` },
      );
      const c = conditionOf(await probeStatus(cluster, 'default', r.name), 'ReadinessProbe');
      expect(c, r.name).toMatchObject({ status: 'Unknown', reason: 'InvalidProbe' });
      expect(c?.message, r.name).toContain(`${r.ip} (`);
      expect(c?.message, r.name).toContain(r.why);
    }
    // The guest reporting its own launcher pod IP is probed: its VM sees the probes.
    await waitForCondition(cluster, 'default', 'guest-own-pod-ip', 'ReadinessProbe', 'True', 20_000);
    const vm = cluster.kubevirt.vmFor('default', 'guest-own-pod-ip');
    expect(vm, 'control VM').toBeDefined();
    const seen = vm?.requestCount() ?? 0;
    await cluster.waitFor(async () => (vm?.requestCount() ?? 0) >= seen + 3, {
      timeoutMs: 20_000,
      description: 'three more probes of the control VMI (1 s period)',
    });
    for (const r of refused) expect(r.listener.connections, `${r.name} → ${r.ip}`).toBe(0);
  }, 120_000);
});
