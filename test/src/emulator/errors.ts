/**
 * Kubernetes `Status` errors. Every failure the emulator answers is an ApiError rendered as a
 * `Status` object with the code and reason a real kube-apiserver uses.
 */

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'NotAcceptable';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: StatusReason | '';
  details?: StatusDetails;
  code: number;
}

/** An error answered to the client as a `Status` with `code` as the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
    /** Extra response headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): StatusObject {
    const s: StatusObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** `pods` + group `""` → `pods`; `virtualmachineinstances` + `kubevirt.io` → `virtualmachineinstances.kubevirt.io`. */
export function qualifiedResource(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  badRequest: (message: string, details?: StatusDetails) => new ApiError(400, 'BadRequest', message, details),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  notFound: (resource: string, group: string, name: string) =>
    new ApiError(404, 'NotFound', `${qualifiedResource(resource, group)} "${name}" not found`, {
      name,
      group,
      kind: resource,
    }),
  notFoundPath: () => new ApiError(404, 'NotFound', 'the server could not find the requested resource', {}),
  methodNotAllowed: (verb: string) =>
    new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, {
      causes: [{ reason: 'MethodNotAllowed', message: `${verb} is not supported` }],
    }),
  alreadyExists: (resource: string, group: string, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualifiedResource(resource, group)} "${name}" already exists`, {
      name,
      group,
      kind: resource,
    }),
  conflict: (resource: string, group: string, name: string, why: string) =>
    new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(resource, group)} "${name}": ${why}`,
      { name, group, kind: resource },
    ),
  expired: (message: string) => new ApiError(410, 'Expired', message),
  unsupportedMediaType: (message: string) => new ApiError(415, 'UnsupportedMediaType', message),
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]) => {
    const qualifiedKind = group ? `${kind}.${group}` : kind;
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
    const summary = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
    return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
      name,
      group,
      kind,
      causes,
    });
  },
  tooManyRequests: (retryAfterSeconds: number) =>
    new ApiError(
      429,
      'TooManyRequests',
      'Too many requests, please try again later.',
      { retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    ),
  internal: (message: string) =>
    new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
      causes: [{ reason: '', message }],
    }),
  unavailable: (message = 'the server is currently unable to handle the request') =>
    new ApiError(503, 'ServiceUnavailable', message),
};

/** Fault-injected or generic error for an arbitrary HTTP status. */
export function errorForCode(code: number, retryAfterSeconds = 1): ApiError {
  switch (code) {
    case 400:
      return errors.badRequest('injected fault');
    case 404:
      return errors.notFoundPath();
    case 409:
      return new ApiError(409, 'Conflict', 'injected fault: conflict');
    case 410:
      return new ApiError(410, 'Gone', 'injected fault: gone');
    case 429:
      return errors.tooManyRequests(retryAfterSeconds);
    case 500:
      return errors.internal('injected fault');
    case 503:
      return errors.unavailable();
    case 504:
      return new ApiError(
        504,
        'Timeout',
        'injected fault: the server was unable to return a response in time',
      );
    default:
      return new ApiError(code, 'InternalError', `injected fault: HTTP ${code}`);
  }
}
