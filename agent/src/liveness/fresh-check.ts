// The liveness action's last look before a delete, pure (table-tested in
// agent/test/liveness-handler.test.ts): the VMI and each launcher pod are read fresh from the API
// (never from the informer cache, which a half-open watch can leave stale for minutes), and the
// delete goes ahead only when the object is still the one that failed, still on this node, and
// not paused, migrating or already going away.
//   ok   — act;
//   gone — nothing of ours to stop (deleted, replaced, moved to another node, finished): done;
//   wait — not now (paused, migrating, not Running yet): retry later while the probe still fails.
import { livenessSuspension } from '../discovery/desired.js';
import type { PodObject, VmiObject } from '../model/objects.js';
import type { PodRef, VmiRef } from '../report/types.js';

export type FreshCheck = { verdict: 'ok' } | { verdict: 'gone' | 'wait'; why: string };

const OK: FreshCheck = { verdict: 'ok' };

/** `vmi` undefined = the API answered 404. */
export function checkFreshVmi(vmi: VmiObject | undefined, ref: VmiRef, nodeName: string): FreshCheck {
  if (!vmi) return { verdict: 'gone', why: 'the VMI no longer exists' };
  const uid = vmi.metadata?.uid;
  if (uid !== ref.uid) return { verdict: 'gone', why: `the name now holds another VMI (uid ${uid})` };
  if (vmi.metadata?.deletionTimestamp) return { verdict: 'gone', why: 'the VMI is already being deleted' };
  const node = vmi.status?.nodeName;
  if (node !== nodeName) return { verdict: 'gone', why: `the VMI now runs on node ${node ?? '(none)'}` };
  const phase = vmi.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return { verdict: 'gone', why: `the VMI is ${phase}` };
  const suspension = livenessSuspension(vmi);
  if (suspension) return { verdict: 'wait', why: `the VMI is ${suspension}` };
  if (phase !== 'Running') return { verdict: 'wait', why: `the VMI is ${phase ?? 'without a phase'}` };
  return OK;
}

/** `pod` undefined = the API answered 404. */
export function checkFreshPod(pod: PodObject | undefined, ref: PodRef, nodeName: string): FreshCheck {
  if (!pod) return { verdict: 'gone', why: `pod ${ref.name} no longer exists` };
  const uid = pod.metadata?.uid;
  if (uid !== ref.uid) return { verdict: 'gone', why: `pod ${ref.name} is another pod now (uid ${uid})` };
  if (pod.metadata?.deletionTimestamp)
    return { verdict: 'gone', why: `pod ${ref.name} is already terminating` };
  const node = pod.spec?.nodeName;
  if (node !== nodeName) return { verdict: 'gone', why: `pod ${ref.name} runs on node ${node ?? '(none)'}` };
  return OK;
}
