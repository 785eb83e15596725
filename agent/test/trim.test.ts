// Trimming (model/trim.ts): the watchers cache only the fields the agent reads. Two things are
// checked against whole objects as KubeVirt and the kubelet write them: the trimmed object is
// exactly the listed fields (nothing else survives), and every reader the agent has gives the same
// answer on the trimmed object as on the whole one, for each state those readers distinguish.
import { POD_READINESS_CONDITION, podHasReadinessGate } from '@vmprobe/shared';
import { describe, expect, it } from 'vitest';
import {
  desiredProbes,
  guestProbeSuspension,
  isProbedHere,
  livenessSuspension,
  runningSince,
} from '../src/discovery/desired.js';
import { checkFreshPod, checkFreshVmi } from '../src/liveness/fresh-check.js';
import type { PodObject, VmiObject } from '../src/model/objects.js';
import { timeString, trimPod, trimVmi } from '../src/model/trim.js';
import { launcherPodsOf, ProbeAddressPolicy } from '../src/targets/index.js';

const NODE = 'node-a';
const UID = '6f1e0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const POD_UID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

type Json = Record<string, unknown>;

/** A whole VMI as virt-controller/virt-handler leave it on a node (KubeVirt v1.3 shape). */
function fullVmi(): Json {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: 'vm1',
      namespace: 'ns',
      uid: UID,
      resourceVersion: '4711',
      generation: 9,
      creationTimestamp: '2026-12-01T10:00:00Z',
      finalizers: ['kubevirt.io/virtualMachineControllerFinalize', 'foregroundDeleteVirtualMachine'],
      labels: {
        'kubevirt.io/nodeName': NODE,
        'kubevirt.io/vm': 'vm1',
        'vm.kubevirt.io/name': 'vm1',
        app: 'web',
      },
      annotations: {
        'kubevirt.io/latest-observed-api-version': 'v1',
        'kubevirt.io/storage-observed-api-version': 'v1',
        'kubevirt.io/vm-generation': '1',
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          spec: { big: 'x'.repeat(200) },
        }),
        'vmprobe.io/startup-probe': '{"tcpSocket":{"port":22},"failureThreshold":30}',
        'vmprobe.io/probe-network': 'default',
        'vmprobe.io/ip-family': 'IPv4',
      },
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name: 'vm1',
          uid: 'vm-uid',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'virt-controller',
          operation: 'Update',
          apiVersion: 'kubevirt.io/v1',
          time: '2026-12-01T10:00:05Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:phase': {} } },
        },
        {
          manager: 'virt-handler',
          operation: 'Update',
          apiVersion: 'kubevirt.io/v1',
          time: '2026-12-01T10:00:09Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { 'f:interfaces': {}, 'f:guestOSInfo': {} } },
        },
      ],
    },
    spec: {
      architecture: 'amd64',
      domain: {
        cpu: { cores: 1, sockets: 1, threads: 1, model: 'host-model' },
        memory: { guest: '1Gi' },
        resources: { requests: { memory: '1Gi' } },
        firmware: { uuid: 'fw-uuid', serial: 'serial' },
        machine: { type: 'q35' },
        features: { acpi: { enabled: true } },
        devices: {
          disks: [
            { name: 'containerdisk', disk: { bus: 'virtio' } },
            { name: 'cloudinitdisk', disk: { bus: 'virtio' } },
          ],
          interfaces: [
            {
              name: 'default',
              masquerade: {},
              macAddress: '02:00:00:00:00:01',
              ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 22 }],
            },
            { name: 'storage', bridge: {} },
          ],
        },
      },
      networks: [
        { name: 'default', pod: {} },
        { name: 'storage', multus: { networkName: 'storage-net' } },
      ],
      volumes: [
        { name: 'containerdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:39' } },
        { name: 'cloudinitdisk', cloudInitNoCloud: { userData: '#cloud-config\npassword: fedora\n' } },
      ],
      terminationGracePeriodSeconds: 30,
      evictionStrategy: 'LiveMigrate',
      livenessProbe: { httpGet: { port: 'http', path: '/healthz' }, periodSeconds: 5 },
      readinessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10 },
    },
    status: {
      activePods: { [POD_UID]: NODE },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: '2026-12-01T10:00:08Z',
        },
        {
          type: 'LiveMigratable',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: null,
        },
        {
          type: 'AgentConnected',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: '2026-12-01T10:00:20Z',
        },
      ],
      currentCPUTopology: { cores: 1, sockets: 1, threads: 1 },
      guestOSInfo: { id: 'fedora', name: 'Fedora Linux', version: '39', kernelRelease: '6.5.6-300.fc39' },
      interfaces: [
        {
          name: 'default',
          interfaceName: 'eth0',
          ipAddress: '10.244.1.17',
          ipAddresses: ['10.244.1.17', 'fd10:244::17'],
          mac: '02:00:00:00:00:01',
          infoSource: 'domain, guest-agent',
          queueCount: 1,
        },
        { name: 'storage', ipAddress: '192.168.50.4', infoSource: 'guest-agent' },
      ],
      launcherContainerImageVersion: 'quay.io/kubevirt/virt-launcher:v1.3.0',
      machine: { type: 'pc-q35-rhel9.4.0' },
      memory: { guestAtBoot: '1Gi', guestCurrent: '1Gi', guestRequested: '1Gi' },
      migrationMethod: 'BlockMigration',
      migrationTransport: 'Unix',
      nodeName: NODE,
      phase: 'Running',
      phaseTransitionTimestamps: [
        { phase: 'Pending', phaseTransitionTimestamp: '2026-12-01T10:00:00Z' },
        { phase: 'Scheduling', phaseTransitionTimestamp: '2026-12-01T10:00:01Z' },
        { phase: 'Scheduled', phaseTransitionTimestamp: '2026-12-01T10:00:03Z' },
        { phase: 'Running', phaseTransitionTimestamp: '2026-12-01T10:00:06Z' },
      ],
      qosClass: 'Burstable',
      selinuxContext: 'system_u:object_r:container_file_t:s0:c1,c2',
      virtualMachineRevisionName: 'revision-start-vm-1',
      volumeStatus: [
        { name: 'cloudinitdisk', size: 1048576, target: 'vdb' },
        { name: 'containerdisk', target: 'vda' },
      ],
    },
  };
}

