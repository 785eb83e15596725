// Validation of a probe as users write it (spec.<kind>Probe or the vmprobe.io/<kind>-probe
// annotation). Returns every problem with its field path; never throws, whatever the input.
import { HANDLER_FIELDS, type Probe, type ProbeKind } from './probe.js';

/** One problem in a probe spec; `toString()`-style text is `${path}: ${message}`. */
export interface ProbeProblem {
  path: string;
  message: string;
}

export function formatProblem(p: ProbeProblem): string {
  return `${p.path}: ${p.message}`;
}

const TIMING_FIELDS = [
  'initialDelaySeconds',
  'timeoutSeconds',
  'periodSeconds',
  'successThreshold',
  'failureThreshold',
] as const;
const KNOWN_FIELDS = new Set<string>([...HANDLER_FIELDS, ...TIMING_FIELDS]);
const INT32_MAX = 2_147_483_647;

/** RFC 9110 token: what an HTTP header name may contain. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Kubernetes IANA_SVC_NAME: ≤ 15 chars, lowercase alphanumerics and '-', at least one letter,
 *  no leading/trailing '-', no '--'. Returns why not, or undefined when valid. */
export function portNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 15) return 'a port name must be no more than 15 characters';
  if (!/^[a-z0-9-]+$/.test(name)) return 'a port name must contain only lowercase alphanumerics and "-"';
  if (!/[a-z]/.test(name)) return 'a port name must contain at least one letter';
  if (name.startsWith('-') || name.endsWith('-')) return 'a port name must not begin or end with "-"';
  if (name.includes('--')) return 'a port name must not contain consecutive "-"';
  return undefined;
}

function checkPort(v: unknown, path: string, out: ProbeProblem[]): void {
  if (v === undefined) {
    out.push({ path, message: 'required value' });
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > 65535)
      out.push({ path, message: 'must be between 1 and 65535' });
  } else if (typeof v === 'string') {
    // A numeric string is how YAML users sometimes write a number; Kubernetes treats it as a name
    // and rejects it, and so do we (it has no letter).
    const why = portNameProblem(v);
    if (why) out.push({ path, message: why });
  } else {
    out.push({ path, message: `must be a port number (1-65535) or a port name, got ${describe(v)}` });
  }
}

function checkHost(v: unknown, path: string, out: ProbeProblem[]): void {
  if (v === undefined) return;
  if (typeof v !== 'string') out.push({ path, message: `must be a string, got ${describe(v)}` });
  else if (/[\s/?#@]/.test(v)) out.push({ path, message: 'must be a host name or IP address' });
}

function checkUnknownFields(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  out: ProbeProblem[],
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      out.push({ path: `${path}.${key}`, message: `unknown field (allowed: ${allowed.join(', ')})` });
    }
  }
}

function checkHttpGet(v: unknown, path: string, out: ProbeProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: `must be an object, got ${describe(v)}` });
    return;
  }
  checkUnknownFields(v, ['port', 'path', 'host', 'scheme', 'httpHeaders'], path, out);
  checkPort(v.port, `${path}.port`, out);
  checkHost(v.host, `${path}.host`, out);
  if (v.path !== undefined) {
    if (typeof v.path !== 'string')
      out.push({ path: `${path}.path`, message: `must be a string, got ${describe(v.path)}` });
    else if (v.path !== '' && !v.path.startsWith('/'))
      out.push({ path: `${path}.path`, message: "must start with '/'" });
    else if (/[\s\0]/.test(v.path))
      out.push({ path: `${path}.path`, message: 'must not contain whitespace or control characters' });
  }
  if (v.scheme !== undefined && v.scheme !== 'HTTP' && v.scheme !== 'HTTPS') {
    out.push({
      path: `${path}.scheme`,
      message: `unsupported value ${JSON.stringify(v.scheme)}: supported values: "HTTP", "HTTPS"`,
    });
  }
  if (v.httpHeaders !== undefined) {
    if (!Array.isArray(v.httpHeaders)) {
      out.push({ path: `${path}.httpHeaders`, message: `must be a list, got ${describe(v.httpHeaders)}` });
      return;
    }
    v.httpHeaders.forEach((h: unknown, i: number) => {
      const hp = `${path}.httpHeaders[${i}]`;
      if (!isObject(h)) {
        out.push({ path: hp, message: `must be an object with name and value, got ${describe(h)}` });
        return;
      }
      checkUnknownFields(h, ['name', 'value'], hp, out);
      if (typeof h.name !== 'string' || !HTTP_TOKEN.test(h.name)) {
        out.push({
          path: `${hp}.name`,
          message: `must be a valid HTTP header name, got ${JSON.stringify(h.name)}`,
        });
      }
      if (typeof h.value !== 'string') {
        out.push({ path: `${hp}.value`, message: `must be a string, got ${describe(h.value)}` });
      } else if (/[\r\n\0]/.test(h.value)) {
        out.push({ path: `${hp}.value`, message: 'must not contain CR, LF or NUL' });
      }
    });
  }
}

function checkTcpSocket(v: unknown, path: string, out: ProbeProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: `must be an object, got ${describe(v)}` });
    return;
  }
  checkUnknownFields(v, ['port', 'host'], path, out);
  checkPort(v.port, `${path}.port`, out);
  checkHost(v.host, `${path}.host`, out);
}

