/**
 * Mutating admission webhooks, called as kube-apiserver calls them (admissionregistration.k8s.io/v1):
 * the stored MutatingWebhookConfigurations, ordered by name (webhooks in list order), are matched
 * on `rules` (apiGroups / apiVersions / operations / resources / scope), `namespaceSelector` (the
 * request namespace's labels) and `objectSelector` (the object's labels); each match is POSTed an
 * AdmissionReview v1 over HTTPS, verifying the server against `caBundle` with the server name
 * `<service>.<namespace>.svc` (a service is mapped to a local address with `mapService`; a URL
 * clientConfig is called as written), `?timeout=<timeoutSeconds>s` on the path, aborted after
 * `timeoutSeconds` (default 10). An allowed response's JSONPatch is applied; its `warnings` become
 * `Warning: 299 - "…"` response headers. A call that fails (connect, TLS, timeout, non-200, a
 * response that is not an AdmissionReview with the request's uid, a patch that does not apply):
 * `failurePolicy: Fail` (the v1 default) → 500 InternalError `failed calling webhook "<name>": …`,
 * `Ignore` → the webhook is skipped. A denial → 400 (or the response's status code ≥ 400)
 * `admission webhook "<name>" denied the request: …`. `reinvocationPolicy: IfNeeded`: when a
 * later webhook changed the object, every IfNeeded webhook called before it is called once more.
 *
 * Scope (deviation, docs/TESTBED.md): called for CREATE only (the one operation vmprobe's webhook
 * registers for); UPDATE/DELETE/CONNECT rules never match. matchPolicy, matchConditions and
 * sideEffects/dryRun are not evaluated.
 */
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import fjp from 'fast-json-patch';
import { ApiError, errors } from './errors.js';
import type { ResourceType } from './resources.js';
import type { Identity } from './rest.js';
import type { Storage } from './storage.js';
import { clone, isPlainObject, type KubeObject } from './util.js';

export const MWC_GROUP_RESOURCE = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';

export interface ServiceRef {
  namespace: string;
  name: string;
  /** Default 443. */
  port?: number;
}

export interface MappedAddress {
  host: string;
  port: number;
}

/** One call to a webhook, as it happened (tests inspect these). */
export interface WebhookCallRecord {
  webhook: string;
  configuration: string;
  uid: string;
  /** ok: answered 200 with an AdmissionReview; else the failure message. */
  outcome: 'allowed' | 'denied' | 'failed' | 'ignored-failure';
  patched: boolean;
  /** SHA-256 fingerprint of the certificate the webhook presented (when TLS got that far). */
  peerFingerprint256?: string;
  error?: string;
  durationMs: number;
  reinvocation: boolean;
}

interface WebhookSpec {
  name: string;
  configuration: string;
  rules: KubeObject[];
  namespaceSelector?: KubeObject;
  objectSelector?: KubeObject;
  clientConfig: KubeObject;
  timeoutSeconds: number;
  failurePolicy: 'Fail' | 'Ignore';
  reinvocationPolicy: 'Never' | 'IfNeeded';
}

export interface AdmitResult {
  object: unknown;
  warnings: string[];
}

export class MutatingWebhooks {
  private readonly services = new Map<string, MappedAddress>();
  /** Every call made, oldest first (bounded to the last 1,000). */
  readonly calls: WebhookCallRecord[] = [];

  constructor(private readonly storage: Storage) {}

  /** Where calls to the service go (kube-proxy's job on a cluster). Replaces an earlier mapping. */
  mapService(svc: ServiceRef, to: MappedAddress): void {
    this.services.set(serviceKey(svc), to);
  }

  unmapService(svc: ServiceRef): void {
    this.services.delete(serviceKey(svc));
  }

  /**
   * Runs the mutating webhooks for a CREATE of `body` (already parsed JSON). Returns the object to
   * store and the warnings to send; throws the ApiError a real server answers for a denial or a
   * failed call under `Fail`. Anything that is not a matching create passes through untouched.
   */
  async admitCreate(
    identity: Identity,
    rt: ResourceType,
    version: string,
    namespace: string | undefined,
    body: unknown,
  ): Promise<AdmitResult> {
    const warnings: string[] = [];
    if (!isPlainObject(body)) return { object: body, warnings };
    const hooks = this.webhooks();
    if (hooks.length === 0) return { object: body, warnings };
    let obj = clone(body) as KubeObject;
    const ns = rt.namespaced ? (namespace ?? obj.metadata?.namespace) : undefined;
    const nsLabels = ns
      ? ((this.storage.get('namespaces', ns) as KubeObject | undefined)?.metadata?.labels ?? {})
      : {};
    const matched = hooks.filter((h) => this.matches(h, rt, version, ns, nsLabels, obj));
    const outputOf = new Map<WebhookSpec, string>();
    for (const h of matched) {
      obj = await this.call(h, identity, rt, version, ns, obj, warnings, false);
      outputOf.set(h, JSON.stringify(obj));
    }
    // Reinvocation: an IfNeeded webhook whose output a later webhook changed is called once more.
    const final = JSON.stringify(obj);
    const again = matched.filter((h) => h.reinvocationPolicy === 'IfNeeded' && outputOf.get(h) !== final);
    for (const h of again) obj = await this.call(h, identity, rt, version, ns, obj, warnings, true);
    return { object: obj, warnings };
  }