/** A whole virt-launcher pod as the kubelet reports it (the webhook added vmprobe's gate). */
function fullPod(): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-vm1-abcde',
      generateName: 'virt-launcher-vm1-',
      namespace: 'ns',
      uid: POD_UID,
      resourceVersion: '4700',
      creationTimestamp: '2026-12-01T10:00:01Z',
      labels: {
        'kubevirt.io': 'virt-launcher',
        'kubevirt.io/created-by': UID,
        'kubevirt.io/nodeName': NODE,
        'vm.kubevirt.io/name': 'vm1',
      },
      annotations: {
        'kubevirt.io/domain': 'vm1',
        'kubevirt.io/migrationTransportUnix': 'true',
        'kubectl.kubernetes.io/default-container': 'compute',
      },
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          name: 'vm1',
          uid: UID,
          controller: true,
        },
      ],
      managedFields: [
        {
          manager: 'virt-controller',
          operation: 'Update',
          time: '2026-12-01T10:00:01Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': {} },
        },
        {
          manager: 'kubelet',
          operation: 'Update',
          subresource: 'status',
          time: '2026-12-01T10:00:05Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': {} },
        },
      ],
    },
    spec: {
      nodeName: NODE,
      readinessGates: [
        { conditionType: 'kubevirt.io/virtual-machine-unpaused' },
        { conditionType: POD_READINESS_CONDITION },
      ],
      containers: [
        {
          name: 'compute',
          image: 'quay.io/kubevirt/virt-launcher:v1.3.0',
          command: ['/usr/bin/virt-launcher-monitor', '--qemu-timeout', '241s'],
          resources: { requests: { cpu: '100m', memory: '1294Mi' } },
          volumeMounts: [{ name: 'sockets', mountPath: '/var/run/kubevirt/sockets' }],
        },
      ],
      volumes: [
        { name: 'private', emptyDir: {} },
        { name: 'sockets', emptyDir: {} },
      ],
      restartPolicy: 'Never',
      schedulerName: 'default-scheduler',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 45,
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
    },
    status: {
      phase: 'Running',
      podIP: '10.244.1.17',
      podIPs: [{ ip: '10.244.1.17' }, { ip: 'fd10:244::17' }],
      hostIP: '192.0.2.2',
      hostIPs: [{ ip: '192.0.2.2' }],
      qosClass: 'Burstable',
      startTime: '2026-12-01T10:00:02Z',
      conditions: [
        {
          type: POD_READINESS_CONDITION,
          status: 'True',
          reason: 'ProbeSucceeded',
          message: 'HTTP probe succeeded with statuscode: 200',
          lastProbeTime: null,
          lastTransitionTime: '2026-12-01T10:00:12Z',
        },
        {
          type: 'kubevirt.io/virtual-machine-unpaused',
          status: 'True',
          lastTransitionTime: '2026-12-01T10:00:02Z',
        },
        { type: 'Initialized', status: 'True', lastTransitionTime: '2026-12-01T10:00:02Z' },
        { type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T10:00:12Z' },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: '2026-12-01T10:00:05Z' },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-12-01T10:00:01Z' },
      ],
      containerStatuses: [
        {
          name: 'compute',
          image: 'quay.io/kubevirt/virt-launcher:v1.3.0',
          imageID: 'quay.io/kubevirt/virt-launcher@sha256:0123456789abcdef',
          containerID: 'containerd://0123456789abcdef',
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: '2026-12-01T10:00:04Z' } },
        },
      ],
    },
  };
}

