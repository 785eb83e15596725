/**
 * startEmulator(): the HTTP(S) front of the API emulator. Per request: authenticate (bearer token)
 * → impersonation → fault injection → RBAC → route (discovery, OpenAPI, self reviews, resource verbs
 * with Accept negotiation / Table rendering and field validation, watch) → record in the request log.
 * Owns the listening socket, every open connection and watch stream; `stop()` ends them all.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { ADMIN_USER, Authenticator, type TokenOptions } from './auth.js';
import { loadYamlObjects, resourceTypeFromCrd } from './crd.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, VERSION_INFO } from './discovery.js';
import { ApiError, errors } from './errors.js';
import { FaultInjector } from './faults.js';
import { checkFields, parseFieldValidation } from './fieldvalidation.js';
import { impersonate } from './impersonation.js';
import { MutatingWebhooks } from './mutating-webhooks.js';
import { OpenApiDocuments } from './openapi.js';
import { RbacAuthorizer } from './rbac.js';
import { RequestLog } from './requestlog.js';
import { builtinResources, groupResource, ResourceRegistry, type ResourceType } from './resources.js';
import { type DeleteOptions, type Identity, type OpContext, Rest } from './rest.js';
import { serveReview } from './reviews.js';
import {
  SELF_REVIEWS,
  selfSubjectAccessReview,
  selfSubjectReview,
  selfSubjectRulesReview,
} from './reviews-self.js';
import { parseRequest, type RequestInfo } from './router.js';
import { Storage } from './storage.js';
import { ObjectStore } from './store.js';
import { negotiate, render, tableWatchRenderer } from './table.js';
import { makeServingCerts } from './tls.js';
import type { KubeObject } from './util.js';
import { admitWithPolicies } from './validating-policy.js';
import { WatchStream } from './watch.js';

export interface EmulatorOptions {
  /** Default false: plain http. true: own CA + https serving cert for 127.0.0.1/localhost. */
  tls?: boolean;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** CRD YAML files; default: manifests/base/crd-vmiprobestatus.yaml and test/fixtures/kubevirt/crds.yaml. */
  crdFiles?: string[];
  /** (Cluster)Role(Binding) YAML files (other kinds ignored); when given RBAC is enforced for every non-admin identity. */
  rbacFiles?: string[];
  /** Watch events kept for resumption; older resourceVersions → 410 Expired. Default 50,000. */
  historySize?: number;
  /** BOOKMARK period for watches with allowWatchBookmarks (default 1,000 ms; a real server sends one about every minute). */
  bookmarkIntervalMs?: number;
  /** Who completes graceful pod deletion: 'timer' (default: the emulator, after the grace period) or 'manual' (store.finishPodDeletion / delete with grace 0). */
  podDeletion?: 'timer' | 'manual';
  /** Namespaces present at start (default: default, kube-system, kube-public, kube-node-lease, kubevirt). */
  namespaces?: string[];
}

export interface Emulator {
  readonly url: string;
  readonly caPem?: string;
  /** `opts.nodeName`: a token bound to a pod on that node (its identity carries the node claim). */
  kubeConfig(user: string, opts?: TokenOptions): KubeConfig;
  writeKubeconfig(user: string, file: string, opts?: TokenOptions): Promise<void>;
  inClusterDir(user: string): Promise<string>;
  tokenFor(user: string, opts?: TokenOptions): string;
  readonly store: ObjectStore;
  readonly faults: FaultInjector;
  readonly requests: RequestLog;
  /** Mutating admission webhooks: `mapService` routes a webhook Service to a local address. */
  readonly webhooks: MutatingWebhooks;
  loadRbac(objects: object[]): void;
  stop(): Promise<void>;
}

const RBAC_KINDS: Record<string, string> = {
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
};

