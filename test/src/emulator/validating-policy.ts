/**
 * ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) evaluation, as the apiserver's
 * validating admission does on every write: each stored policy with a binding whose
 * validationActions include Deny is applied when the request matches its matchConstraints (and the
 * binding's matchResources); its matchConditions must all be true; then its variables are computed
 * in order and every validation must hold, else the write fails with the policy's reason
 * (Forbidden → 403, default Invalid → 422) and message (or messageExpression).
 *
 * CEL is @bufbuild/cel (a maintained CEL implementation), never a hand-written evaluator. Bound:
 * object, oldObject (null when absent: CREATE has no oldObject, DELETE no object), request
 * (kind, resource, subResource, name, namespace, operation, userInfo incl. extra, dryRun), variables,
 * params (null: paramKind is not supported) and namespaceObject (null).
 * Deviations from kube-apiserver (docs/TESTBED.md): no type checking at policy creation (an
 * expression error surfaces when it runs and is handled by failurePolicy, default Fail → deny);
 * variables are evaluated eagerly; numbers are CEL doubles; matchConstraints supports resourceRules /
 * excludeResourceRules (groups, versions, resources incl. "res/sub" and "*", operations) and
 * matchPolicy Equivalent only as exact; namespaceSelector / objectSelector and params are ignored;
 * Warn and Audit actions are ignored.
 */
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { ApiError, qualifiedResource } from './errors.js';
import type { ResourceType } from './resources.js';
import type { Identity } from './rest.js';
import type { Storage } from './storage.js';
import type { KubeObject } from './util.js';

export const POLICY_RESOURCE = 'validatingadmissionpolicies.admissionregistration.k8s.io';
export const BINDING_RESOURCE = 'validatingadmissionpolicybindings.admissionregistration.k8s.io';

export interface WriteAttributes {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  rt: ResourceType;
  /** The version the request used. */
  version: string;
  subresource?: string;
  namespace?: string;
  name: string;
  /** The object after the write (undefined for DELETE). */
  object?: KubeObject;
  /** The stored object before it (undefined for CREATE). */
  oldObject?: KubeObject;
  identity: Identity;
}

interface RuleWithOperations {
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  operations?: string[];
}

type Program = (ctx: Record<string, unknown>) => unknown;

const env = celEnv();
const programs = new Map<string, Program | Error>();

/** Parses and plans an expression once; a syntax error is returned, not thrown. */
function compile(expr: string): Program | Error {
  let p = programs.get(expr);
  if (!p) {
    try {
      p = plan(env, parse(expr)) as unknown as Program;
    } catch (e) {
      p = e instanceof Error ? e : new Error(String(e));
    }
    programs.set(expr, p);
  }
  return p;
}

class CelEvaluationError extends Error {}

function evaluate(expr: string, vars: Record<string, unknown>): unknown {
  const p = compile(expr);
  if (p instanceof Error) throw new CelEvaluationError(`compilation failed: ${p.message}`);
  const r = p(vars);
  if (isCelError(r)) throw new CelEvaluationError(String((r as { message?: string }).message ?? r));
  return r;
}

function ruleMatches(r: RuleWithOperations, a: WriteAttributes): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === '*' || x === v);
  if (!has(r.operations, a.operation)) return false;
  if (!has(r.apiGroups, a.rt.group)) return false;
  if (!has(r.apiVersions, a.version)) return false;
  const res = a.subresource ? `${a.rt.plural}/${a.subresource}` : a.rt.plural;
  return (r.resources ?? []).some(
    (x) =>
      x === res ||
      (x === '*' && !a.subresource) ||
      x === '*/*' ||
      (a.subresource !== undefined && x === `*/${a.subresource}`) ||
      (a.subresource !== undefined && x === `${a.rt.plural}/*`),
  );
}