describe('trimVmi', () => {
  it('keeps exactly the fields the agent reads and drops everything else', () => {
    expect(trimVmi(fullVmi())).toStrictEqual({
      metadata: {
        name: 'vm1',
        namespace: 'ns',
        uid: UID,
        resourceVersion: '4711',
        annotations: {
          'vmprobe.io/startup-probe': '{"tcpSocket":{"port":22},"failureThreshold":30}',
          'vmprobe.io/probe-network': 'default',
          'vmprobe.io/ip-family': 'IPv4',
        },
      },
      spec: {
        domain: { devices: { interfaces: [{ name: 'default', ports: [{ name: 'http', port: 8080 }] }] } },
        networks: [{ name: 'default', pod: {} }, { name: 'storage' }],
        terminationGracePeriodSeconds: 30,
        livenessProbe: { httpGet: { port: 'http', path: '/healthz' }, periodSeconds: 5 },
        readinessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10 },
      },
      status: {
        nodeName: NODE,
        phase: 'Running',
        interfaces: [
          { name: 'default', ipAddress: '10.244.1.17', ipAddresses: ['10.244.1.17', 'fd10:244::17'] },
          { name: 'storage', ipAddress: '192.168.50.4' },
        ],
        conditions: [{ type: 'Ready', status: 'True' }],
        phaseTransitionTimestamps: [{ phase: 'Running', phaseTransitionTimestamp: '2026-12-01T10:00:06Z' }],
      },
    });
  });

  // Each row: a field of the whole VMI (set by `edit`) and what the trimmed VMI holds of it.
  const rows: { field: string; edit: (v: Json) => void; kept: (t: VmiObject) => unknown; want: unknown }[] = [
    {
      field: 'metadata.deletionTimestamp',
      edit: (v) => {
        (v.metadata as Json).deletionTimestamp = '2026-12-01T11:00:00Z';
      },
      kept: (t) => t.metadata?.deletionTimestamp,
      want: '2026-12-01T11:00:00Z',
    },
    {
      field: 'metadata.annotations[kubevirt.io/pause-guest-agent-probes]',
      edit: (v) => {
        ((v.metadata as Json).annotations as Json)['kubevirt.io/pause-guest-agent-probes'] = 'true';
      },
      kept: (t) => t.metadata?.annotations?.['kubevirt.io/pause-guest-agent-probes'],
      want: 'true',
    },
    {
      field: 'metadata.annotations[vmprobe.io/liveness-probe] (not a string: kept for the parser to reject)',
      edit: (v) => {
        ((v.metadata as Json).annotations as Json)['vmprobe.io/liveness-probe'] = 5;
      },
      kept: (t) => t.metadata?.annotations?.['vmprobe.io/liveness-probe'],
      want: 5,
    },
    {
      field: 'metadata.labels (none kept on a VMI)',
      edit: () => {},
      kept: (t) => t.metadata?.labels,
      want: undefined,
    },
    {
      field: 'status.conditions Paused (with Ready; others dropped)',
      edit: (v) => {
        ((v.status as Json).conditions as Json[]).push({
          type: 'Paused',
          status: 'True',
          reason: 'PausedByUser',
          lastTransitionTime: '2026-12-01T10:30:00Z',
        });
      },
      kept: (t) => t.status?.conditions,
      want: [
        { type: 'Ready', status: 'True' },
        { type: 'Paused', status: 'True' },
      ],
    },
    {
      field: 'status.migrationState (running migration)',
      edit: (v) => {
        (v.status as Json).migrationState = {
          migrationUid: 'mig-uid',
          sourceNode: NODE,
          targetNode: 'node-b',
          targetPod: 'virt-launcher-vm1-zzzzz',
          startTimestamp: '2026-12-01T10:40:00Z',
          mode: 'PreCopy',
          migrationConfiguration: { bandwidthPerMigration: '0Mi' },
        };
      },
      kept: (t) => t.status?.migrationState,
      want: { startTimestamp: '2026-12-01T10:40:00Z', targetNode: 'node-b' },
    },
    {
      field: 'status.migrationState (completed here)',
      edit: (v) => {
        (v.status as Json).migrationState = {
          sourceNode: 'node-b',
          targetNode: NODE,
          startTimestamp: '2026-12-01T10:40:00Z',
          endTimestamp: '2026-12-01T10:40:09Z',
          completed: true,
          failed: false,
        };
      },
      kept: (t) => t.status?.migrationState,
      want: {
        startTimestamp: '2026-12-01T10:40:00Z',
        endTimestamp: '2026-12-01T10:40:09Z',
        completed: true,
        failed: false,
        targetNode: NODE,
      },
    },
    {
      field: 'status.phaseTransitionTimestamps (the latest Running of several: a restart)',
      edit: (v) => {
        ((v.status as Json).phaseTransitionTimestamps as Json[]).push(
          { phase: 'Failed', phaseTransitionTimestamp: '2026-12-01T10:50:00Z' },
          { phase: 'Running', phaseTransitionTimestamp: '2026-12-01T10:51:00Z' },
        );
      },
      kept: (t) => t.status?.phaseTransitionTimestamps,
      want: [{ phase: 'Running', phaseTransitionTimestamp: '2026-12-01T10:51:00Z' }],
    },
    {
      field: 'spec.networks without a pod network',
      edit: (v) => {
        (v.spec as Json).networks = [
          { name: 'storage', multus: { networkName: 'storage-net', default: true } },
        ];
      },
      kept: (t) => t.spec?.networks,
      want: [{ name: 'storage' }],
    },
  ];
  it.each(rows)('keeps $field', ({ edit, kept, want }) => {
    const v = fullVmi();
    edit(v);
    expect(kept(trimVmi(v))).toStrictEqual(want);
  });

  it('converts a listed object’s Dates to RFC 3339 at seconds, as the API serialises metav1.Time', () => {
    const v = fullVmi();
    (v.metadata as Json).deletionTimestamp = new Date('2026-12-01T11:00:00.000Z');
    ((v.status as Json).phaseTransitionTimestamps as Json[])[3] = {
      phase: 'Running',
      phaseTransitionTimestamp: new Date('2026-12-01T10:00:06.000Z'),
    };
    const t = trimVmi(v);
    expect(t.metadata?.deletionTimestamp).toBe('2026-12-01T11:00:00Z');
    expect(t.status?.phaseTransitionTimestamps).toStrictEqual([
      { phase: 'Running', phaseTransitionTimestamp: '2026-12-01T10:00:06Z' },
    ]);
    expect(timeString(new Date(Number.NaN))).toBeUndefined();
  });

  it.each([null, undefined, 'text', 5, [], {}, { metadata: 'x', spec: [], status: 7 }])(
    'never throws and always has metadata (%j)',
    (raw) => {
      expect(trimVmi(raw).metadata).toStrictEqual({});
    },
  );
});

