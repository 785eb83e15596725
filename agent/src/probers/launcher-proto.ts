// The subset of virt-launcher's command-server protocol that guest probes use, as protobuf
// definitions with KubeVirt's exact package, service, message and field names and numbers
// (kubevirt pkg/handler-launcher-com/cmd/v1/cmd.proto and cmd/info/info.proto). Encoding is
// protobufjs's; this module only defines the types and the encode/decode pairs gRPC needs.
// Field names keep KubeVirt's spelling (`Command`, `Args`): the wire only carries numbers, but the
// names make the definitions checkable against the upstream file by eye.
import protobuf from 'protobufjs';

export const CMD_PROTO = `
syntax = "proto3";
package kubevirt.cmd.v1;
service Cmd {
  rpc Exec(ExecRequest) returns (ExecResponse) {}
  rpc GuestPing(GuestPingRequest) returns (GuestPingResponse) {}
}
message Response { bool success = 1; string message = 2; }
message ExecRequest { string domainName = 1; string Command = 2; repeated string Args = 3; int32 timeoutSeconds = 4; }
message ExecResponse { Response response = 1; int32 exitCode = 2; string stdOut = 3; }
message GuestPingRequest { string domainName = 1; int32 timeoutSeconds = 2; }
message GuestPingResponse { Response response = 1; }
`;

export const INFO_PROTO = `
syntax = "proto3";
package kubevirt.cmd.info;
service CmdInfo {
  rpc Info (CmdInfoRequest) returns (CmdInfoResponse) {}
}
message CmdInfoRequest {}
message CmdInfoResponse { repeated uint32 supportedCmdVersions = 1; }
`;

/** gRPC method paths, as grpc-go derives them from package + service + method. */
export const METHOD = {
  Info: '/kubevirt.cmd.info.CmdInfo/Info',
  Exec: '/kubevirt.cmd.v1.Cmd/Exec',
  GuestPing: '/kubevirt.cmd.v1.Cmd/GuestPing',
} as const;

/** The only cmd protocol version vmprobe speaks (KubeVirt's client supports exactly [1] too). */
export const CMD_VERSION = 1;

export interface LauncherResponse {
  success: boolean;
  message: string;
}
export interface ExecRequest {
  domainName: string;
  Command: string;
  Args: string[];
  timeoutSeconds: number;
}
export interface ExecResponse {
  response: LauncherResponse | null;
  exitCode: number;
  stdOut: string;
}
export interface GuestPingRequest {
  domainName: string;
  timeoutSeconds: number;
}
export interface GuestPingResponse {
  response: LauncherResponse | null;
}
export type CmdInfoRequest = Record<string, never>;
export interface CmdInfoResponse {
  supportedCmdVersions: number[];
}

const parseOptions = { keepCase: true };
const cmdRoot = protobuf.parse(CMD_PROTO, parseOptions).root;
const infoRoot = protobuf.parse(INFO_PROTO, parseOptions).root;

/** One message type's serialize/deserialize pair, in the shape @grpc/grpc-js takes. */
export interface Codec<T> {
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

function codec<T>(root: protobuf.Root, name: string): Codec<T> {
  const type = root.lookupType(name);
  return {
    encode: (value) => {
      const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    // defaults: proto3 zero values are present (exitCode 0 is not on the wire but means 0);
    // longs are plain numbers (every field here is 32-bit).
    decode: (bytes) => type.toObject(type.decode(bytes), { defaults: true, arrays: true }) as T,
  };
}

export const codecs = {
  CmdInfoRequest: codec<CmdInfoRequest>(infoRoot, 'kubevirt.cmd.info.CmdInfoRequest'),
  CmdInfoResponse: codec<CmdInfoResponse>(infoRoot, 'kubevirt.cmd.info.CmdInfoResponse'),
  ExecRequest: codec<ExecRequest>(cmdRoot, 'kubevirt.cmd.v1.ExecRequest'),
  ExecResponse: codec<ExecResponse>(cmdRoot, 'kubevirt.cmd.v1.ExecResponse'),
  GuestPingRequest: codec<GuestPingRequest>(cmdRoot, 'kubevirt.cmd.v1.GuestPingRequest'),
  GuestPingResponse: codec<GuestPingResponse>(cmdRoot, 'kubevirt.cmd.v1.GuestPingResponse'),
};
