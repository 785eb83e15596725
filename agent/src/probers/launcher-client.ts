// gRPC clients of virt-launcher command sockets, one per socket path, reused across attempts (a
// fresh HTTP/2 connection per probe would cost more than the probe). The pool owns its clients:
// an entry idle for longer than `idleMs` is closed by a later acquire (looked for at most every
// idleMs / 10; no timer of its own), and
// close() closes all (the agent's stop, the CLI's exit). The cmd protocol version is negotiated
// once per client through kubevirt.cmd.info.CmdInfo/Info, as KubeVirt's own client does, and
// again after a failed negotiation.
//
// Every call resolves with a CallResult — a gRPC status is a value here, never a thrown error.
import * as grpc from '@grpc/grpc-js';
import { CMD_VERSION, type Codec, codecs, METHOD } from './launcher-proto.js';

/** Largest response accepted from a launcher: an exec's stdOut has no cap on the server side. */
export const MAX_LAUNCHER_RESPONSE_BYTES = 64 * 1024;

export type CallResult<T> = { ok: true; value: T } | { ok: false; code: grpc.status; details: string };

export interface LauncherClientPoolOptions {
  /** Close a client unused for this long (default 5 min). */
  idleMs?: number;
  maxReceiveBytes?: number;
  now?: () => number;
}

interface Entry {
  client: grpc.Client;
  lastUsed: number;
  /** Calls in flight: an entry with any is never closed as idle. */
  inflight: number;
  /** Negotiated version (resolves ok) or the failed attempt's result; dropped after a failure. */
  version?: Promise<CallResult<number>>;
}

export class LauncherClientPool {
  private readonly entries = new Map<string, Entry>();
  private readonly idleMs: number;
  private readonly maxReceiveBytes: number;
  private readonly now: () => number;
  /** When idle clients were last looked for: at most every idleMs / 10, not on every call. */
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(opts: LauncherClientPoolOptions = {}) {
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.maxReceiveBytes = opts.maxReceiveBytes ?? MAX_LAUNCHER_RESPONSE_BYTES;
    this.now = opts.now ?? Date.now;
  }

  /** Open clients (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** One unary call on `socketPath` after version negotiation. `deadline` is epoch ms. */
  async call<Req, Res>(
    socketPath: string,
    method: string,
    reqCodec: Codec<Req>,
    resCodec: Codec<Res>,
    request: Req,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<CallResult<Res>> {
    const entry = this.acquire(socketPath);
    entry.inflight++;
    try {
      if (!entry.version) {
        // Shared by concurrent callers of this socket, so it does not take any one caller's signal.
        const negotiation = this.negotiate(entry, deadline);
        entry.version = negotiation;
        void negotiation.then((r) => {
          if (!r.ok && entry.version === negotiation) entry.version = undefined;
        });
      }
      const version = await entry.version;
      if (signal?.aborted) return { ok: false, code: grpc.status.CANCELLED, details: 'aborted' };
      if (!version.ok) return version;
      return await unary(entry.client, method, reqCodec, resCodec, request, deadline, signal);
    } finally {
      entry.inflight--;
    }
  }

  /** Closes every client; the pool stays usable (a later call opens a fresh client). Idempotent. */
  close(): void {
    for (const e of this.entries.values()) e.client.close();
    this.entries.clear();
  }

  private acquire(socketPath: string): Entry {
    const now = this.now();
    if (now - this.lastSweep >= this.idleMs / 10) {
      this.lastSweep = now;
      for (const [path, e] of this.entries) {
        if (path !== socketPath && e.inflight === 0 && now - e.lastUsed > this.idleMs) {
          e.client.close();
          this.entries.delete(path);
        }
      }
    }
    let entry = this.entries.get(socketPath);
    if (!entry) {
      entry = {
        client: new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
          'grpc.max_receive_message_length': this.maxReceiveBytes,
          'grpc.max_send_message_length': 64 * 1024,
          // A launcher socket appears a few seconds after the pod starts: retry the connection
          // soon, not after grpc's default backoff that grows to 2 minutes.
          'grpc.initial_reconnect_backoff_ms': 500,
          'grpc.max_reconnect_backoff_ms': 5_000,
          'grpc.enable_retries': 0,
          'grpc.enable_channelz': 0,
        }),
        lastUsed: now,
        inflight: 0,
      };
      this.entries.set(socketPath, entry);
    }
    entry.lastUsed = now;
    return entry;
  }

  private async negotiate(entry: Entry, deadline: number): Promise<CallResult<number>> {
    const r = await unary(
      entry.client,
      METHOD.Info,
      codecs.CmdInfoRequest,
      codecs.CmdInfoResponse,
      {},
      deadline,
    );
    if (!r.ok) return r;
    const versions = r.value.supportedCmdVersions;
    if (!versions.includes(CMD_VERSION)) {
      return {
        ok: false,
        code: grpc.status.UNIMPLEMENTED,
        details: `launcher supports cmd versions [${versions.join(', ')}], vmprobe speaks ${CMD_VERSION}`,
      };
    }
    return { ok: true, value: CMD_VERSION };
  }
}

function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  reqCodec: Codec<Req>,
  resCodec: Codec<Res>,
  request: Req,
  deadline: number,
  signal?: AbortSignal,
): Promise<CallResult<Res>> {
  if (signal?.aborted) return Promise.resolve({ ok: false, code: grpc.status.CANCELLED, details: 'aborted' });
  return new Promise((resolve) => {
    const onAbort = (): void => call.cancel();
    const call = client.makeUnaryRequest(
      method,
      reqCodec.encode,
      resCodec.decode,
      request,
      new grpc.Metadata(),
      { deadline },
      (err, value) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) resolve({ ok: false, code: err.code, details: err.details || err.message });
        else if (value === undefined)
          resolve({ ok: false, code: grpc.status.INTERNAL, details: 'empty response' });
        else resolve({ ok: true, value });
      },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The agent's pool (one per process): probers use it unless given another. */
export const launcherClients = new LauncherClientPool();

/** Closes the agent's launcher clients (agent stop, CLI exit). */
export function closeLauncherClients(): void {
  launcherClients.close();
}
