/**
 * KubeVirt's admission on VirtualMachineInstances, as virt-api's webhooks behave on a real cluster:
 * - mutating: a change of `status` by an identity that is not one of KubeVirt's service accounts is
 *   silently reverted (create: status dropped; update/patch of any type: old status kept) → 200 OK;
 * - validating: a change of `spec` on update by such an identity is denied (422, webhook message).
 */
import { ApiError } from './errors.js';
import { deepEqual, type KubeObject } from './util.js';

export const KUBEVIRT_CONTROLLER_USER = 'system:serviceaccount:kubevirt:kubevirt-controller';
export const KUBEVIRT_HANDLER_USER = 'system:serviceaccount:kubevirt:kubevirt-handler';
export const KUBEVIRT_API_USER = 'system:serviceaccount:kubevirt:kubevirt-apiserver';
export const KUBEVIRT_OPERATOR_USER = 'system:serviceaccount:kubevirt:kubevirt-operator';
export const VMPROBE_AGENT_USER = 'system:serviceaccount:vmprobe-system:vmprobe';

const KUBEVIRT_USERS = new Set([
  KUBEVIRT_CONTROLLER_USER,
  KUBEVIRT_HANDLER_USER,
  KUBEVIRT_API_USER,
  KUBEVIRT_OPERATOR_USER,
]);

export function isKubevirtIdentity(user: string): boolean {
  return KUBEVIRT_USERS.has(user);
}

export function isVmi(group: string, plural: string): boolean {
  return group === 'kubevirt.io' && plural === 'virtualmachineinstances';
}

/** Mutates `candidate` in place (status revert) or throws the webhook's denial. */
export function admitVmi(user: string, old: KubeObject | undefined, candidate: KubeObject): void {
  if (isKubevirtIdentity(user)) return;
  if (!old) {
    delete candidate.status;
    return;
  }
  if (old.status === undefined) delete candidate.status;
  else candidate.status = old.status;
  if (!deepEqual(old.spec, candidate.spec)) {
    const name = candidate.metadata?.name ?? '';
    throw new ApiError(
      422,
      'Invalid',
      `admission webhook "virtualmachineinstances-update-validator.kubevirt.io" denied the request: update of VMI object is restricted`,
      {
        name,
        group: 'kubevirt.io',
        kind: 'VirtualMachineInstance',
        causes: [
          { reason: 'FieldValueNotSupported', message: 'update of VMI object is restricted', field: 'spec' },
        ],
      },
    );
  }
}