/** Repository root (works from test/src/emulator and test/dist/emulator). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_CRD_FILES = [
  join(REPO_ROOT, 'manifests/base/crd-vmiprobestatus.yaml'),
  join(REPO_ROOT, 'test/fixtures/kubevirt/crds.yaml'),
  join(REPO_ROOT, 'test/fixtures/cert-manager/crds.yaml'),
];

const PUBLIC_PATHS = /^\/(healthz|livez|readyz|version)(\/.*)?$/;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const data = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw errors.badRequest(`invalid value for ${name}: "${v}"`);
  return n;
}

class EmulatorImpl implements Emulator {
  url = '';
  caPem?: string;
  readonly storage: Storage;
  readonly registry = new ResourceRegistry();
  readonly rest: Rest;
  readonly store: ObjectStore;
  readonly faults: FaultInjector;
  readonly requests = new RequestLog();
  readonly webhooks: MutatingWebhooks;
  private readonly auth = new Authenticator();
  private readonly rbac: RbacAuthorizer;
  private readonly openapi: OpenApiDocuments;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<WatchStream>();
  private readonly tempDirs: string[] = [];
  private readonly unsubscribe: () => void;
  private port = 0;
  private stopped = false;
  private readonly host: string;
  private readonly bookmarkIntervalMs: number;
  private readonly admin: OpContext = {
    identity: { user: ADMIN_USER, groups: ['system:masters'] },
    admission: false,
  };

  constructor(private readonly opts: EmulatorOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    this.storage = new Storage(opts.historySize ?? 50_000);
    this.rest = new Rest(this.storage, this.registry, {
      podDeletion: opts.podDeletion ?? 'timer',
      admitWrite: (a) => admitWithPolicies(this.storage, a),
    });
    this.store = new ObjectStore(this.rest, this.storage, this.registry);
    this.rbac = new RbacAuthorizer(this.storage);
    this.openapi = new OpenApiDocuments(this.registry);
    this.faults = new FaultInjector({
      dropAllWatches: () => this.dropAllWatches(),
      setOutage: (on) => this.setOutage(on),
    });
    for (const rt of builtinResources()) this.registry.register(rt);
    this.webhooks = new MutatingWebhooks(this.storage);
    // CRD objects in the store define served resource types, however they were written.
    this.unsubscribe = this.storage.onEvent((e) => {
      if (e.gr !== 'customresourcedefinitions.apiextensions.k8s.io') return;
      if (e.type === 'DELETED') {
        const spec = e.object.spec ?? {};
        this.registry.unregister(spec.group, spec.names?.plural);
      } else this.registry.register(resourceTypeFromCrd(e.object));
    });
  }

  init(): void {
    for (const ns of this.opts.namespaces ?? [
      'default',
      'kube-system',
      'kube-public',
      'kube-node-lease',
      'kubevirt',
    ]) {
      this.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    for (const file of this.opts.crdFiles ?? DEFAULT_CRD_FILES) {
      for (const obj of loadYamlObjects(file)) {
        if (obj.kind !== 'CustomResourceDefinition') continue;
        resourceTypeFromCrd(obj); // validates before storing
        this.store.create(obj);
      }
    }
    if (this.opts.rbacFiles) {
      this.loadRbac(this.opts.rbacFiles.flatMap((f) => loadYamlObjects(f)));
    }
  }

  loadRbac(objects: object[]): void {
    for (const o of objects as KubeObject[]) {
      const plural = RBAC_KINDS[o?.kind];
      if (!plural) continue;
      const rt = this.registry.byGroupResource(
        groupResource('rbac.authorization.k8s.io', plural),
      ) as ResourceType;
      const body = { ...o, apiVersion: 'rbac.authorization.k8s.io/v1' };
      const ns = rt.namespaced ? (o.metadata?.namespace ?? 'default') : undefined;
      if (ns && !this.storage.get('namespaces', ns))
        this.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const existing = this.storage.get(
        groupResource(rt.group, rt.plural),
        ns ? `${ns}/${o.metadata?.name}` : o.metadata?.name,
      );
      if (existing) {
        const next = {
          ...body,
          metadata: {
            ...(o.metadata ?? {}),
            namespace: ns,
            resourceVersion: existing.metadata.resourceVersion,
          },
        };
        this.rest.update(this.admin, rt, ns, o.metadata?.name, 'v1', next);
      } else
        this.rest.create(this.admin, rt, ns, 'v1', {
          ...body,
          metadata: { ...(o.metadata ?? {}), namespace: ns },
        });
    }
    this.rbac.enforced = true;
  }

  tokenFor(user: string, opts?: TokenOptions): string {
    return this.auth.tokenFor(user, opts);
  }

  kubeConfig(user: string, opts?: TokenOptions): KubeConfig {
    const kc = new KubeConfig();
    const m = /^system:serviceaccount:([^:]+):/.exec(user);
    kc.loadFromOptions({
      clusters: [
        {
          name: 'emulator',
          server: this.url,
          skipTLSVerify: !this.caPem,
          ...(this.caPem ? { caData: Buffer.from(this.caPem).toString('base64') } : {}),
        },
      ],
      users: [{ name: user, token: this.tokenFor(user, opts) }],
      contexts: [{ name: 'emulator', cluster: 'emulator', user, namespace: m?.[1] ?? 'default' }],
      currentContext: 'emulator',
    });
    return kc;
  }

  async writeKubeconfig(user: string, file: string, opts?: TokenOptions): Promise<void> {
    const m = /^system:serviceaccount:([^:]+):/.exec(user);
    const cluster: Record<string, unknown> = { server: this.url };
    if (this.caPem) cluster['certificate-authority-data'] = Buffer.from(this.caPem).toString('base64');
    else cluster['insecure-skip-tls-verify'] = true;
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'emulator', cluster }],
      users: [{ name: user, user: { token: this.tokenFor(user, opts) } }],
      contexts: [
        { name: 'emulator', context: { cluster: 'emulator', user, namespace: m?.[1] ?? 'default' } },
      ],
      'current-context': 'emulator',
    };
    await writeFile(file, toYaml(doc), { mode: 0o600 });
  }

  async inClusterDir(user: string): Promise<string> {
    if (!this.caPem)
      throw new Error(
        'inClusterDir needs an emulator started with { tls: true } (in-cluster config is https)',
      );
    const root = await mkdtemp(join(tmpdir(), 'vmprobe-emu-incluster-'));
    this.tempDirs.push(root);
    const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(dir, { recursive: true });
    const m = /^system:serviceaccount:([^:]+):/.exec(user);
    await writeFile(join(dir, 'token'), this.tokenFor(user), { mode: 0o600 });
    await writeFile(join(dir, 'ca.crt'), this.caPem);
    await writeFile(join(dir, 'namespace'), m?.[1] ?? 'default');
    return root;
  }

  private dropAllWatches(): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) w.close();
    return n;
  }

  private async setOutage(on: boolean): Promise<void> {
    if (this.stopped || !this.server) return;
    if (on) {
      const closed = new Promise<void>((r) => this.server?.close(() => r()));
      for (const w of [...this.watches]) w.close();
      for (const s of this.sockets) s.destroy();
      await closed;
    } else if (!this.server.listening) {
      await new Promise<void>((r, j) => {
        this.server?.once('error', j);
        this.server?.listen(this.port, this.host, () => {
          this.server?.off('error', j);
          r();
        });
      });
    }
  }

  async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e) => {
        sendJson(res, 500, errors.internal(String((e as Error)?.message ?? e)).toStatus());
      });
    };
    if (this.opts.tls) {
      const certs = makeServingCerts(this.host);
      this.caPem = certs.caPem;
      this.server = createHttpsServer({ cert: certs.certPem, key: certs.keyPem }, handler);
    } else this.server = createHttpServer(handler);
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r, j) => {
      this.server?.once('error', j);
      this.server?.listen(this.opts.port ?? 0, this.host, () => r());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.url = `${this.opts.tls ? 'https' : 'http'}://${h}:${this.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    let info: RequestInfo;
    try {
      info = parseRequest(method, url);
    } catch {
      info = {
        isResourceRequest: false,
        path: url.pathname,
        verb: method.toLowerCase(),
        group: '',
        version: '',
      };
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() || undefined;
    let user = '';
    let status = 200;
    const record = () =>
      this.requests.add({
        time: t0,
        user,
        verb: info.verb,
        method,
        path: url.pathname,
        query: url.search,
        apiGroup: info.group,
        resource: info.resource,
        namespace: info.namespace,
        name: info.name,
        subresource: info.subresource,
        contentType,
        status,
        durationMs: Date.now() - t0,
      });
    try {
      let id: Identity | undefined = this.auth.authenticate(req.headers.authorization);
      if (!id && !PUBLIC_PATHS.test(url.pathname)) throw errors.unauthorized();
      id ??= { user: 'system:anonymous', groups: ['system:unauthenticated'] };
      if (id.user !== 'system:anonymous') id = impersonate(id, req.headers, this.rbac);
      user = id.user;
      const fault = this.faults.decide(info.verb, url.pathname, user);
      if (fault.latencyMs > 0) await new Promise((r) => setTimeout(r, fault.latencyMs));
      if (fault.error) throw fault.error;
      if (id.user !== 'system:anonymous') this.rbac.authorize(id, info);
      const body =
        method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE'
          ? await readBody(req)
          : '';
      if (!info.isResourceRequest) {
        const [code, out, type] = this.nonResource(info, url, req.headers.accept);
        status = code;
        if (type === 'raw-json') {
          res.writeHead(code, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(out as string),
          });
          res.end(out as string);
        } else if (type === 'text') {
          res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(out as string);
        } else sendJson(res, code, out);
        return;
      }
      const review = serveReview(info, body, { auth: this.auth, rbac: this.rbac });
      if (review) {
        status = review[0];
        sendJson(res, review[0], review[1]);
        return;
      }
      const admitted = await this.mutatingAdmission(id, info, body, contentType);
      const result = this.resource(id, info, url, admitted.body, contentType, req, res);
      if (result === 'watch') {
        status = 200;
        return;
      }
      status = result[0];
      sendJson(res, result[0], result[1], mergeWarningHeaders(admitted.headers, result[2]));
    } catch (e) {
      const err = e instanceof ApiError ? e : errors.internal(String((e as Error)?.message ?? e));
      status = err.code;
      sendJson(res, err.code, err.toStatus(), err.headers);
    } finally {
      record();
    }
  }

  /** Mutating admission webhooks on a create (mutating-webhooks.ts): the body to store and the
   *  Warning headers; a body that is not JSON goes on unchanged (the create answers its 400). */
  private async mutatingAdmission(
    id: Identity,
    info: RequestInfo,
    body: string,
    contentType: string | undefined,
  ): Promise<{ body: string; headers: Record<string, string> }> {
    const same = { body, headers: {} };
    if (!info.isResourceRequest || info.verb !== 'create' || info.name !== undefined) return same;
    if (contentType && contentType !== 'application/json') return same;
    const rt = this.registry.lookup(info.group, info.version, info.resource as string);
    if (!rt) return same;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return same;
    }
    const ns = rt.namespaced ? info.namespace : undefined;
    const out = await this.webhooks.admitCreate(id, rt, info.version, ns, parsed);
    const headers: Record<string, string> =
      out.warnings.length > 0
        ? {
            Warning: out.warnings.map((w) => `299 - ${JSON.stringify(w.replace(/[\r\n]/g, ' '))}`).join(', '),
          }
        : {};
    return { body: out.object === parsed ? body : JSON.stringify(out.object), headers };
  }

  private nonResource(
    info: RequestInfo,
    url: URL,
    accept: string | undefined,
  ): [number, unknown, 'json' | 'text' | 'raw-json'] {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/openapi/v3') return [200, this.openapi.index(), 'json'];
    if (p.startsWith('/openapi/v3/')) {
      const doc = this.openapi.groupVersion(p.slice('/openapi/v3/'.length));
      if (doc) return [200, doc, 'raw-json'];
    }
    if (p === '/openapi/v2') {
      // Served as JSON only: a client that accepts nothing but protobuf (kubectl's v2 fallback) gets 406.
      if (accept && !/application\/json|\*\/\*/.test(accept))
        throw new ApiError(
          406,
          'NotAcceptable',
          'only the following media types are accepted: application/json',
        );
      return [200, this.openapi.swagger(), 'raw-json'];
    }
    if (/^\/(healthz|livez|readyz)(\/.*)?$/.test(p)) return [200, 'ok', 'text'];
    if (p === '/version') return [200, VERSION_INFO, 'json'];
    if (info.discovery === 'root' && info.apiPrefix === 'api')
      return [200, apiVersions(`${this.host}:${this.port}`), 'json'];
    if (info.discovery === 'root' && info.apiPrefix === 'apis')
      return [200, apiGroupList(this.registry), 'json'];
    if (info.discovery === 'group') {
      const g = apiGroup(this.registry, info.group);
      if (g) return [200, g, 'json'];
    }
    if (info.discovery === 'version') {
      const l = apiResourceList(this.registry, info.group, info.version);
      if (l) return [200, l, 'json'];
    }
    if (p === '/') {
      return [
        200,
        {
          paths: [
            '/api',
            '/api/v1',
            '/apis',
            '/healthz',
            '/livez',
            '/openapi/v2',
            '/openapi/v3',
            '/readyz',
            '/version',
          ],
        },
        'json',
      ];
    }
    throw errors.notFoundPath();
  }

  private resource(
    id: Identity,
    info: RequestInfo,
    url: URL,
    body: string,
    contentType: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): [number, unknown, Record<string, string>?] | 'watch' {
    const q = url.searchParams;
    const rt = this.registry.lookup(info.group, info.version, info.resource as string);
    if (!rt) throw errors.notFoundPath();
    const gr = groupResource(rt.group, rt.plural);
    if (Object.values(SELF_REVIEWS).includes(gr as never) && info.verb === 'create' && !info.name) {
      const apiVersion = `${rt.group}/${info.version}`;
      let review: unknown;
      try {
        review = body.trim() === '' ? undefined : JSON.parse(body);
      } catch (e) {
        throw errors.badRequest(`the body of the request was in an unknown format: ${(e as Error).message}`);
      }
      return [
        201,
        gr === SELF_REVIEWS.ssar
          ? selfSubjectAccessReview(review, id, this.rbac, apiVersion)
          : gr === SELF_REVIEWS.ssrr
            ? selfSubjectRulesReview(review, id, this.rbac, apiVersion)
            : selfSubjectReview(id, apiVersion),
      ];
    }
    const rendering = negotiate(req.headers.accept, info.verb);
    const fieldValidation = parseFieldValidation(q.get('fieldValidation'));
    const warnings = (b: unknown): Record<string, string> => {
      const w = checkFields(rt, info.version, b, fieldValidation);
      return w.length ? { Warning: w.join(', ') } : {};
    };
    if (info.subresource !== undefined && !(info.subresource === 'status' && rt.statusSubresource))
      throw errors.notFoundPath();
    if (info.verb !== 'watch' && !rt.verbs.includes(info.verb)) throw errors.methodNotAllowed(info.verb);
    if (info.subresource === 'status' && !['get', 'update', 'patch'].includes(info.verb))
      throw errors.methodNotAllowed(info.verb);
    const ns = rt.namespaced ? info.namespace : undefined;
    if (!rt.namespaced && info.namespace) throw errors.notFoundPath();
    if (rt.namespaced && info.name !== undefined && !ns) throw errors.notFoundPath();
    const dryRun = q.getAll('dryRun');
    for (const d of dryRun)
      if (d !== 'All') throw errors.badRequest(`Invalid dryRun value: "${d}": supported values: "All"`);
    const ctx: OpContext = { identity: id, admission: true, ...(dryRun.length > 0 ? { dryRun: true } : {}) };
    const parsed = (): unknown => {
      if (body.trim() === '') return undefined;
      try {
        return JSON.parse(body);
      } catch (e) {
        throw errors.badRequest(`the body of the request was in an unknown format: ${(e as Error).message}`);
      }
    };
    switch (info.verb) {
      case 'get':
        return [
          200,
          render(
            rendering,
            rt,
            info.version,
            this.rest.get(rt, ns, info.name as string, info.version),
            q.get('includeObject'),
            Date.now(),
          ),
        ];
      case 'list':
        return [
          200,
          render(
            rendering,
            rt,
            info.version,
            this.rest.list(rt, ns, info.version, {
              labelSelector: q.get('labelSelector') ?? undefined,
              fieldSelector: q.get('fieldSelector') ?? undefined,
              limit: intParam(q, 'limit'),
              continue: q.get('continue') ?? undefined,
              resourceVersion: q.get('resourceVersion') ?? undefined,
              resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
            }),
            q.get('includeObject'),
            Date.now(),
          ),
        ];
      case 'watch': {
        let fieldSelector = q.get('fieldSelector') ?? undefined;
        if (info.name !== undefined)
          fieldSelector = [`metadata.name=${info.name}`, fieldSelector].filter(Boolean).join(',');
        const stream = new WatchStream(res, (s) => this.watches.delete(s));
        this.watches.add(stream);
        try {
          stream.start(
            this.rest,
            this.storage,
            rt,
            ns,
            info.version,
            {
              resourceVersion: q.get('resourceVersion') ?? undefined,
              labelSelector: q.get('labelSelector') ?? undefined,
              fieldSelector,
              allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
              sendInitialEvents: q.get('sendInitialEvents') === 'true',
              timeoutSeconds: intParam(q, 'timeoutSeconds'),
              render: tableWatchRenderer(rendering, rt, info.version, q.get('includeObject')),
            },
            this.faults.takeForcedGone(),
            this.bookmarkIntervalMs,
          );
        } catch (e) {
          this.watches.delete(stream);
          throw e;
        }
        return 'watch';
      }
      case 'create': {
        if (info.name !== undefined) throw errors.methodNotAllowed('create');
        if (contentType && contentType !== 'application/json')
          throw errors.unsupportedMediaType(
            `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
          );
        const created = parsed();
        const headers = warnings(created);
        return [201, this.rest.create(ctx, rt, ns, info.version, created), headers];
      }
      case 'update': {
        const updated = parsed();
        const headers = warnings(updated);
        return [
          200,
          this.rest.update(ctx, rt, ns, info.name as string, info.version, updated, info.subresource),
          headers,
        ];
      }
      case 'patch': {
        const patchBody = parsed();
        const headers = Array.isArray(patchBody) ? {} : warnings(patchBody);
        return [
          200,
          this.rest.patch(
            ctx,
            rt,
            ns,
            info.name as string,
            info.version,
            contentType ?? '',
            patchBody,
            info.subresource,
          ),
          headers,
        ];
      }
      case 'delete':
      case 'deletecollection': {
        const b = (parsed() ?? {}) as KubeObject;
        const o: DeleteOptions = {
          gracePeriodSeconds: intParam(q, 'gracePeriodSeconds') ?? b.gracePeriodSeconds,
          propagationPolicy: (q.get('propagationPolicy') ??
            b.propagationPolicy ??
            undefined) as DeleteOptions['propagationPolicy'],
          preconditions: b.preconditions,
        };
        if (b.orphanDependents === true || q.get('orphanDependents') === 'true')
          o.propagationPolicy ??= 'Orphan';
        if (info.verb === 'delete')
          return [200, this.rest.delete(ctx, rt, ns, info.name as string, info.version, o)];
        return [
          200,
          this.rest.deleteCollection(
            ctx,
            rt,
            ns,
            info.version,
            {
              labelSelector: q.get('labelSelector') ?? undefined,
              fieldSelector: q.get('fieldSelector') ?? undefined,
            },
            o,
          ),
        ];
      }
      default:
        throw errors.methodNotAllowed(info.verb);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    for (const w of [...this.watches]) w.close();
    this.rest.stop();
    const server = this.server;
    if (server?.listening) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of this.sockets) s.destroy();
      await closed;
    } else for (const s of this.sockets) s.destroy();
    await Promise.all(this.tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = new EmulatorImpl(opts);
  emu.init();
  try {
    await emu.listen();
  } catch (e) {
    await emu.stop();
    throw e;
  }
  return emu;
}

/** Response headers of two sources; Warning values are joined (RFC 7234 allows a list). */
function mergeWarningHeaders(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (!a || Object.keys(a).length === 0) return b;
  if (!b || Object.keys(b).length === 0) return a;
  const out = { ...a, ...b };
  if (a.Warning && b.Warning) out.Warning = `${a.Warning}, ${b.Warning}`;
  return out;
}
