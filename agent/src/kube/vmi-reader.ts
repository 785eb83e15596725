// The webhook's one read: GET a VirtualMachineInstance, abortable (the webhook's deadline aborts the
// request itself, so a slow API server leaves no request running after the webhook answered).
import {
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  Observable,
  type RequestContext,
} from '@kubernetes/client-node';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION, VMI_PLURAL } from '@vmprobe/shared';
import type { VmiLookup, VmiReader } from '../webhook/vmi-reader.js';

/** A failed read with the HTTP status (0 = network error or aborted); `code` is stable. */
export class VmiReadError extends Error {
  override readonly name = 'VmiReadError';
  readonly code = 'ERR_VMI_READ';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function createVmiReader(kc: KubeConfig): VmiReader {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    async get(namespace: string, name: string, signal: AbortSignal): Promise<VmiLookup> {
      const options = {
        middleware: [
          {
            pre: (ctx: RequestContext) => {
              ctx.setSignal(signal as Parameters<RequestContext['setSignal']>[0]);
              return new Observable(Promise.resolve(ctx));
            },
            post: <T>(res: T) => new Observable(Promise.resolve(res)),
          },
        ],
        middlewareMergeStrategy: 'append' as const,
      };
      try {
        const vmi: unknown = await api.getNamespacedCustomObject(
          { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace, plural: VMI_PLURAL, name },
          options,
        );
        return { found: true, vmi };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return { found: false };
        if (err instanceof ApiException)
          throw new VmiReadError(
            `GET VirtualMachineInstance ${namespace}/${name}: HTTP ${err.code}`,
            err.code,
          );
        if (signal.aborted)
          throw new VmiReadError(`GET VirtualMachineInstance ${namespace}/${name}: aborted`, 0);
        const msg = err instanceof Error ? err.message : String(err);
        throw new VmiReadError(`GET VirtualMachineInstance ${namespace}/${name}: ${msg}`, 0);
      }
    },
  };
}
