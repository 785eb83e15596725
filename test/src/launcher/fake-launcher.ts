/**
 * A fake virt-launcher command server: KubeVirt's gRPC package, services, methods and field
 * numbers (kubevirt.cmd.info.CmdInfo/Info, kubevirt.cmd.v1.Cmd/Exec and /GuestPing) on a unix
 * socket laid out as on a node: <podsRoot>/<podUID>/volumes/kubernetes.io~empty-dir/sockets/launcher-sock.
 * Its guest answers, fails, hangs or is absent — switchable at run time — and it records every
 * request so tests can check what the agent sent (clamped timeouts, domain names, args).
 *
 * Launcher faults it reproduces on purpose: a request with timeoutSeconds ≤ 0 "panics" it (the
 * server stops, as the real launcher dies building a ticker from it); an absent guest agent
 * answers with libvirt's error text as a gRPC UNKNOWN status, as grpc-go turns a returned error.
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  type CmdInfoRequest,
  type CmdInfoResponse,
  type Codec,
  codecs,
  type ExecRequest,
  type ExecResponse,
  type GuestPingRequest,
  type GuestPingResponse,
  METHOD,
} from '@vmprobe/agent/probers/launcher-proto';

/** What the guest does. answers: exec exits `exitCode` (default 0) with `stdOut`, ping succeeds.
 *  fails: exec exits `exitCode` (default 1), ping answers the agent's error. hangs: no answer until
 *  the caller gives up. absent: no guest agent — every call fails like libvirt's "not connected". */
export type FakeGuest =
  | { guest: 'answers'; exitCode?: number; stdOut?: string }
  | { guest: 'fails'; exitCode?: number; stdOut?: string }
  | { guest: 'hangs' }
  | { guest: 'absent' };

export const SOCKET_SUFFIX = 'volumes/kubernetes.io~empty-dir/sockets/launcher-sock';

export const GUEST_AGENT_NOT_CONNECTED =
  "virError(Code=86, Domain=10, Message='Guest agent is not responding: QEMU guest agent is not connected')";

export type RecordedCall =
  | { method: 'Info' }
  | { method: 'Exec'; request: ExecRequest }
  | { method: 'GuestPing'; request: GuestPingRequest };

export interface FakeLauncherOptions {
  podsRoot: string;
  podUid: string;
  /** libvirt domain this launcher runs (`<namespace>_<name>`); other names get NOT_FOUND-like errors. */
  domainName: string;
  guest?: FakeGuest;
  /** What Info reports (default [1]). */
  supportedCmdVersions?: number[];
  /** Keep the last N calls (default 100). */
  recordLimit?: number;
}

function handler<Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>): grpc.MethodDefinition<Req, Res> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
  };
}

const INFO_SERVICE = {
  Info: handler<CmdInfoRequest, CmdInfoResponse>(METHOD.Info, codecs.CmdInfoRequest, codecs.CmdInfoResponse),
};
const CMD_SERVICE = {
  Exec: handler<ExecRequest, ExecResponse>(METHOD.Exec, codecs.ExecRequest, codecs.ExecResponse),
  GuestPing: handler<GuestPingRequest, GuestPingResponse>(
    METHOD.GuestPing,
    codecs.GuestPingRequest,
    codecs.GuestPingResponse,
  ),
};

export class FakeLauncher {
  readonly socketPath: string;
  guest: FakeGuest;
  /** Set when a request with timeoutSeconds ≤ 0 arrived (the real launcher would have died). */
  panicked = false;
  readonly calls: RecordedCall[] = [];
  private readonly server = new grpc.Server();
  private readonly hanging = new Set<() => void>();
  private started = false;

