// The serving certificate and key, re-read when their files change (cert-manager rewrites the
// Secret, the kubelet swaps the mounted files in place). Change detection: both files read every
// `pollMs` and compared with the pair in use (a few KiB; fs.watch misses the kubelet's symlink swap
// of a Secret volume, and a stat can miss a same-size rewrite within one mtime tick). A changed pair is applied with
// `server.setSecureContext()`: new connections get the new certificate, connections and requests
// in flight keep theirs (nothing is dropped). A pair that does not load (half-written, key not
// matching) keeps the old one in use; the next poll tries again.
//
// Owns one interval timer: started by start(), cleared by stop().

import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

export const DEFAULT_CERT_POLL_MS = 5_000;

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** notAfter, Unix seconds. */
  notAfter: number;
  /** SHA-256 fingerprint of the leaf, as node prints it. */
  fingerprint256: string;
}

export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError';
  readonly code = 'ERR_TLS_FILES';
}

/** Reads and checks a pair (throws TlsFilesError saying what is wrong). */
export function loadTlsPair(certFile: string, keyFile: string): TlsPair {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
    key = readFileSync(keyFile);
  } catch (err) {
    throw new TlsFilesError(err instanceof Error ? err.message : String(err));
  }
  try {
    createSecureContext({ cert, key }); // a key that does not match the certificate throws here
    const x = new X509Certificate(cert);
    return {
      cert,
      key,
      notAfter: Math.floor(new Date(x.validTo).getTime() / 1000),
      fingerprint256: x.fingerprint256,
    };
  } catch (err) {
    throw new TlsFilesError(`${certFile} / ${keyFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export interface TlsReloaderOptions {
  certFile: string;
  keyFile: string;
  pollMs?: number;
  /** Called with the new pair after a change loaded; apply it (setSecureContext). */
  onReload: (pair: TlsPair) => void;
  /** Called when a changed pair does not load (the old one stays in use). */
  onError: (err: TlsFilesError) => void;
}

export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private stamp: string;

  constructor(private readonly opts: TlsReloaderOptions) {
    this.stamp = this.readStamp();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.opts.pollMs ?? DEFAULT_CERT_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll now: reload when the files changed since the last successful load. */
  check(): void {
    const stamp = this.readStamp();
    if (stamp === this.stamp) return;
    let pair: TlsPair;
    try {
      pair = loadTlsPair(this.opts.certFile, this.opts.keyFile);
    } catch (err) {
      this.opts.onError(err instanceof TlsFilesError ? err : new TlsFilesError(String(err)));
      return; // stamp not taken: retried on the next poll
    }
    this.stamp = stamp;
    this.opts.onReload(pair);
  }

  private readStamp(): string {
    const h = createHash('sha256');
    for (const f of [this.opts.certFile, this.opts.keyFile]) {
      try {
        h.update(readFileSync(f));
      } catch {
        h.update('missing');
      }
      h.update('\0');
    }
    return h.digest('hex');
  }
}

/** TLS 1.2+ for the webhook's server. */
export function serverTlsOptions(pair: TlsPair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' };
}
