// Test-bed steps shared by the benchmarks that run the agent against startTestCluster.
import type { TestCluster } from '../../test/src/cluster.js';
import type { VmiSpec } from '../../test/src/kubevirt/types.js';

/**
 * Creates one VMI per name in `namespace` from `spec` (label app=<name>), 50 at a time, and waits
 * until all of them are Running and the emulated KubeVirt is idle (deadline 10 minutes).
 */
export async function createRunningVmis(
  cluster: TestCluster,
  namespace: string,
  names: string[],
  spec: VmiSpec,
): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map((name) =>
        cluster.createVmi(
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachineInstance',
            metadata: { name, labels: { app: name } },
            spec,
          },
          { namespace },
        ),
      ),
    );
  }
  await cluster.waitFor(
    async () => {
      const list = (await cluster.custom.listNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: 'virtualmachineinstances',
        namespace,
      })) as { items: { status?: { phase?: string } }[] };
      return (
        list.items.filter((v) => v.status?.phase === 'Running').length === names.length &&
        cluster.kubevirt.idle
      );
    },
    { timeoutMs: 600_000, intervalMs: 500, description: `${names.length} VMIs Running` },
  );
}
