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

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |$)/;

function malformedStatusLine(line: string): HttpParseError {
  return new HttpParseError(`malformed HTTP response ${JSON.stringify(line.slice(0, 64))}`);
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'eof' | 'done';

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
  private readonly chunks: Buffer[] = [];
  private size = 0;

  /** keepBody(status) says whether the body's bytes are wanted (they are read either way). */
  constructor(
    private readonly bodyCap: number,
    private readonly keepBody: (status: number) => boolean,
  ) {}

  get body(): Buffer {
    return Buffer.concat(this.chunks, Math.min(this.size, this.bodyCap));
  }

  /** Feeds bytes; true when the response is complete or the body cap reached. */
  feed(data: Buffer): boolean {
    let buf = data;
    while (buf.length > 0 && this.phase !== 'done') {
      switch (this.phase) {
        case 'head':
          buf = this.feedHead(buf);
          break;
        case 'length': {
          const n = Math.min(buf.length, this.remaining);
          this.addBody(buf.subarray(0, n));
          this.remaining -= n;
          buf = buf.subarray(n);
          if (this.remaining === 0) this.phase = 'done';
          break;
        }
        case 'chunk-size':
        case 'chunk-crlf': {
          const nl = buf.indexOf(10);
          this.line += buf.toString('latin1', 0, nl < 0 ? buf.length : nl);
          if (this.line.length > 4096) throw new HttpParseError('malformed chunked encoding');
          if (nl < 0) return false;
          buf = buf.subarray(nl + 1);
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
          const n = Math.min(buf.length, this.remaining);
          this.addBody(buf.subarray(0, n));
          this.remaining -= n;
          buf = buf.subarray(n);
          if (this.remaining === 0) this.phase = 'chunk-crlf';
          break;
        }
        case 'eof':
          this.addBody(buf);
          buf = buf.subarray(buf.length);
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

  private addBody(b: Buffer): void {
    if (b.length === 0) return;
    if (this.keepBody(this.status) && this.size < this.bodyCap) this.chunks.push(b);
    this.size += b.length;
  }

  private feedHead(buf: Buffer): Buffer {
    const all = this.head ? Buffer.concat([this.head, buf]) : buf;
    const end = all.indexOf('\r\n\r\n');
    if (end < 0 && !this.statusLineChecked) {
      const nl = all.indexOf(10);
      if (nl >= 0) {
        const line = all.toString('latin1', 0, nl > 0 && all[nl - 1] === 13 ? nl - 1 : nl);
        if (!STATUS_LINE.test(line)) throw malformedStatusLine(line);
        this.statusLineChecked = true;
      }
    }
    if (end < 0) {
      if (all.length > MAX_HEAD_BYTES)
        throw new HttpParseError(`server response headers exceeded ${MAX_HEAD_BYTES} bytes; aborted`);
      this.head = Buffer.from(all);
      return buf.subarray(buf.length);
    }
    this.head = undefined;
    this.statusLineChecked = false;
    this.parseHead(all.toString('latin1', 0, end));
    return all.subarray(end + 4);
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const statusLine = lines[0] ?? '';
    const m = STATUS_LINE.exec(statusLine);
    if (!m) throw malformedStatusLine(statusLine);
    const status = Number(m[1]);
    let location: string | undefined;
    let length: number | undefined;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] ?? '';
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpParseError(`malformed MIME header line: ${line.slice(0, 64)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'location') location ??= value;
      else if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      else if (name === 'content-length') {
        if (!/^\d+$/.test(value) || (length !== undefined && length !== Number(value)))
          throw new HttpParseError(`bad Content-Length ${JSON.stringify(value.slice(0, 32))}`);
        length = Number(value);
      }
    }
    if (status >= 100 && status < 200 && status !== 101) return; // interim: the real head follows
    this.status = status;
    this.location = location;
    this.headersReceived = true;
    if (status === 204 || status === 304) this.phase = 'done';
    else if (chunked) this.phase = 'chunk-size';
    else if (length !== undefined) {
      this.remaining = length;
      this.phase = length === 0 ? 'done' : 'length';
    } else this.phase = 'eof';
  }
}
