/**
 * The whole test bed in one call — API emulator, VM simulator, emulated KubeVirt — for tests, the
 * demo and benchmarks, plus a few helpers that go through @kubernetes/client-node as 'admin'.
 * stop() tears everything down in reverse order, is idempotent, and keeps going past a failing part.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { ADMIN_USER, type Emulator, REPO_ROOT, startEmulator } from './emulator/index.js';
import { type Kubevirt, LABEL_CREATED_BY, startKubevirt, VMI_PLURAL, type Vmi } from './kubevirt/index.js';
import { ignoreNotFound } from './kubevirt/util.js';
import { startVmSimulator, type VmSimulator } from './vmsim/index.js';
import {
  type ReadinessWebhook,
  type ReadinessWebhookOptions,
  startReadinessWebhook,
  WEBHOOK_RBAC_FILE,
} from './webhook.js';

export interface TestClusterOptions {
  /** Serve HTTPS with the emulator's own CA (default false). */
  tls?: boolean;
  /** Emulated node names (default ['node-a']). */
  nodes?: string[];
  /** VM simulator mode (default 'loopback'; 'netns' needs root). */
  vmsimMode?: 'loopback' | 'netns';
  /**
   * Launcher pods of VMIs with a readiness probe (spec or annotation) also list
   * vmprobe.io/ReadinessProbe in spec.readinessGates (default false): the real `vmprobe webhook`
   * runs in-process behind the shipped MutatingWebhookConfiguration (test/src/webhook.ts) and the
   * emulator's admission chain adds the gate, exactly as on a cluster. `'emulated'`: the emulated
   * KubeVirt adds it itself (no webhook; for tests of the emulated KubeVirt alone).
   */
  vmprobeReadinessGate?: boolean | 'emulated';
  /** Options of the in-process webhook when vmprobeReadinessGate is true. */
  webhook?: ReadinessWebhookOptions;
  /**
   * RBAC files to enforce for every non-admin identity; KubeVirt's own (test/fixtures/rbac/kubevirt.yaml)
   * is added so the emulated controllers keep working. Default: RBAC not enforced.
   */
  rbacFiles?: string[];
  /** CRD files (default: the emulator's default — vmprobe's and KubeVirt's). */
  crdFiles?: string[];
  /** Namespaces created up front (default ['default']; kube-system and kubevirt always exist). */
  namespaces?: string[];
  /** The emulated KubeVirt's delays (see KubevirtOptions.timing). */
  timing?: { scheduleMs?: number; bootMs?: number; terminateMs?: number };
  /** Watch history of the emulator (see EmulatorOptions.historySize). */
  historySize?: number;
  /** Told about every error the emulated controllers retry (default: ignored). */
  onControllerError?: (component: string, key: string, err: unknown) => void;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  description?: string;
}

export interface TestCluster {
  readonly emu: Emulator;
  readonly vmsim: VmSimulator;
  readonly kubevirt: Kubevirt;
  /** The in-process `vmprobe webhook` (vmprobeReadinessGate: true), else undefined. */
  readonly webhook: ReadinessWebhook | undefined;
  /** Bearer-token kubeconfig for the unrestricted 'admin' identity. */
  readonly admin: KubeConfig;
  readonly nodes: ReadonlyArray<string>;
  /** Typed clients as 'admin'. */
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly discovery: DiscoveryV1Api;
  /** Creates a VMI (apiVersion taken from the object, e.g. the seed's kubevirt.io/v1alpha3). */
  createVmi(obj: Vmi, opts?: { namespace?: string; name?: string }): Promise<Vmi>;
  /** Reads a VMI manifest file verbatim and creates it, optionally under another name/namespace. */
  loadVmi(file: string, opts?: { namespace?: string; name?: string }): Promise<Vmi>;
  getVmi(namespace: string, name: string): Promise<Vmi | undefined>;
  deleteVmi(namespace: string, name: string): Promise<void>;
  /** The launcher pods of the VMI's current incarnation (label kubevirt.io/created-by=<uid>). */
  launcherPods(namespace: string, vmiName: string): Promise<V1Pod[]>;
  /** Polls `probe` until it returns a value other than undefined/null/false; rejects at the deadline. */
  waitFor<T>(probe: () => Promise<T | undefined | null | false>, opts?: WaitOptions): Promise<T>;
  /** Waits until `pred` holds for the VMI (read through the API). */
  waitForVmi(namespace: string, name: string, pred: (vmi: Vmi) => boolean, opts?: WaitOptions): Promise<Vmi>;
  /** Waits for phase Running with a running launcher pod that has an IP. */
  waitForRunning(namespace: string, name: string, opts?: WaitOptions): Promise<{ vmi: Vmi; pod: V1Pod }>;
  stop(): Promise<void>;
}

/** The seed document's three VMI manifests (all named vmi-fedora). */
export const SEED_VMI_FILES = {
  httpLiveness: join(REPO_ROOT, 'test/fixtures/seed/vmi-http-liveness.yaml'),
  tcpLiveness: join(REPO_ROOT, 'test/fixtures/seed/vmi-tcp-liveness.yaml'),
  readiness: join(REPO_ROOT, 'test/fixtures/seed/vmi-readiness.yaml'),
} as const;

/** RBAC for the emulated KubeVirt's identities, always loaded with any rbacFiles. */
export const KUBEVIRT_RBAC_FILE = join(REPO_ROOT, 'test/fixtures/rbac/kubevirt.yaml');

