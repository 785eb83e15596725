// A bare libuv TCP handle for connect-only probes: Node's own `tcp_wrap` binding (the handle every
// net.Socket wraps), reached through process.binding's allow-list. A tcpSocket probe never reads or
// writes, yet a net.Socket per attempt builds a Duplex stream, two stream states and an emitter
// and runs a dozen JS frames to connect: bench:probes measured ~60 µs of CPU per probe that way
// against ~31 µs with the bare handle, the native floor (a C loop) being ~25 µs.
// The binding is internal, so it is feature-detected once: `tcpHandles` is undefined where it is
// missing or does not have the shape used here, and tcp.ts then falls back to net.connect.
// The same for http (not https): a GET is one write and a few reads, which `TcpStreams` does
// straight on the handle (~127 -> ~78 µs of CPU per probe; floor ~42 µs).
// Contract of one handle: `connect` (or `connect6`) once; the request's `oncomplete(status)` is
// called once (status 0 or a negative errno, UV_ECANCELED after a close); then optionally writes
// and reads (TcpStreams); then exactly one of `reset()` (RST close, SO_LINGER 0) or `close()`
// (orderly close). After `close()` no callback of the handle runs again except a pending request's
// completion with UV_ECANCELED.
import { getSystemErrorName } from 'node:util';

export interface TcpHandle {
  connect(req: TcpConnectRequest, address: string, port: number): number;
  connect6(req: TcpConnectRequest, address: string, port: number): number;
  /**
   * RST close. Without `onClose` nothing of this handle runs in JS again: passing a callback costs
   * a property set on the handle and a MakeCallback from the loop's close phase per probe.
   */
  reset(onClose?: () => void): number;
  close(): void;
  readStart(): number;
  writeBuffer(req: WriteRequest, data: Buffer): number;
  /** Called with `this` the handle; nread and the offset are in the stream state (TcpStreams). */
  onread: ((arrayBuffer: ArrayBuffer | undefined) => void) | undefined;
}

interface WriteRequest {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
  async: boolean;
}

/** Reading and writing a connected handle. */
export interface TcpStreams {
  /** Writes `data` (a request head: small, written at once or queued by libuv); 0 or a negative errno. */
  write(handle: TcpHandle, data: Buffer): number;
  /**
   * Starts reading: `onData(chunk)` per read (the chunk is the reader's to keep), then `onEnd(0)`
   * at EOF or `onEnd(errno)` on an error, once. 0 or a negative errno.
   */
  readStart(handle: TcpHandle, onData: (chunk: Buffer) => void, onEnd: (status: number) => void): number;
}

export interface TcpConnectRequest {
  oncomplete: ((status: number) => void) | undefined;
  address: string;
  port: number;
}

export interface TcpHandles {
  open(): TcpHandle;
  request(): TcpConnectRequest;
  /** Undefined where this Node's stream_wrap binding does not have the shape used here. */
  streams: TcpStreams | undefined;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => TcpConnectRequest;
  constants: { SOCKET: number };
}

const binding = (name: string): unknown =>
  (process as unknown as { binding(name: string): unknown }).binding(name);

const writeDone = (): void => {};

function loadStreams(): TcpStreams | undefined {
  try {
    const b = binding('stream_wrap') as Partial<StreamWrapBinding>;
    const uvEof = (binding('uv') as { UV_EOF?: unknown }).UV_EOF;
    const { WriteWrap, streamBaseState: state, kReadBytesOrError: kNread, kArrayBufferOffset: kOffset } = b;
    if (typeof WriteWrap !== 'function' || !(state instanceof Int32Array)) return undefined;
    if (typeof kNread !== 'number' || typeof kOffset !== 'number' || typeof uvEof !== 'number')
      return undefined;
    return {
      write(handle, data) {
        const req = new WriteWrap();
        req.handle = handle;
        req.oncomplete = writeDone; // a failed write shows up as a read error or EOF
        req.async = false;
        return handle.writeBuffer(req, data);
      },
      readStart(handle, onData, onEnd) {
        handle.onread = (arrayBuffer) => {
          const nread = state[kNread] ?? 0;
          if (nread > 0 && arrayBuffer) onData(Buffer.from(arrayBuffer, state[kOffset] ?? 0, nread));
          else if (nread < 0) onEnd(nread === uvEof ? 0 : nread);
        };
        return handle.readStart();
      },
    };
  } catch {
    return undefined;
  }
}

function load(): TcpHandles | undefined {
  try {
    const tcpWrap = binding('tcp_wrap') as Partial<TcpWrapBinding>;
    const { TCP, TCPConnectWrap, constants } = tcpWrap;
    if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function') return undefined;
    if (typeof constants?.SOCKET !== 'number') return undefined;
    const proto = TCP.prototype as Partial<TcpHandle>;
    if (![proto.connect, proto.connect6, proto.reset, proto.close].every((f) => typeof f === 'function'))
      return undefined;
    const socketType = constants.SOCKET;
    const streams = [proto.readStart, proto.writeBuffer].every((f) => typeof f === 'function')
      ? loadStreams()
      : undefined;
    return { open: () => new TCP(socketType), request: () => new TCPConnectWrap(), streams };
  } catch {
    return undefined;
  }
}

/** The bare handles, or undefined where this Node has no usable tcp_wrap binding. */
export const tcpHandles: TcpHandles | undefined = load();

/** A negative libuv status as the error net.Socket raises: code, errno, syscall, `${syscall} ${code}[ ${where}]`. */
export function uvError(status: number, syscall: string, where?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = `E${-status}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${where ? ` ${where}` : ''}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  return err;
}
