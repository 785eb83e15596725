export {
  isKubevirtIdentity,
  KUBEVIRT_API_USER,
  KUBEVIRT_CONTROLLER_USER,
  KUBEVIRT_HANDLER_USER,
  KUBEVIRT_OPERATOR_USER,
  VMPROBE_AGENT_USER,
} from './admission.js';
export { ADMIN_USER, NODE_NAME_EXTRA, type TokenOptions } from './auth.js';
export { ApiError, type StatusCause, type StatusObject } from './errors.js';
export { FaultInjector, type FaultMatch, type FaultRule } from './faults.js';
export {
  type MappedAddress,
  MutatingWebhooks,
  type ServiceRef,
  selectorMatches,
  type WebhookCallRecord,
} from './mutating-webhooks.js';
export { type RequestFilter, RequestLog, type RequestRecord, WRITE_VERBS } from './requestlog.js';
export type { DeleteOptions } from './rest.js';
export {
  type AccessAttributes,
  type AccessDecision,
  authorize,
  SUBJECT_ACCESS_REVIEW,
  TOKEN_REVIEW,
} from './reviews.js';
export {
  DEFAULT_CRD_FILES,
  type Emulator,
  type EmulatorOptions,
  REPO_ROOT,
  startEmulator,
} from './server.js';
export {
  type ObjectRef,
  ObjectStore,
  type StoreListOptions,
  type StorePatchType,
  type TypeRef,
} from './store.js';
export { apiFailure, waitFor } from './testing.js';
export type { KubeObject } from './util.js';
