// An incremental parser of one HTTP/1.x response, as much as a probe needs: status, Location, and
// the body framed by Content-Length, chunked encoding or the end of the connection, kept only when
// asked and only up to a cap. Interim 1xx responses are skipped. Pure: bytes in, state out; the
// exchange (http-exchange.ts) owns the socket. `feed` returns true once the response is complete
// (or the body cap is reached); malformed input throws HttpParseError. The status line is judged as
// soon as it has arrived, before the rest of the head: a peer that answers with something else (an
// SSH banner line, and then silence) fails at once with Go's `malformed HTTP response "…"`.

/** Go's limit on response headers is 1 MiB; a probe target has no business sending more than this. */
export const MAX_HEAD_BYTES = 64 * 1024;

export class HttpParseError extends Error {}

/** The status line's rule, /^HTTP\/1\.[01] (\d{3})(?: |$)/, checked on the latin1 bytes
 *  b[start, end) without a string, a match array or a substring: the status code, or -1 when the
 *  line does not follow the rule. */
export function statusOf(b: Uint8Array, start: number, end: number): number {
  if (end - start < 12) return -1;
  for (let i = 0; i < 7; i++) if (b[start + i] !== HTTP_1_DOT.charCodeAt(i)) return -1;
  const minor = b[start + 7];
  if ((minor !== 48 && minor !== 49) || b[start + 8] !== 32) return -1;
  let status = 0;
  for (let i = start + 9; i < start + 12; i++) {
    const d = (b[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  return end - start === 12 || b[start + 12] === 32 ? status : -1;
}
const HTTP_1_DOT = 'HTTP/1.';

/** b[start, end) equals `lower` (lower-case ASCII letters and '-') ignoring ASCII case — what
 *  `b.toString('latin1', start, end).toLowerCase() === lower` says, without the two strings. */
function isName(b: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = b[start + i];
    const want = lower.charCodeAt(i);
    if (c !== want && !(want >= 97 && want <= 122 && c === want - 32)) return false;
  }
  return true;
}

/** The bytes String.prototype.trim removes from latin1 text: \t \n \v \f \r, space, NBSP. */
const isTrimmed = (c: number | undefined): boolean =>
  (c !== undefined && c >= 9 && c <= 13) || c === 32 || c === 0xa0;

function malformedStatusLine(line: string): HttpParseError {
  return new HttpParseError(`malformed HTTP response ${JSON.stringify(line.slice(0, 64))}`);
}

const CRLF = Buffer.from('\r\n', 'latin1');
const COLON = 0x3a;

/** The next CRLF in b[at, end), or -1. */
function crlfBefore(b: Buffer, at: number, end: number): number {
  const i = b.indexOf(CRLF, at);
  return i < 0 || i >= end ? -1 : i;
}

/** A Content-Length value b[start, stop): what `Number(v)` gives for `v = text.trim()` when v
 *  matches /^\d+$/, else -1 — from the bytes, without the string (long values go through it). */
function contentLength(b: Uint8Array, start: number, stop: number): number {
  let i = start;
  let j = stop;
  while (i < j && isTrimmed(b[i])) i++;
  while (j > i && isTrimmed(b[j - 1])) j--;
  if (i === j) return -1;
  let n = 0;
  for (let k = i; k < j; k++) {
    const d = (b[k] as number) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  // Past 15 digits the running sum may round differently from Number(): ask Number itself.
  return j - i <= 15 ? n : Number(Buffer.from(b.buffer, b.byteOffset + i, j - i).toString('latin1'));
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'eof' | 'done';

/** The body when none was kept (shared: a Buffer of length 0 holds nothing to change). */
const NO_BODY = Buffer.alloc(0);

/** The header names the parser reads, by length (a probe needs no other header). */
const LOCATION = 'location';
const TRANSFER_ENCODING = 'transfer-encoding';
const CONTENT_LENGTH = 'content-length';

/** A byte String.prototype.trim could remove around a header name (latin1): control-range codes
 *  and space loosely, NBSP exactly; a name that starts or ends with one takes the exact (slow) path. */
const mayTrim = (c: number | undefined): boolean => c === undefined || c <= 32 || c === 0xa0;

export class ResponseParser {
  status = 0;
  location: string | undefined;
  headersReceived = false;
  private phase: Phase = 'head';
  private head: Buffer | undefined;
  /** The status line of the head being read has been checked (reset for each 1xx head). */
  private statusLineChecked = false;
  private remaining = 0;
  private line = '';
  private chunks: Buffer[] | undefined;
  private size = 0;
  /** A head that came in pieces, joined (feedHead → feed, then cleared). */
  private joined: Buffer | undefined;
  /** keepBody(status) of the final response, decided once its head is in. */
  private keep = false;

  /** keepBody(status) says whether the body's bytes are wanted (they are read either way). */
  constructor(
    private readonly bodyCap: number,
    private readonly keepBody: (status: number) => boolean,
  ) {}

  get body(): Buffer {
    const chunks = this.chunks;
    if (chunks === undefined) return NO_BODY;
    return Buffer.concat(chunks, Math.min(this.size, this.bodyCap));
  }

  /** Feeds bytes; true when the response is complete or the body cap reached. The parser works on
   *  offsets into `data` (no sub-buffer per step) and keeps a slice only of body bytes it wants. */
  feed(data: Buffer): boolean {
    let buf = data;
    let pos = 0;
    while (pos < buf.length && this.phase !== 'done') {
      switch (this.phase) {
        case 'head': {
          const at = this.feedHead(buf, pos);
          if (at < 0) return false;
          if (this.joined !== undefined) {
            buf = this.joined; // the head came in pieces: the bytes after it are in the joined copy
            this.joined = undefined;
          }
          pos = at;
          break;
        }
        case 'length': {
          const n = Math.min(buf.length - pos, this.remaining);
          this.addBody(buf, pos, n);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.phase = 'done';
          break;
        }
        case 'chunk-size':
        case 'chunk-crlf': {
          const nl = buf.indexOf(10, pos);
          this.line += buf.toString('latin1', pos, nl < 0 ? buf.length : nl);
          if (this.line.length > 4096) throw new HttpParseError('malformed chunked encoding');
          if (nl < 0) return false;
          pos = nl + 1;
          const line = this.line.trim();
          this.line = '';
          if (this.phase === 'chunk-crlf') {
            if (line !== '') throw new HttpParseError('malformed chunked encoding');
            this.phase = 'chunk-size';
            break;
          }
          const size = Number.parseInt(line.split(';', 1)[0] ?? '', 16);
          if (!/^[0-9a-fA-F]+/.test(line) || !Number.isFinite(size))
            throw new HttpParseError('malformed chunked encoding');
          // The last chunk: trailers, if any, are not needed (the connection is closed anyway).
          this.phase = size === 0 ? 'done' : 'chunk-data';
          this.remaining = size;
          break;
        }
        case 'chunk-data': {
          const n = Math.min(buf.length - pos, this.remaining);
          this.addBody(buf, pos, n);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.phase = 'chunk-crlf';
          break;
        }
        case 'eof':
          this.addBody(buf, pos, buf.length - pos);
          pos = buf.length;
          break;
      }
      if (this.size >= this.bodyCap) this.phase = 'done';
    }
    return this.phase === 'done';
  }

  /** The connection ended: true when that completes the response (a body read to EOF). */
  end(): boolean {
    if (this.phase === 'eof') this.phase = 'done';
    return this.phase === 'done';
  }

  private addBody(buf: Buffer, pos: number, n: number): void {
    if (n === 0) return;
    if (this.keep && this.size < this.bodyCap) {
      this.chunks ??= [];
      this.chunks.push(buf.subarray(pos, pos + n));
    }
    this.size += n;
  }

  /** Reads head bytes from `buf` at `pos`; once the head is complete, the offset of the bytes after
   *  it (in `buf`, or in `joined` when the head came in pieces); -1 while it is not complete. */
  private feedHead(buf: Buffer, pos: number): number {
    const all = this.head ? Buffer.concat([this.head, buf.subarray(pos)]) : buf;
    const from = this.head ? 0 : pos;
    const end = all.indexOf('\r\n\r\n', from);
    if (end < 0 && !this.statusLineChecked) {
      const nl = all.indexOf(10, from);
      if (nl >= 0) {
        const lineEnd = nl > from && all[nl - 1] === 13 ? nl - 1 : nl;
        if (statusOf(all, from, lineEnd) < 0)
          throw malformedStatusLine(all.toString('latin1', from, lineEnd));
        this.statusLineChecked = true;
      }
    }
    if (end < 0) {
      if (all.length - from > MAX_HEAD_BYTES)
        throw new HttpParseError(`server response headers exceeded ${MAX_HEAD_BYTES} bytes; aborted`);
      this.head = Buffer.from(all.subarray(from));
      return -1;
    }
    if (all !== buf) this.joined = all;
    this.head = undefined;
    this.statusLineChecked = false;
    this.parseHead(all, from, end);
    return end + 4;
  }

  /** The head's bytes b[from, end) (status line and header lines, CRLF-separated, no final blank
   *  line), read in place: every line is checked (a colon after a non-empty name), but only
   *  Location, Transfer-Encoding and Content-Length are read, and only their values become strings
   *  (Content-Length not even that): the rules are those of the text's split, trim and lower-case. */
  private parseHead(b: Buffer, from: number, end: number): void {
    let eol = crlfBefore(b, from, end);
    const statusEnd = eol < 0 ? end : eol;
    const status = statusOf(b, from, statusEnd);
    if (status < 0) throw malformedStatusLine(b.toString('latin1', from, statusEnd));
    let location: string | undefined;
    let length: number | undefined;
    let chunked = false;
    while (eol >= 0) {
      const start = eol + 2;
      eol = crlfBefore(b, start, end);
      const stop = eol < 0 ? end : eol;
      const colon = b.indexOf(COLON, start);
      if (colon < 0 || colon >= stop || colon === start)
        throw new HttpParseError(
          `malformed MIME header line: ${b.toString('latin1', start, stop).slice(0, 64)}`,
        );
      let name: string;
      if (mayTrim(b[start]) || mayTrim(b[colon - 1])) {
        name = b.toString('latin1', start, colon).trim().toLowerCase(); // the exact rule, for odd names
      } else if (isName(b, start, colon, CONTENT_LENGTH)) name = CONTENT_LENGTH;
      else if (isName(b, start, colon, LOCATION)) name = LOCATION;
      else if (isName(b, start, colon, TRANSFER_ENCODING)) name = TRANSFER_ENCODING;
      else continue;
      if (name === LOCATION) location ??= b.toString('latin1', colon + 1, stop).trim();
      else if (name === TRANSFER_ENCODING)
        chunked = /(?:^|,)\s*chunked\s*$/i.test(b.toString('latin1', colon + 1, stop).trim());
      else if (name === CONTENT_LENGTH) {
        const value = contentLength(b, colon + 1, stop);
        if (value < 0 || (length !== undefined && length !== value)) {
          const text = b.toString('latin1', colon + 1, stop).trim();
          throw new HttpParseError(`bad Content-Length ${JSON.stringify(text.slice(0, 32))}`);
        }
        length = value;
      }
    }
    if (status >= 100 && status < 200 && status !== 101) return; // interim: the real head follows
    this.status = status;
    this.location = location;
    this.headersReceived = true;
    this.keep = this.keepBody(status);
    if (status === 204 || status === 304) this.phase = 'done';
    else if (chunked) this.phase = 'chunk-size';
    else if (length !== undefined) {
      this.remaining = length;
      this.phase = length === 0 ? 'done' : 'length';
    } else this.phase = 'eof';
  }
}
