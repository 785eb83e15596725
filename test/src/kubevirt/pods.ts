// Launcher-pod helpers shared by the VMI controller and the pause/migration operations.
import type { V1Pod } from '@kubernetes/client-node';
import { type KubeApi, strategicMerge } from './api.js';
import type { ResilientInformer } from './informer.js';
import { LABEL_CREATED_BY } from './names.js';
import { findCondition, type Vmi } from './types.js';
import { kubeTime } from './util.js';

export function isLive(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

/** Every launcher pod of the VMI (by `kubevirt.io/created-by`) in the cache. */
export function cachedPodsOf(pods: ResilientInformer<V1Pod>, vmi: Vmi): V1Pod[] {
  const uid = vmi.metadata?.uid;
  return pods
    .list(vmi.metadata?.namespace ?? '')
    .filter((p) => uid !== undefined && p.metadata?.labels?.[LABEL_CREATED_BY] === uid);
}

/** The same, read from the API (authoritative: used before creating or failing on absence). */
export async function apiPodsOf(api: KubeApi, vmi: Vmi): Promise<V1Pod[]> {
  const list = await api.core.listNamespacedPod({
    namespace: vmi.metadata?.namespace ?? '',
    labelSelector: `${LABEL_CREATED_BY}=${vmi.metadata?.uid ?? ''}`,
  });
  return list.items;
}

/** The pod the VMI runs in: live, on status.nodeName when the VMI has one. */
export function activePod(pods: ReadonlyArray<V1Pod>, vmi: Vmi): V1Pod | undefined {
  const node = vmi.status?.nodeName;
  const live = pods.filter(isLive);
  if (node) return live.find((p) => p.spec?.nodeName === node);
  return live[0];
}

/**
 * Sets a condition on a pod through pods/status with a strategic merge patch (merged by `type`, so
 * the kubelet's and others' conditions stay). A no-op when the condition already has that status.
 */
export async function setPodCondition(
  api: KubeApi,
  pod: V1Pod,
  type: string,
  status: 'True' | 'False',
  reason?: string,
): Promise<boolean> {
  const current = findCondition(pod.status?.conditions as never, type);
  if (current?.status === status) return false;
  await api.core.patchNamespacedPodStatus(
    {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      body: {
        status: {
          conditions: [
            // null removes a stale reason (strategic merge deletes null-valued keys)
            { type, status, lastProbeTime: null, lastTransitionTime: kubeTime(), reason: reason ?? null },
          ],
        },
      },
    },
    strategicMerge,
  );
  return true;
}