describe('trimPod', () => {
  it('keeps exactly the fields the agent reads and drops everything else', () => {
    expect(trimPod(fullPod())).toStrictEqual({
      metadata: {
        name: 'virt-launcher-vm1-abcde',
        namespace: 'ns',
        uid: POD_UID,
        resourceVersion: '4700',
        labels: { 'kubevirt.io/created-by': UID },
      },
      spec: {
        nodeName: NODE,
        readinessGates: [
          { conditionType: 'kubevirt.io/virtual-machine-unpaused' },
          { conditionType: POD_READINESS_CONDITION },
        ],
      },
      status: {
        phase: 'Running',
        podIP: '10.244.1.17',
        podIPs: [{ ip: '10.244.1.17' }, { ip: 'fd10:244::17' }],
        conditions: [
          {
            type: POD_READINESS_CONDITION,
            status: 'True',
            reason: 'ProbeSucceeded',
            message: 'HTTP probe succeeded with statuscode: 200',
            lastTransitionTime: '2026-12-01T10:00:12Z',
          },
        ],
      },
    });
  });

  it('a listed pod (client-node’s model: Dates) trims to the same object as the watched JSON', () => {
    const listed = fullPod();
    (listed.metadata as Json).deletionTimestamp = new Date('2026-12-01T11:00:00.000Z');
    ((listed.status as Json).conditions as Json[])[0]!.lastTransitionTime = new Date(
      '2026-12-01T10:00:12.000Z',
    );
    const watched = fullPod();
    (watched.metadata as Json).deletionTimestamp = '2026-12-01T11:00:00Z';
    expect(trimPod(listed)).toStrictEqual(trimPod(watched));
    expect(trimPod(listed).metadata?.deletionTimestamp).toBe('2026-12-01T11:00:00Z');
  });

  it.each([null, undefined, 'text', [], { metadata: null, spec: 'x', status: [] }])(
    'never throws and always has metadata (%j)',
    (raw) => {
      expect(trimPod(raw).metadata).toStrictEqual({});
    },
  );
});

