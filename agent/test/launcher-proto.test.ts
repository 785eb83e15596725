// Golden bytes of the launcher command protocol: every expectation below was computed by hand from
// KubeVirt's cmd.proto / info.proto field numbers and the protobuf wire format (tag = field << 3 |
// wire type; 0 varint, 2 length-delimited), not by running an encoder.
import { describe, expect, it } from 'vitest';
import { codecs, METHOD } from '../src/probers/launcher-proto.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('launcher protocol encoding (golden bytes)', () => {
  it('ExecRequest: domainName=1, Command=2, repeated Args=3, timeoutSeconds=4', () => {
    const bytes = codecs.ExecRequest.encode({
      domainName: 'ns_vm',
      Command: 'cat',
      Args: ['/tmp/ready', '-n'],
      timeoutSeconds: 2,
    });
    expect(bytes.toString('hex')).toBe(
      hex(
        '0a05 6e735f766d' + // 1: "ns_vm"
          '1203 636174' + // 2: "cat"
          '1a0a 2f746d702f7265616479' + // 3: "/tmp/ready"
          '1a02 2d6e' + // 3: "-n"
          '2002', // 4: 2
      ).toString('hex'),
    );
  });

  it('ExecResponse: response=1 (Response{success=1,message=2}), exitCode=2, stdOut=3', () => {
    expect(codecs.ExecResponse.decode(hex('0a02 0801 1003 1a02 6e6f'))).toEqual({
      response: { success: true, message: '' },
      exitCode: 3,
      stdOut: 'no',
    });
  });

  it('ExecResponse: a negative int32 exit code is a 10-byte varint; absent fields are zero values', () => {
    expect(codecs.ExecResponse.decode(hex('10 ffffffffffffffffff01')).exitCode).toBe(-1);
    expect(codecs.ExecResponse.decode(Buffer.alloc(0))).toEqual({ response: null, exitCode: 0, stdOut: '' });
  });

  it('GuestPingRequest: domainName=1, timeoutSeconds=2', () => {
    expect(codecs.GuestPingRequest.encode({ domainName: 'a_b', timeoutSeconds: 1 }).toString('hex')).toBe(
      '0a03615f621001',
    );
  });

  it('GuestPingResponse: response=1 with success=false and message=2', () => {
    expect(codecs.GuestPingResponse.decode(hex('0a03 1201 78'))).toEqual({
      response: { success: false, message: 'x' },
    });
  });

  it('CmdInfo: an empty request; supportedCmdVersions=1 packed (grpc-go) or unpacked', () => {
    expect(codecs.CmdInfoRequest.encode({}).length).toBe(0);
    expect(codecs.CmdInfoResponse.decode(hex('0a02 0102')).supportedCmdVersions).toEqual([1, 2]);
    expect(codecs.CmdInfoResponse.decode(hex('0801')).supportedCmdVersions).toEqual([1]);
  });

  it('method paths are package.Service/Method as grpc-go serves them', () => {
    expect(METHOD).toEqual({
      Info: '/kubevirt.cmd.info.CmdInfo/Info',
      Exec: '/kubevirt.cmd.v1.Cmd/Exec',
      GuestPing: '/kubevirt.cmd.v1.Cmd/GuestPing',
    });
  });
});