  private webhooks(): WebhookSpec[] {
    const configs = this.storage
      .list(MWC_GROUP_RESOURCE)
      .slice()
      .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
    const out: WebhookSpec[] = [];
    for (const c of configs as KubeObject[]) {
      for (const w of (Array.isArray(c.webhooks) ? c.webhooks : []) as KubeObject[]) {
        if (!isPlainObject(w) || typeof w.name !== 'string') continue;
        out.push({
          name: w.name,
          configuration: String(c.metadata?.name ?? ''),
          rules: Array.isArray(w.rules) ? w.rules : [],
          namespaceSelector: isPlainObject(w.namespaceSelector) ? w.namespaceSelector : undefined,
          objectSelector: isPlainObject(w.objectSelector) ? w.objectSelector : undefined,
          clientConfig: isPlainObject(w.clientConfig) ? w.clientConfig : {},
          timeoutSeconds: Number.isInteger(w.timeoutSeconds) ? (w.timeoutSeconds as number) : 10,
          failurePolicy: w.failurePolicy === 'Ignore' ? 'Ignore' : 'Fail',
          reinvocationPolicy: w.reinvocationPolicy === 'IfNeeded' ? 'IfNeeded' : 'Never',
        });
      }
    }
    return out;
  }

  private matches(
    h: WebhookSpec,
    rt: ResourceType,
    version: string,
    ns: string | undefined,
    nsLabels: Record<string, string>,
    obj: KubeObject,
  ): boolean {
    const ruleOk = h.rules.some((r) => {
      const inList = (list: unknown, v: string) =>
        Array.isArray(list) && (list.includes('*') || list.includes(v));
      const scope = r.scope ?? '*';
      return (
        inList(r.apiGroups, rt.group) &&
        inList(r.apiVersions, version) &&
        inList(r.operations, 'CREATE') &&
        (inList(r.resources, rt.plural) || (Array.isArray(r.resources) && r.resources.includes('*/*'))) &&
        (scope === '*' || (scope === 'Namespaced') === rt.namespaced)
      );
    });
    if (!ruleOk) return false;
    // namespaceSelector applies to namespaced objects (and to Namespace objects themselves).
    if (h.namespaceSelector) {
      if (ns !== undefined && !selectorMatches(h.namespaceSelector, nsLabels)) return false;
      if (
        ns === undefined &&
        rt.kind === 'Namespace' &&
        !selectorMatches(h.namespaceSelector, obj.metadata?.labels ?? {})
      )
        return false;
    }
    if (h.objectSelector && !selectorMatches(h.objectSelector, obj.metadata?.labels ?? {})) return false;
    return true;
  }

