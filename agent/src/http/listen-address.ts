// `--listen ADDR:PORT` parsing: `0.0.0.0:9470`, `127.0.0.1:0` (any free port), `[::1]:9470`,
// `:9470` (every interface).
import { isIP, type Server } from 'node:net';

export interface ListenAddress {
  /** IP literal to bind, or undefined for every interface. */
  host: string | undefined;
  port: number;
}

export class ListenAddressError extends Error {
  readonly code = 'INVALID_LISTEN_ADDRESS';
  constructor(input: string, why: string) {
    super(
      `invalid listen address ${JSON.stringify(input)}: ${why} (want ADDR:PORT, e.g. 0.0.0.0:9470 or [::1]:9470)`,
    );
    this.name = 'ListenAddressError';
  }
}

export function parseListenAddress(input: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(input.trim());
  if (!m) throw new ListenAddressError(input, 'not of the form ADDR:PORT');
  const port = Number(m[3]);
  if (port > 65535) throw new ListenAddressError(input, 'port must be between 0 and 65535');
  const host = m[1] ?? m[2] ?? '';
  if (host === '') return { host: undefined, port };
  if (m[1] !== undefined && isIP(host) !== 6)
    throw new ListenAddressError(input, `${host} is not an IPv6 address`);
  if (m[2] !== undefined && isIP(host) !== 4)
    throw new ListenAddressError(input, `${host} is not an IPv4 address`);
  return { host, port };
}

/** host:port for URLs and logs (brackets around IPv6). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Listens on `addr` and resolves once bound; rejects with the bind error (EADDRINUSE…) and leaves no
 * listener of its own behind either way (the caller adds its long-lived 'error' handler after).
 */
export function listenOn(server: Server, addr: ListenAddress): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