// Every reader of a cached VMI or pod, on the whole object and on the trimmed one: same answers.
describe('the agent reads the same from a trimmed object as from the whole one', () => {
  const policy = new ProbeAddressPolicy({
    allowCidrs: ['10.0.0.0/8', 'fd10::/16', '192.168.50.0/24'],
    unsafeCidrs: [],
    nodeAddresses: { has: () => false },
  });
  function readings(vmi: VmiObject, pods: PodObject[]) {
    const launcherPods = launcherPodsOf(vmi, pods, NODE);
    const desired = desiredProbes(vmi, launcherPods, {
      addressPolicy: policy,
      guestProbes: { podsRoot: '/pods' },
    });
    return {
      probedHere: isProbedHere(vmi, NODE),
      suspension: livenessSuspension(vmi),
      guestSuspension: guestProbeSuspension(vmi),
      runningSince: runningSince(vmi),
      launcherPods: launcherPods.map((p) => p.metadata?.name),
      desired: [...desired.values()],
      freshVmi: checkFreshVmi(vmi, { namespace: 'ns', name: 'vm1', uid: UID }, NODE),
      freshPods: pods.map((p) =>
        checkFreshPod(p, { namespace: 'ns', name: 'virt-launcher-vm1-abcde', uid: POD_UID }, NODE),
      ),
      gates: pods.map((p) => podHasReadinessGate(p)),
      // what the reporter's podCondition (agent.ts) takes of vmprobe's condition
      podCondition: pods.map((p) => {
        const c = p.status?.conditions?.find((x) => x.type === POD_READINESS_CONDITION);
        return c && [c.status, c.reason, c.message, c.lastTransitionTime];
      }),
    };
  }
  const variants: { name: string; vmi?: (v: Json) => void; pod?: (p: Json) => void }[] = [
    { name: 'running, both probes, startup annotation' },
    {
      name: 'paused',
      vmi: (v) => {
        ((v.status as Json).conditions as Json[]).push({ type: 'Paused', status: 'True' });
      },
    },
    {
      name: 'migrating away',
      vmi: (v) => {
        (v.status as Json).migrationState = { startTimestamp: '2026-12-01T10:40:00Z', targetNode: 'node-b' };
      },
    },
    {
      name: 'deleting VMI and pod',
      vmi: (v) => {
        (v.metadata as Json).deletionTimestamp = '2026-12-01T11:00:00Z';
      },
      pod: (p) => {
        (p.metadata as Json).deletionTimestamp = '2026-12-01T11:00:00Z';
      },
    },
    {
      name: 'guest-agent probes paused, exec liveness',
      vmi: (v) => {
        const a = (v.metadata as Json).annotations as Json;
        a['kubevirt.io/pause-guest-agent-probes'] = 'true';
        a['vmprobe.io/liveness-probe'] = '{"exec":{"command":["true"]}}';
      },
    },
    {
      name: 'probe network on a secondary network, IPv6 family',
      vmi: (v) => {
        const a = (v.metadata as Json).annotations as Json;
        a['vmprobe.io/probe-network'] = 'storage';
        a['vmprobe.io/ip-family'] = 'IPv6';
      },
    },
    {
      name: 'pod on another node, not Running, no IP',
      pod: (p) => {
        (p.spec as Json).nodeName = 'node-b';
        (p.status as Json).phase = 'Pending';
        delete (p.status as Json).podIP;
        delete (p.status as Json).podIPs;
      },
    },
    {
      name: 'invalid probe (named port not declared), VMI on another node',
      vmi: (v) => {
        (v.spec as Json).livenessProbe = { tcpSocket: { port: 'ssh' } };
        (v.status as Json).nodeName = 'node-b';
      },
    },
    {
      name: 'no gate on the pod, other pod condition types only',
      pod: (p) => {
        (p.spec as Json).readinessGates = [];
        (p.status as Json).conditions = [{ type: 'Ready', status: 'False' }];
      },
    },
  ];
  it.each(variants)('$name', ({ vmi, pod }) => {
    const v = fullVmi();
    const p = fullPod();
    vmi?.(v);
    pod?.(p);
    const whole = readings(v as VmiObject, [p as PodObject]);
    const trimmed = readings(trimVmi(v), [trimPod(p)]);
    expect(whole.desired.length).toBeGreaterThan(0);
    expect(trimmed).toStrictEqual(whole);
  });
});