  private async call(
    h: WebhookSpec,
    identity: Identity,
    rt: ResourceType,
    version: string,
    ns: string | undefined,
    obj: KubeObject,
    warnings: string[],
    reinvocation: boolean,
  ): Promise<KubeObject> {
    const started = Date.now();
    const uid = randomUUID();
    const record = (
      r: Omit<WebhookCallRecord, 'webhook' | 'configuration' | 'uid' | 'durationMs' | 'reinvocation'>,
    ) => {
      this.calls.push({
        webhook: h.name,
        configuration: h.configuration,
        uid,
        durationMs: Date.now() - started,
        reinvocation,
        ...r,
      });
      if (this.calls.length > 1000) this.calls.splice(0, this.calls.length - 1000);
    };
    const gvk = { group: rt.group, version, kind: rt.kind };
    const gvr = { group: rt.group, version, resource: rt.plural };
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: gvk,
        resource: gvr,
        requestKind: gvk,
        requestResource: gvr,
        name: obj.metadata?.name ?? '',
        ...(ns !== undefined ? { namespace: ns } : {}),
        operation: 'CREATE',
        userInfo: { username: identity.user, groups: identity.groups ?? [] },
        object: obj,
        oldObject: null,
        dryRun: false,
        options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      },
    };
    let target: { url: URL; host: string; port: number; servername?: string };
    let fingerprint: string | undefined;
    try {
      target = this.target(h);
      const answer = await postJson(
        target,
        review,
        h.timeoutSeconds * 1000,
        h.clientConfig.caBundle,
        (fp) => {
          fingerprint = fp;
        },
      );
      const resp = isPlainObject(answer) && isPlainObject(answer.response) ? answer.response : undefined;
      if (!resp || answer.kind !== 'AdmissionReview' || answer.apiVersion !== 'admission.k8s.io/v1')
        throw new Error('received invalid webhook response: expected an AdmissionReview admission.k8s.io/v1');
      if (resp.uid !== uid) throw new Error(`expected response.uid="${uid}", got "${String(resp.uid)}"`);
      for (const w of Array.isArray(resp.warnings) ? resp.warnings : [])
        if (typeof w === 'string') warnings.push(w);
      if (resp.allowed !== true) {
        record({ outcome: 'denied', patched: false, peerFingerprint256: fingerprint });
        const st = isPlainObject(resp.status) ? resp.status : {};
        const code = typeof st.code === 'number' && st.code >= 400 ? st.code : 400;
        const denied = `admission webhook "${h.name}" denied the request`;
        const msg =
          typeof st.message === 'string' && st.message !== ''
            ? `${denied}: ${st.message}`
            : `${denied} without explanation`;
        throw new ApiError(code, code === 403 ? 'Forbidden' : 'BadRequest', msg);
      }
      let next = obj;
      if (resp.patch !== undefined) {
        if (resp.patchType !== 'JSONPatch')
          throw new Error(`unsupported patch type "${String(resp.patchType)}"`);
        const ops = JSON.parse(Buffer.from(String(resp.patch), 'base64').toString('utf8')) as fjp.Operation[];
        next = fjp.applyPatch(clone(obj), ops, true, true).newDocument as KubeObject;
      }
      record({ outcome: 'allowed', patched: resp.patch !== undefined, peerFingerprint256: fingerprint });
      return next;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      const url = this.describeUrl(h);
      const message = `failed calling webhook "${h.name}": failed to call webhook: Post "${url}": ${why}`;
      if (h.failurePolicy === 'Ignore') {
        record({
          outcome: 'ignored-failure',
          patched: false,
          peerFingerprint256: fingerprint,
          error: message,
        });
        return obj;
      }
      record({ outcome: 'failed', patched: false, peerFingerprint256: fingerprint, error: message });
      throw errors.internal(message);
    }
  }

  private describeUrl(h: WebhookSpec): string {
    const cc = h.clientConfig;
    const q = `?timeout=${h.timeoutSeconds}s`;
    if (typeof cc.url === 'string') return `${cc.url}${q}`;
    const s = isPlainObject(cc.service) ? cc.service : {};
    const port = Number.isInteger(s.port) ? s.port : 443;
    return `https://${s.name}.${s.namespace}.svc:${port}${s.path ?? ''}${q}`;
  }

  private target(h: WebhookSpec): { url: URL; host: string; port: number; servername?: string } {
    const cc = h.clientConfig;
    const q = `?timeout=${h.timeoutSeconds}s`;
    if (typeof cc.url === 'string') {
      const url = new URL(`${cc.url}${q}`);
      return { url, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
    }
    const s = isPlainObject(cc.service) ? cc.service : undefined;
    if (!s || typeof s.name !== 'string' || typeof s.namespace !== 'string')
      throw new Error('webhook clientConfig has neither url nor service');
    const port = Number.isInteger(s.port) ? (s.port as number) : 443;
    const mapped = this.services.get(serviceKey({ namespace: s.namespace, name: s.name, port }));
    if (!mapped) throw new Error(`service "${s.name}" not found`);
    const url = new URL(`https://${s.name}.${s.namespace}.svc:${port}${s.path ?? ''}${q}`);
    return { url, host: mapped.host, port: mapped.port, servername: `${s.name}.${s.namespace}.svc` };
  }
}

function serviceKey(s: ServiceRef): string {
  return `${s.namespace}/${s.name}:${s.port ?? 443}`;
}

/** metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches everything. */
export function selectorMatches(sel: KubeObject, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(isPlainObject(sel.matchLabels) ? sel.matchLabels : {}))
    if (labels[k] !== v) return false;
  for (const e of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
    const has = Object.hasOwn(labels, e.key);
    const values: string[] = Array.isArray(e.values) ? e.values : [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key] as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key] as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** POST JSON over HTTPS, verifying against `caBundle` (base64 PEM; absent → the system roots). */
function postJson(
  target: { url: URL; host: string; port: number; servername?: string },
  body: unknown,
  timeoutMs: number,
  caBundle: unknown,
  onPeer: (fingerprint256: string) => void,
): Promise<Record<string, unknown>> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path: `${target.url.pathname}${target.url.search}`,
        servername: target.servername ?? (/^[\d.:]+$/.test(target.host) ? undefined : target.host),
        ...(typeof caBundle === 'string' && caBundle !== ''
          ? { ca: Buffer.from(caBundle, 'base64').toString('utf8') }
          : {}),
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, */*',
          'Content-Length': Buffer.byteLength(data),
        },
        agent: false,
        minVersion: 'TLSv1.2',
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(
              new Error(
                `expected webhook response of 200, got ${res.statusCode}: ${text.slice(0, 200).trim()}`,
              ),
            );
            return;
          }
          try {
            const parsed = JSON.parse(text) as unknown;
            if (!isPlainObject(parsed)) throw new Error('not an object');
            resolve(parsed);
          } catch (e) {
            reject(new Error(`received invalid webhook response: ${(e as Error).message}`));
          }
        });
      },
    );
    req.on('socket', (s) => {
      s.once('secureConnect', () => {
        const peer = (s as import('node:tls').TLSSocket).getPeerCertificate?.();
        if (peer?.fingerprint256) onPeer(peer.fingerprint256);
      });
    });
    const timer = setTimeout(
      () =>
        req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')),
      timeoutMs,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(data);
  });
}