  constructor(private readonly opts: FakeLauncherOptions) {
    this.socketPath = join(opts.podsRoot, opts.podUid, SOCKET_SUFFIX);
    this.guest = opts.guest ?? { guest: 'answers' };
    this.server.addService(INFO_SERVICE, {
      Info: (_call: unknown, cb: grpc.sendUnaryData<CmdInfoResponse>) => {
        this.record({ method: 'Info' });
        cb(null, { supportedCmdVersions: this.opts.supportedCmdVersions ?? [1] });
      },
    });
    this.server.addService(CMD_SERVICE, {
      Exec: (call: grpc.ServerUnaryCall<ExecRequest, ExecResponse>, cb: grpc.sendUnaryData<ExecResponse>) =>
        this.exec(call, cb),
      GuestPing: (
        call: grpc.ServerUnaryCall<GuestPingRequest, GuestPingResponse>,
        cb: grpc.sendUnaryData<GuestPingResponse>,
      ) => this.ping(call, cb),
    });
  }

  /** Creates the socket directory and listens. */
  async start(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true });
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) =>
      this.server.bindAsync(`unix://${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    this.started = true;
  }

  /** Stops at once: open calls are cancelled, hanging guests released, the socket file removed. */
  async stop(): Promise<void> {
    for (const release of this.hanging) release();
    this.hanging.clear();
    if (this.started) this.server.forceShutdown();
    this.started = false;
    await rm(this.socketPath, { force: true });
  }

  private record(c: RecordedCall): void {
    this.calls.push(c);
    if (this.calls.length > (this.opts.recordLimit ?? 100)) this.calls.shift();
  }

  private crashIfBadTimeout(timeoutSeconds: number): boolean {
    if (timeoutSeconds > 0) return false;
    this.panicked = true;
    void this.stop();
    return true;
  }

  private hang(call: grpc.ServerUnaryCall<unknown, unknown>): void {
    const release = (): void => {
      this.hanging.delete(release);
    };
    this.hanging.add(release);
    call.once('cancelled', release);
  }

  private exec(
    call: grpc.ServerUnaryCall<ExecRequest, ExecResponse>,
    cb: grpc.sendUnaryData<ExecResponse>,
  ): void {
    const request = call.request;
    this.record({ method: 'Exec', request });
    if (this.crashIfBadTimeout(request.timeoutSeconds)) return;
    const g = this.guest;
    if (request.domainName !== this.opts.domainName) {
      cb({
        code: grpc.status.UNKNOWN,
        details: `virError(Code=42, Domain=10, Message='Domain not found: no domain with matching name '${request.domainName}'')`,
      });
      return;
    }
    if (g.guest === 'hangs') {
      this.hang(call);
      return;
    }
    if (g.guest === 'absent') {
      cb({ code: grpc.status.UNKNOWN, details: GUEST_AGENT_NOT_CONNECTED });
      return;
    }
    const exitCode = g.exitCode ?? (g.guest === 'answers' ? 0 : 1);
    cb(null, { response: { success: true, message: '' }, exitCode, stdOut: g.stdOut ?? '' });
  }

  private ping(
    call: grpc.ServerUnaryCall<GuestPingRequest, GuestPingResponse>,
    cb: grpc.sendUnaryData<GuestPingResponse>,
  ): void {
    const request = call.request;
    this.record({ method: 'GuestPing', request });
    const g = this.guest;
    if (request.domainName !== this.opts.domainName) {
      cb({ code: grpc.status.UNKNOWN, details: `virError(Code=42, Domain=10, Message='Domain not found')` });
      return;
    }
    // GuestPing ignores timeoutSeconds, as the real launcher does (libvirt's own agent timeout).
    if (g.guest === 'hangs') {
      this.hang(call);
      return;
    }
    if (g.guest === 'answers') {
      cb(null, { response: { success: true, message: '' } });
      return;
    }
    cb({
      code: grpc.status.UNKNOWN,
      details:
        g.guest === 'absent'
          ? GUEST_AGENT_NOT_CONNECTED
          : "virError(Code=1, Domain=10, Message='internal error: guest-ping failed')",
    });
  }
}

/** Starts one fake launcher. */
export async function startFakeLauncher(opts: FakeLauncherOptions): Promise<FakeLauncher> {
  const l = new FakeLauncher(opts);
  await l.start();
  return l;
}
