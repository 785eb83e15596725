// The agent's model of probe results and the objects they are about, shared by every layer
// (kube/ knows these plain types and no policy): a condition's status, a probe's state, references
// to a VMI and a pod, and the liveness actions.

/** A Kubernetes condition status. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A probe's threshold state: success/failure after its thresholds, unknown before any verdict. */
export type ProbeState = 'success' | 'failure' | 'unknown';

export interface VmiRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** `--liveness-action`. */
export type LivenessAction = 'stop-launcher' | 'delete-vmi' | 'none';
export const LIVENESS_ACTIONS: readonly LivenessAction[] = ['stop-launcher', 'delete-vmi', 'none'];
