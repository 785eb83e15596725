// The parts of KubeVirt's objects the emulated lifecycle reads and writes (kubevirt.io/v1).
import type { KubernetesObject, V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import type { LabelSelector } from './util.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string | null;
  lastProbeTime?: string | null;
}

export interface ProbeSpec {
  httpGet?: { port?: number | string; path?: string; host?: string; scheme?: string };
  tcpSocket?: { port?: number | string; host?: string };
  [k: string]: unknown;
}

export interface VmiSpec {
  nodeSelector?: Record<string, string>;
  livenessProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
  terminationGracePeriodSeconds?: number;
  networks?: Array<{ name: string; pod?: object; multus?: object }>;
  domain?: {
    devices?: { interfaces?: Array<{ name: string; macAddress?: string }> };
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface VmiInterfaceStatus {
  name: string;
  ipAddress?: string;
  ipAddresses?: string[];
  mac?: string;
  interfaceName?: string;
  infoSource?: string;
  queueCount?: number;
  linkState?: string;
}

export interface MigrationState {
  migrationUid?: string;
  sourceNode?: string;
  targetNode?: string;
  sourcePod?: string;
  targetPod?: string;
  startTimestamp?: string;
  endTimestamp?: string;
  completed?: boolean;
  failed?: boolean;
  mode?: string;
  [k: string]: unknown;
}

export interface VmiStatus {
  phase?: string;
  nodeName?: string;
  reason?: string;
  conditions?: Condition[];
  phaseTransitionTimestamps?: Array<{ phase: string; phaseTransitionTimestamp: string }>;
  interfaces?: VmiInterfaceStatus[];
  guestOSInfo?: Record<string, string>;
  migrationState?: MigrationState;
  activePods?: Record<string, string>;
  qosClass?: string;
  launcherContainerImageVersion?: string;
  [k: string]: unknown;
}

export interface Vmi extends KubernetesObject {
  metadata?: V1ObjectMeta;
  spec?: VmiSpec;
  status?: VmiStatus;
}

export interface VmiTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: VmiSpec;
}

export interface VirtualMachine extends KubernetesObject {
  spec?: { running?: boolean; runStrategy?: string; template?: VmiTemplate };
  status?: {
    printableStatus?: string;
    ready?: boolean;
    created?: boolean;
    conditions?: Condition[];
    [k: string]: unknown;
  };
}

export interface VirtualMachineInstanceReplicaSet extends KubernetesObject {
  spec?: { replicas?: number; selector?: LabelSelector; template?: VmiTemplate; paused?: boolean };
  status?: { replicas?: number; readyReplicas?: number; labelSelector?: string; [k: string]: unknown };
}

export function controllerRef(obj: KubernetesObject): V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

export function findCondition(
  conditions: ReadonlyArray<Condition> | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Sets (or replaces) a condition in place; keeps lastTransitionTime unless the status changes.
 * Returns true when anything changed.
 */
export function setCondition(list: Condition[], next: Condition, now: string): boolean {
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime:
      prev && prev.status === next.status
        ? (prev.lastTransitionTime ?? now)
        : (next.lastTransitionTime ?? now),
  };
  if (prev && sameCondition(prev, merged)) return false;
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return true;
}

export function removeCondition(list: Condition[], type: string): boolean {
  const i = list.findIndex((c) => c.type === type);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

export function isFinished(vmi: Vmi): boolean {
  return vmi.status?.phase === 'Failed' || vmi.status?.phase === 'Succeeded';
}

export function isVmiReady(vmi: Vmi): boolean {
  return findCondition(vmi.status?.conditions, 'Ready')?.status === 'True';
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    (a.reason ?? '') === (b.reason ?? '') &&
    (a.message ?? '') === (b.message ?? '') &&
    (a.lastTransitionTime ?? null) === (b.lastTransitionTime ?? null) &&
    (a.lastProbeTime ?? null) === (b.lastProbeTime ?? null)
  );
}
