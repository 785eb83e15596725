// The composition root: one Agent per node. It wires the two watchers (VMIs, launcher pods) into
// the probe manager, the manager into the reporter and the liveness handler, the metrics observer
// into everything, and serves /metrics, /healthz, /readyz, /debug/probes.
//
// Lifecycle: the constructor builds objects and starts nothing. start() binds the HTTP port, starts
// the watchers and loads the last reported states; probing starts once both initial lists synced
// and the reporter loaded (/readyz turns ready then). An unreachable API server is not an error:
// the watchers and the reporter retry with backoff. stop(graceMs) stops probing, flushes pending
// writes until the deadline, then stops everything; idempotent.
import { POD_READINESS_CONDITION, VMI_PLURAL } from '@vmprobe/shared';
import type { BackoffPolicy } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import { AgentHttpServer, type EndpointGuard, ReviewingGuard, WatchHealth } from './http/index.js';
import { createKubeWrites } from './kube/api.js';
import type { KubeConfig } from './kube/config.js';
import { createLauncherPodWatcher, createVmiWatcher, type ResourceWatcher } from './kube/informers.js';
import { createAccessReviews } from './kube/reviews.js';
import { countKillableVmis } from './liveness/budget.js';
import type { Logger } from './log.js';
import {
  type LivenessHandler,
  ProbeManager,
  probeWorkerFactory,
  type WorkerFactory,
} from './manager/index.js';
import { AgentMetrics } from './metrics/index.js';
import type { PodObject, VmiObject } from './model/objects.js';
import type { AgentObserver } from './observer.js';
import { closeLauncherClients } from './probers/index.js';
import { ApiReporter } from './report/index.js';
import type { Reporter } from './report/types.js';
import type { ProbeSnapshot } from './snapshot.js';
import { type GuestProbeConfig, ProbeAddressPolicy } from './targets/index.js';
import { VERSION } from './version.js';

export type { LivenessAction } from './model/conditions.js';

export interface AgentOptions {
  nodeName: string;
  kubeConfig: KubeConfig;
  logger: Logger;
  /** `ADDR:PORT` of the HTTP server; undefined runs without one (in-process tests). */
  listen?: string;
  /** `--allow-probe-cidr` values; parsed in the constructor (InvalidCidrError). */
  allowProbeCidrs?: readonly string[];
  /** `--unsafe-probe-cidr` values (test beds only: exempt from the never-probed classes). */
  unsafeProbeCidrs?: readonly string[];
  /** The node's own addresses (never probed); default: the host's interfaces. */
  nodeAddresses?: { has(ip: string): boolean };
  /** `--insecure-endpoints`: serve /metrics and /debug/probes without TokenReview/SubjectAccessReview. */
  insecureEndpoints?: boolean;
  /** Default (unless insecureEndpoints): a ReviewingGuard over the API's review calls. */
  endpointGuard?: EndpointGuard;
  /** `--guest-probes`: run exec / guestAgentPing through launcher sockets under this pods root. */
  guestProbes?: GuestProbeConfig;
  /** Builds the liveness handler; it receives what the agent shares (writes, reporter, observer).
   *  Undefined: liveness failures are reported but nothing is stopped. */
  liveness?: (deps: LivenessDeps) => LivenessHandler & { stop?(): void | Promise<void> };
  clock?: Clock;
  /** Default: an AgentMetrics registry (also served on /metrics). */
  observer?: AgentObserver;
  /** prom-client's process metrics (default true; tests creating many agents turn them off). */
  processMetrics?: boolean;
  /** Default: the probe engine's ProbeWorker with jitter. */
  createWorker?: WorkerFactory;
  /** Default: ApiReporter over createKubeWrites. */
  reporter?: Reporter;
  watchBackoff?: BackoffPolicy;
  /** /healthz `watches`: a watcher silent this long without an error counts as wedged (default 20 min). */
  watchStallMs?: number;
  /** Deadline of each API list/get/write (default 30 s): a request past it is abandoned and retried
   *  like a 5xx (kube/deadline.ts). */
  apiRequestTimeoutMs?: number;
}

export interface LivenessDeps {
  kubeConfig: KubeConfig;
  nodeName: string;
  observer: AgentObserver;
  logger: Logger;
  clock: Clock;
  writes: ReturnType<typeof createKubeWrites>;
  /** VMIs on the node with an active (running, not suspended) liveness or startup probe right now:
   *  the kill budget's node-fault denominator (countKillableVmis). */
  probedVmiCount: () => number;
}

export class Agent {
  readonly nodeName: string;
  readonly metrics: AgentMetrics | undefined;
  readonly observer: AgentObserver;
  readonly manager: ProbeManager;
  readonly reporter: Reporter;
  readonly vmiWatcher: ResourceWatcher<VmiObject>;
  readonly podWatcher: ResourceWatcher<PodObject>;
  /** The `watches` check behind /healthz (fed by the watchers' requests, restarts and events). */
  readonly watchHealth: WatchHealth;
  private readonly log: Logger;
  private readonly http: AgentHttpServer | undefined;
  private readonly liveness: (LivenessHandler & { stop?(): void | Promise<void> }) | undefined;
  private readonly abort = new AbortController();
  private readonly offs: (() => void)[] = [];
  private reporterLoaded = false;
  private probing = false;
  private started = false;
  private stopping: Promise<void> | undefined;
  private readyWaiters: (() => void)[] = [];