/** Parses a single-document YAML manifest. */
export async function readManifest<T = Record<string, unknown>>(file: string): Promise<T> {
  return parse(await readFile(file, 'utf8')) as T;
}

function groupVersion(apiVersion: string | undefined): { group: string; version: string } {
  const [group, version] = (apiVersion ?? 'kubevirt.io/v1').split('/');
  return { group: group ?? 'kubevirt.io', version: version ?? 'v1' };
}

export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const namespaces = opts.namespaces ?? ['default'];
  const emu = await startEmulator({
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    ...(opts.crdFiles ? { crdFiles: opts.crdFiles } : {}),
    ...(opts.rbacFiles
      ? {
          rbacFiles: [
            KUBEVIRT_RBAC_FILE,
            ...(opts.vmprobeReadinessGate === true ? [WEBHOOK_RBAC_FILE] : []),
            ...opts.rbacFiles,
          ],
        }
      : {}),
    ...(opts.historySize !== undefined ? { historySize: opts.historySize } : {}),
    namespaces: [
      ...new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease', 'kubevirt', ...namespaces]),
    ],
  });
  let vmsim: VmSimulator | undefined;
  let kubevirt: Kubevirt | undefined;
  let webhook: ReadinessWebhook | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    for (const part of [kubevirt, webhook, vmsim, emu]) {
      try {
        await part?.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'test cluster did not stop cleanly');
  };
  try {
    vmsim = await startVmSimulator({ mode: opts.vmsimMode ?? 'loopback' });
    if (opts.vmprobeReadinessGate === true) webhook = await startReadinessWebhook(emu, opts.webhook);
    kubevirt = await startKubevirt(emu, {
      vmsim,
      ...(opts.nodes ? { nodes: opts.nodes } : {}),
      vmprobeReadinessGate: opts.vmprobeReadinessGate === 'emulated',
      ...(opts.timing ? { timing: opts.timing } : {}),
      ...(opts.onControllerError ? { onError: opts.onControllerError } : {}),
    });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const kv = kubevirt;
  const sim = vmsim;
  const admin = emu.kubeConfig(ADMIN_USER);
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const discovery = admin.makeApiClient(DiscoveryV1Api);

  const getVmi = async (namespace: string, name: string): Promise<Vmi | undefined> =>
    (await ignoreNotFound(
      custom.getNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: VMI_PLURAL,
        namespace,
        name,
      }),
    )) as Vmi | undefined;

  const waitFor = async <T>(
    probe: () => Promise<T | undefined | null | false>,
    w: WaitOptions = {},
  ): Promise<T> => {
    const deadline = Date.now() + (w.timeoutMs ?? 10_000);
    const interval = w.intervalMs ?? 20;
    let lastError: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined && v !== null && v !== false) return v;
        lastError = undefined;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() >= deadline) {
        const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
        throw new Error(
          `timed out after ${w.timeoutMs ?? 10_000} ms waiting for ${w.description ?? 'condition'}${why}`,
        );
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  };

  const launcherPods = async (namespace: string, vmiName: string): Promise<V1Pod[]> => {
    const vmi = await getVmi(namespace, vmiName);
    if (!vmi?.metadata?.uid) return [];
    return (
      await core.listNamespacedPod({ namespace, labelSelector: `${LABEL_CREATED_BY}=${vmi.metadata.uid}` })
    ).items;
  };

  const createVmi = async (obj: Vmi, o: { namespace?: string; name?: string } = {}): Promise<Vmi> => {
    const body = structuredClone(obj);
    body.metadata = body.metadata ?? {};
    if (o.name) body.metadata.name = o.name;
    const namespace = o.namespace ?? body.metadata.namespace ?? 'default';
    body.metadata.namespace = namespace;
    const { group, version } = groupVersion(body.apiVersion);
    return (await custom.createNamespacedCustomObject({
      group,
      version,
      plural: VMI_PLURAL,
      namespace,
      body,
    })) as Vmi;
  };

  return {
    emu,
    vmsim: sim,
    kubevirt: kv,
    webhook,
    admin,
    nodes: kv.nodes,
    core,
    custom,
    discovery,
    createVmi,
    loadVmi: async (file, o) => createVmi(await readManifest<Vmi>(file), o),
    getVmi,
    deleteVmi: async (namespace, name) => {
      await ignoreNotFound(
        custom.deleteNamespacedCustomObject({
          group: 'kubevirt.io',
          version: 'v1',
          plural: VMI_PLURAL,
          namespace,
          name,
        }),
      );
    },
    launcherPods,
    waitFor,
    waitForVmi: (namespace, name, pred, w) =>
      waitFor(
        async () => {
          const vmi = await getVmi(namespace, name);
          return vmi && pred(vmi) ? vmi : undefined;
        },
        { description: `VMI ${namespace}/${name}`, ...w },
      ),
    waitForRunning: (namespace, name, w) =>
      waitFor(
        async () => {
          const vmi = await getVmi(namespace, name);
          if (vmi?.status?.phase !== 'Running') return undefined;
          const pod = (await launcherPods(namespace, name)).find(
            (p) =>
              !p.metadata?.deletionTimestamp &&
              p.status?.phase === 'Running' &&
              p.status.podIP &&
              p.spec?.nodeName === vmi.status?.nodeName,
          );
          return pod ? { vmi, pod } : undefined;
        },
        { description: `VMI ${namespace}/${name} Running with a launcher pod`, ...w },
      ),
    stop,
  };
}