function constraintsMatch(c: KubeObject | undefined, a: WriteAttributes): boolean {
  if (!c) return true;
  const rules = (c.resourceRules ?? []) as RuleWithOperations[];
  if (!rules.some((r) => ruleMatches(r, a))) return false;
  return !((c.excludeResourceRules ?? []) as RuleWithOperations[]).some((r) => ruleMatches(r, a));
}

function celObject(o: KubeObject | undefined): unknown {
  return o === undefined ? null : JSON.parse(JSON.stringify(o));
}

function requestOf(a: WriteAttributes): Record<string, unknown> {
  return {
    kind: { group: a.rt.group, version: a.version, kind: a.rt.kind },
    resource: { group: a.rt.group, version: a.version, resource: a.rt.plural },
    subResource: a.subresource ?? '',
    requestKind: { group: a.rt.group, version: a.version, kind: a.rt.kind },
    requestResource: { group: a.rt.group, version: a.version, resource: a.rt.plural },
    requestSubResource: a.subresource ?? '',
    name: a.name,
    namespace: a.namespace ?? '',
    operation: a.operation,
    userInfo: {
      username: a.identity.user,
      uid: '',
      groups: a.identity.groups,
      extra: a.identity.extra ?? {},
    },
    dryRun: false,
  };
}

/**
 * Applies every bound policy to a write; throws the apiserver's denial (ApiError) when one denies.
 * Stateless apart from the compiled-expression cache: policies are read from storage per call.
 */
export function admitWithPolicies(storage: Storage, a: WriteAttributes): void {
  const bindings = storage.list(BINDING_RESOURCE);
  if (bindings.length === 0) return;
  const request = requestOf(a);
  for (const binding of bindings) {
    const spec = binding.spec ?? {};
    const actions: string[] = spec.validationActions ?? [];
    if (!actions.includes('Deny')) continue;
    const policy = storage.get(POLICY_RESOURCE, spec.policyName ?? '');
    if (!policy) continue;
    const ps = policy.spec ?? {};
    if (!constraintsMatch(ps.matchConstraints, a)) continue;
    if (spec.matchResources && !constraintsMatch(spec.matchResources, a)) continue;
    const vars: Record<string, unknown> = {
      object: celObject(a.object),
      oldObject: celObject(a.oldObject),
      request,
      params: null,
      namespaceObject: null,
    };
    const deny = (message: string, reason?: string): never => {
      const code = reason === 'Forbidden' ? 403 : reason === 'Unauthorized' ? 401 : 422;
      const status = reason ?? 'Invalid';
      const subject = `${qualifiedResource(a.rt.plural, a.rt.group)} "${a.name}"`;
      throw new ApiError(
        code,
        status as 'Forbidden',
        `${subject} is forbidden: ValidatingAdmissionPolicy '${policy.metadata?.name}' with binding '${binding.metadata?.name}' denied request: ${message}`,
        { name: a.name, group: a.rt.group, kind: a.rt.plural },
      );
    };
    const failClosed = (ps.failurePolicy ?? 'Fail') === 'Fail';
    try {
      let applies = true;
      for (const mc of ps.matchConditions ?? []) {
        if (evaluate(mc.expression, vars) !== true) {
          applies = false;
          break;
        }
      }
      if (!applies) continue;
      const variables: Record<string, unknown> = {};
      vars.variables = variables;
      for (const v of ps.variables ?? []) variables[v.name] = evaluate(v.expression, vars);
      for (const val of ps.validations ?? []) {
        if (evaluate(val.expression, vars) === true) continue;
        let message: string = val.message ?? `failed expression: ${val.expression}`;
        if (val.messageExpression) {
          try {
            const m = evaluate(val.messageExpression, vars);
            if (typeof m === 'string' && m.trim() !== '') message = m;
          } catch {
            // the static message stands
          }
        }
        deny(message, val.reason);
      }
    } catch (e) {
      if (e instanceof ApiError) throw e;
      if (!failClosed) continue;
      deny(`expression evaluation failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