  constructor(opts: AgentOptions) {
    this.nodeName = opts.nodeName;
    this.log = opts.logger;
    const clock = opts.clock ?? systemClock;
    const addressPolicy = new ProbeAddressPolicy({
      allowCidrs: opts.allowProbeCidrs ?? [],
      unsafeCidrs: opts.unsafeProbeCidrs ?? [],
      ...(opts.nodeAddresses ? { nodeAddresses: opts.nodeAddresses } : {}),
    });
    this.metrics = opts.observer
      ? undefined
      : new AgentMetrics({
          node: opts.nodeName,
          version: VERSION,
          processMetrics: opts.processMetrics ?? true,
        });
    this.observer = opts.observer ?? (this.metrics as AgentMetrics);
    this.watchHealth = new WatchHealth({
      clock,
      resources: [VMI_PLURAL, POD_RESOURCE],
      ...(opts.watchStallMs !== undefined ? { stallMs: opts.watchStallMs } : {}),
    });
    const watcherDeps = {
      observer: watchObserver(this.observer, {
        request: (verb, resource, code) => {
          if (verb !== 'list' && verb !== 'watch') return;
          this.watchHealth.request(resource, code);
          // A list or watch that succeeded: the API answers again, so writes waiting out an outage
          // need not wait for their backoff.
          if (code >= 200 && code < 300) this.reporter.apiReachable?.();
        },
        restart: (resource, reason) => this.watchHealth.restart(resource, reason),
      }),
      logger: this.log,
      clock,
      ...(opts.watchBackoff ? { backoff: opts.watchBackoff } : {}),
      ...(opts.apiRequestTimeoutMs !== undefined ? { requestTimeoutMs: opts.apiRequestTimeoutMs } : {}),
    };
    this.vmiWatcher = createVmiWatcher(opts.kubeConfig, opts.nodeName, watcherDeps);
    this.podWatcher = createLauncherPodWatcher(opts.kubeConfig, opts.nodeName, watcherDeps);
    const writes = createKubeWrites({
      kubeConfig: opts.kubeConfig,
      nodeName: opts.nodeName,
      observer: this.observer,
      ...(opts.apiRequestTimeoutMs !== undefined ? { requestTimeoutMs: opts.apiRequestTimeoutMs } : {}),
    });
    this.reporter =
      opts.reporter ??
      new ApiReporter({
        writes,
        nodeName: opts.nodeName,
        clock,
        logger: this.log.child({ component: 'reporter' }),
        observer: this.observer,
        podCondition: (namespace, name) => {
          const pod = this.podWatcher.get(name, namespace);
          const c = pod?.status?.conditions?.find((x) => x?.type === POD_READINESS_CONDITION);
          if (!c?.type || !c.status) return undefined;
          // Trimmed on arrival (model/trim.ts): a listed pod's Date is already an RFC 3339 string.
          return {
            type: c.type,
            status: c.status,
            ...(c.reason !== undefined ? { reason: c.reason } : {}),
            ...(c.message !== undefined ? { message: c.message } : {}),
            ...(c.lastTransitionTime !== undefined ? { lastTransitionTime: c.lastTransitionTime } : {}),
          };
        },
      });
    this.liveness = opts.liveness?.({
      kubeConfig: opts.kubeConfig,
      nodeName: opts.nodeName,
      observer: this.observer,
      logger: this.log, // the handler binds its own component
      clock,
      writes,
      probedVmiCount: () => countKillableVmis(this.manager.snapshot()),
    });
    this.manager = new ProbeManager({
      nodeName: opts.nodeName,
      reporter: this.reporter,
      observer: this.observer,
      logger: this.log,
      clock,
      addressPolicy,
      ...(opts.guestProbes ? { guestProbes: opts.guestProbes } : {}),
      ...(this.liveness ? { liveness: this.liveness } : {}),
      createWorker: opts.createWorker ?? probeWorkerFactory({ logger: this.log }),
    });
    this.metrics?.countReadinessNotEnforced(() => this.manager.readinessNotEnforcedCount());
    this.http =
      opts.listen === undefined
        ? undefined
        : new AgentHttpServer({
            listen: opts.listen,
            ...(opts.insecureEndpoints
              ? {}
              : {
                  guard:
                    opts.endpointGuard ??
                    new ReviewingGuard({
                      reviews: createAccessReviews({ kubeConfig: opts.kubeConfig, observer: this.observer }),
                      now: () => clock.now(),
                    }),
                }),
            logger: this.log.child({ component: 'http' }),
            metrics: () =>
              this.metrics ? this.metrics.expose() : Promise.resolve({ contentType: 'text/plain', body: '' }),
            probes: () => this.manager.snapshot(),
            liveChecks: { watches: () => this.watchHealth.check() },
            readyChecks: {
              'initial-sync': () =>
                this.probing
                  ? { ok: true }
                  : {
                      ok: false,
                      message: `waiting for ${[
                        this.vmiWatcher.synced ? '' : 'the VMI list',
                        this.podWatcher.synced ? '' : 'the launcher-pod list',
                        this.reporterLoaded ? '' : 'the last reported states',
                      ]
                        .filter(Boolean)
                        .join(', ')}`,
                    },
            },
          });
  }

