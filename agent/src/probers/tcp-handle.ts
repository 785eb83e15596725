// A bare libuv TCP handle for connect-only probes: Node's own `tcp_wrap` binding (the handle every
// net.Socket wraps), reached through process.binding's allow-list. A tcpSocket probe never reads or
// writes, yet a net.Socket per attempt builds a Duplex stream, two stream states and an emitter
// and runs a dozen JS frames to connect: bench:probes measured ~60 µs of CPU per probe that way
// against ~31 µs with the bare handle, the native floor (a C loop) being ~25 µs.
// The binding is internal, so it is feature-detected once: `tcpHandles` is undefined where it is
// missing or does not have the shape used here, and tcp.ts then falls back to net.connect.
// Contract of one handle: `connect` (or `connect6`) once; the request's `oncomplete(status)` is
// called once (status 0 or a negative errno, UV_ECANCELED after a close); then exactly one of
// `reset(cb)` (RST close, SO_LINGER 0) or `close()` (orderly FIN close).

export interface TcpHandle {
  connect(req: TcpConnectRequest, address: string, port: number): number;
  connect6(req: TcpConnectRequest, address: string, port: number): number;
  reset(onClose: () => void): number;
  close(): void;
}

export interface TcpConnectRequest {
  oncomplete: ((status: number) => void) | undefined;
  address: string;
  port: number;
}

export interface TcpHandles {
  open(): TcpHandle;
  request(): TcpConnectRequest;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => TcpConnectRequest;
  constants: { SOCKET: number };
}

function load(): TcpHandles | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding(
      'tcp_wrap',
    ) as Partial<TcpWrapBinding>;
    const { TCP, TCPConnectWrap, constants } = binding;
    if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function') return undefined;
    if (typeof constants?.SOCKET !== 'number') return undefined;
    const proto = TCP.prototype as Partial<TcpHandle>;
    if (![proto.connect, proto.connect6, proto.reset, proto.close].every((f) => typeof f === 'function'))
      return undefined;
    const socketType = constants.SOCKET;
    return { open: () => new TCP(socketType), request: () => new TCPConnectWrap() };
  } catch {
    return undefined;
  }
}

/** The bare handles, or undefined where this Node has no usable tcp_wrap binding. */
export const tcpHandles: TcpHandles | undefined = load();
