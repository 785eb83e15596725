// The kubeconfig of a long-running command (agent, webhook): `--kubeconfig F` (or KUBECONFIG, which
// commander already folded into the flag), else the in-cluster service account with the
// KUBERNETES_SERVICE_HOST/PORT the kubelet sets. Only the CLI reads process.env.
import { KubeConfigError, loadKubeConfig } from '../kube/config.js';

export type CliKubeConfig = ReturnType<typeof loadKubeConfig>;

/** Loads it, or calls `usage` (which exits 2) with the reason when it cannot be loaded. */
export function loadCliKubeConfig(
  kubeconfigPath: string | undefined,
  usage: (message: string) => never,
): CliKubeConfig {
  try {
    return loadKubeConfig({
      ...(kubeconfigPath ? { kubeconfigPath } : {}),
      inClusterEnv: {
        ...(process.env.KUBERNETES_SERVICE_HOST ? { host: process.env.KUBERNETES_SERVICE_HOST } : {}),
        ...(process.env.KUBERNETES_SERVICE_PORT ? { port: process.env.KUBERNETES_SERVICE_PORT } : {}),
      },
    });
  } catch (err) {
    if (err instanceof KubeConfigError) usage(err.message);
    throw err;
  }
}
