// Where the agent's KubeConfig comes from: a kubeconfig file (--kubeconfig or KUBECONFIG, resolved
// by the CLI) or, without one, the in-cluster service account. Loading never touches the network.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export type { KubeConfig } from '@kubernetes/client-node';

/** Thrown when no usable configuration can be loaded; `code` is stable. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  readonly code = 'ERR_KUBECONFIG';
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface LoadKubeConfigOptions {
  /** A kubeconfig file; when absent, the in-cluster service account is used. */
  kubeconfigPath?: string;
  /** In-cluster environment (KUBERNETES_SERVICE_HOST/PORT), passed in by the CLI. */
  inClusterEnv?: { host?: string; port?: string };
}

/** A KubeConfig with a current cluster, or KubeConfigError saying why not. */
export function loadKubeConfig(opts: LoadKubeConfigOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfigPath !== undefined && opts.kubeconfigPath !== '') {
    if (!existsSync(opts.kubeconfigPath)) {
      throw new KubeConfigError(`kubeconfig ${opts.kubeconfigPath}: no such file`);
    }
    try {
      kc.loadFromFile(opts.kubeconfigPath);
    } catch (err) {
      throw new KubeConfigError(
        `kubeconfig ${opts.kubeconfigPath}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  } else {
    const env = opts.inClusterEnv ?? {};
    if (!env.host || !existsSync(SERVICE_ACCOUNT_TOKEN)) {
      throw new KubeConfigError(
        'no kubeconfig given (--kubeconfig or KUBECONFIG) and not running in a cluster ' +
          `(KUBERNETES_SERVICE_HOST unset or ${SERVICE_ACCOUNT_TOKEN} missing)`,
      );
    }
    kc.loadFromCluster();
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeConfigError('the kubeconfig has no current cluster (check current-context)');
  }
  return kc;
}