  /** Binds the HTTP port (rejects on EADDRINUSE), then starts discovery in the background. */
  async start(): Promise<void> {
    if (this.started) throw new Error('Agent already started');
    this.started = true;
    const bound = await this.http?.start();
    if (bound) this.log.info({ url: bound.url }, 'serving /metrics, /healthz, /readyz, /debug/probes');
    this.offs.push(
      this.vmiWatcher.on({
        add: (v) => this.manager.upsertVmi(v),
        update: (v) => this.manager.upsertVmi(v),
        delete: (v) => this.manager.removeVmi(v),
        synced: () => this.maybeStartProbing(),
      }),
      this.podWatcher.on({
        add: (p) => this.manager.upsertPod(p),
        update: (p) => this.manager.upsertPod(p),
        delete: (p) => this.manager.removePod(p),
        synced: () => this.maybeStartProbing(),
      }),
      this.vmiWatcher.on(activityOf(() => this.watchHealth.event(VMI_PLURAL))),
      this.podWatcher.on(activityOf(() => this.watchHealth.event(POD_RESOURCE))),
    );
    this.vmiWatcher.start();
    this.podWatcher.start();
    this.reporter.start(this.abort.signal).then(
      () => {
        this.reporterLoaded = true;
        this.maybeStartProbing();
      },
      (err: unknown) => {
        if (this.abort.signal.aborted) return;
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'reporter failed to start');
      },
    );
  }

  /** True once probing runs (both lists synced, last reported states loaded). */
  get ready(): boolean {
    return this.probing;
  }

  /** Resolves once ready (or at once if already). */
  whenReady(): Promise<void> {
    if (this.probing) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** The bound HTTP address, when serving. */
  address(): { host: string; port: number; url: string } | undefined {
    return this.http?.address();
  }

  snapshot(): ProbeSnapshot[] {
    return this.manager.snapshot();
  }

  /** Stops probing, flushes pending writes for at most graceMs, stops everything. Idempotent. */
  stop(graceMs = 5_000): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    this.abort.abort();
    this.manager.stop();
    closeLauncherClients();
    for (const off of this.offs.splice(0)) off();
    await Promise.all([this.vmiWatcher.stop(), this.podWatcher.stop()]);
    if (this.reporterLoaded) {
      try {
        await this.reporter.flush(deadline);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'flush failed');
      }
    }
    await this.reporter.stop();
    await this.liveness?.stop?.();
    await this.http?.stop();
    for (const w of this.readyWaiters.splice(0)) w();
    this.log.info({}, 'agent stopped');
  }

  private maybeStartProbing(): void {
    if (this.probing || this.abort.signal.aborted) return;
    if (!this.vmiWatcher.synced || !this.podWatcher.synced || !this.reporterLoaded) return;
    this.probing = true;
    this.manager.resync(this.vmiWatcher.list(), this.podWatcher.list());
    this.manager.start();
    this.log.info(
      { vmis: this.vmiWatcher.list().length, pods: this.podWatcher.list().length },
      'initial lists synced; probing',
    );
    for (const w of this.readyWaiters.splice(0)) w();
  }
}

/** The launcher-pod watcher's resource name (as createLauncherPodWatcher reports it). */
const POD_RESOURCE = 'pods';

/** Watcher handlers that only note activity (any event or completed list). */
function activityOf(mark: () => void) {
  return { add: mark, update: mark, delete: mark, synced: mark };
}

/**
 * The watchers' observer: forwards every call to `inner`, and also tells `tap` how each of their
 * requests ended (code 0 = network error) and every restart.
 */
function watchObserver(
  inner: AgentObserver,
  tap: {
    request(verb: string, resource: string, code: number): void;
    restart(resource: string, reason: string): void;
  },
): AgentObserver {
  return {
    probeResult: (id, outcome, state, lag) => inner.probeResult(id, outcome, state, lag),
    probeState: (id, state, reason) => inner.probeState(id, state, reason),
    probeRemoved: (id) => inner.probeRemoved(id),
    apiRequest: (verb, resource, code, seconds) => {
      inner.apiRequest(verb, resource, code, seconds);
      tap.request(verb, resource, code);
    },
    reporterWrite: (target, result) => inner.reporterWrite(target, result),
    watchRestart: (resource, reason) => {
      inner.watchRestart(resource, reason);
      tap.restart(resource, reason);
    },
    kill: (namespace, vmi, action, outcome, reason) => inner.kill(namespace, vmi, action, outcome, reason),
  };
}