function checkEmptyObject(
  v: unknown,
  path: string,
  out: ProbeProblem[],
  allowed: readonly string[] = [],
): void {
  if (!isObject(v)) out.push({ path, message: `must be an object, got ${describe(v)}` });
  else checkUnknownFields(v, allowed, path, out);
}

/** Longest exec command (all elements together) the agent sends to a launcher. */
export const MAX_EXEC_COMMAND_LENGTH = 4096;

/**
 * exec.command: a non-empty array of strings, the first non-empty. The virt-launcher pastes the
 * command and every argument between double quotes into a QEMU guest-agent JSON request without
 * escaping, so a double quote, a backslash or a control character would change the request (or
 * break it): those are rejected. Single quotes are harmless in that JSON and stay allowed.
 */
export function checkExecCommand(v: unknown, path: string, out: ProbeProblem[]): void {
  if (v === undefined) {
    out.push({ path, message: 'required value' });
    return;
  }
  if (!Array.isArray(v)) {
    out.push({ path, message: `must be an array of strings, got ${describe(v)}` });
    return;
  }
  if (v.length === 0) {
    out.push({ path, message: 'must not be empty' });
    return;
  }
  let total = 0;
  v.forEach((el, i) => {
    const p = `${path}[${i}]`;
    if (typeof el !== 'string') {
      out.push({ path: p, message: `must be a string, got ${describe(el)}` });
      return;
    }
    total += el.length;
    if (i === 0 && el === '') out.push({ path: p, message: 'the command must not be empty' });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    const bad = /["\\\u0000-\u001f\u007f]/.exec(el);
    if (bad) {
      out.push({
        path: p,
        message: `must not contain ${JSON.stringify(bad[0])}: the virt-launcher does not escape double quotes, backslashes or control characters in guest commands`,
      });
    }
  });
  if (total > MAX_EXEC_COMMAND_LENGTH) {
    out.push({ path, message: `must be at most ${MAX_EXEC_COMMAND_LENGTH} characters in all` });
  }
}

function checkInteger(v: unknown, min: number, path: string, out: ProbeProblem[]): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    out.push({ path, message: `must be an integer, got ${typeof v === 'number' ? v : describe(v)}` });
  } else if (v < min) {
    out.push({ path, message: `must be greater than or equal to ${min}` });
  } else if (v > INT32_MAX) {
    out.push({ path, message: `must be less than or equal to ${INT32_MAX}` });
  }
}

/**
 * Every problem of `probe` (any JSON value) as a probe of `kind`, paths rooted at `fieldPath`
 * (e.g. `spec.livenessProbe`). An empty list means `resolveProbe` will accept it.
 * Timing fields written as 0 are rejected rather than defaulted: omit a field to get its default.
 */
export function validateProbe(probe: unknown, kind: ProbeKind, fieldPath: string): ProbeProblem[] {
  const out: ProbeProblem[] = [];
  if (!isObject(probe)) {
    out.push({ path: fieldPath, message: `must be an object, got ${describe(probe)}` });
    return out;
  }
  for (const key of Object.keys(probe)) {
    if (!KNOWN_FIELDS.has(key)) {
      out.push({
        path: `${fieldPath}.${key}`,
        message: `unknown field (handlers: ${HANDLER_FIELDS.join(', ')}; timings: ${TIMING_FIELDS.join(', ')})`,
      });
    }
  }
  const handlers = HANDLER_FIELDS.filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (handlers.length === 0) {
    out.push({
      path: fieldPath,
      message: `must specify a handler type (one of ${HANDLER_FIELDS.join(', ')})`,
    });
  } else if (handlers.length > 1) {
    out.push({
      path: fieldPath,
      message: `may not specify more than 1 handler type (found ${handlers.join(', ')})`,
    });
  }
  for (const h of handlers) {
    const p = `${fieldPath}.${h}`;
    if (h === 'httpGet') checkHttpGet(probe.httpGet, p, out);
    else if (h === 'tcpSocket') checkTcpSocket(probe.tcpSocket, p, out);
    else if (h === 'exec') {
      checkEmptyObject(probe.exec, p, out, ['command']);
      if (isObject(probe.exec)) checkExecCommand(probe.exec.command, `${p}.command`, out);
    } else checkEmptyObject(probe[h], p, out);
  }
  checkInteger(probe.initialDelaySeconds, 0, `${fieldPath}.initialDelaySeconds`, out);
  checkInteger(probe.timeoutSeconds, 1, `${fieldPath}.timeoutSeconds`, out);
  checkInteger(probe.periodSeconds, 1, `${fieldPath}.periodSeconds`, out);
  checkInteger(probe.successThreshold, 1, `${fieldPath}.successThreshold`, out);
  checkInteger(probe.failureThreshold, 1, `${fieldPath}.failureThreshold`, out);
  if ((kind === 'liveness' || kind === 'startup') && typeof probe.successThreshold === 'number') {
    if (probe.successThreshold !== 1) {
      out.push({ path: `${fieldPath}.successThreshold`, message: `must be 1 for ${kind} probes` });
    }
  }
  return out;
}

/** Type guard form of validateProbe for callers that only need yes/no. */
export function isValidProbe(probe: unknown, kind: ProbeKind): probe is Probe {
  return validateProbe(probe, kind, 'probe').length === 0;
}
