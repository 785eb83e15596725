import { HttpParseError, ResponseParser } from '@vmprobe/agent/probers/http-response';
import { describe, expect, it } from 'vitest';

const keepAll = () => true;
/** Feeds `text` one byte at a time (the worst split); returns whether the parser completed. */
function feedBytewise(p: ResponseParser, text: string): boolean {
  let done = false;
  for (const b of Buffer.from(text, 'latin1')) done = p.feed(Buffer.from([b])) || done;
  return done;
}

describe('http response parser', () => {
  it('reads a Content-Length body split anywhere', () => {
    const p = new ResponseParser(1024, keepAll);
    expect(feedBytewise(p, 'HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 5\r\n\r\nhello')).toBe(
      true,
    );
    expect(p).toMatchObject({ status: 302, location: '/x', headersReceived: true });
    expect(p.body.toString()).toBe('hello');
  });

  it('decodes chunked bodies with extensions and ignores trailers', () => {
    const p = new ResponseParser(1024, keepAll);
    const text =
      'HTTP/1.1 301 X\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n';
    expect(feedBytewise(p, text)).toBe(true);
    expect(p.body.toString()).toBe('abcde');
  });

  it('skips interim 1xx heads; 204 has no body; a body to EOF completes at end()', () => {
    const p = new ResponseParser(1024, keepAll);
    expect(p.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'))).toBe(true);
    expect(p.status).toBe(204);
    const q = new ResponseParser(1024, keepAll);
    expect(q.feed(Buffer.from('HTTP/1.0 200 OK\r\n\r\npartial'))).toBe(false);
    expect(q.end()).toBe(true);
    expect(q.body.toString()).toBe('partial');
    const r = new ResponseParser(1024, keepAll);
    r.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    expect(r.end()).toBe(false);
  });

  it('stops at the body cap and keeps only what keepBody asks for', () => {
    const p = new ResponseParser(4, (s) => s >= 300);
    expect(p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabcdefgh'))).toBe(true);
    expect(p.body.length).toBe(0);
    const q = new ResponseParser(4, (s) => s >= 300);
    expect(q.feed(Buffer.from('HTTP/1.1 308 R\r\n\r\nabcdefgh'))).toBe(true);
    expect(q.body.toString()).toBe('abcd');
  });

  it('rejects garbage with HttpParseError', () => {
    expect(() => new ResponseParser(10, keepAll).feed(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(
      HttpParseError,
    );
    expect(() =>
      new ResponseParser(10, keepAll).feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')),
    ).toThrow(/bad Content-Length/);
    expect(() =>
      new ResponseParser(10, keepAll).feed(
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
      ),
    ).toThrow(/chunked/);
    expect(() => new ResponseParser(10, keepAll).feed(Buffer.alloc(70 * 1024, 97))).toThrow(/exceeded/);
  });

  it('judges the status line as soon as it has arrived: an SSH banner line fails without a blank line', () => {
    const p = new ResponseParser(10, keepAll);
    expect(() => p.feed(Buffer.from('SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n'))).toThrow(
      'malformed HTTP response "SSH-2.0-OpenSSH_9.6p1 Debian-3"',
    );
    // Split across reads: nothing is judged before the line ends, then it is.
    const q = new ResponseParser(10, keepAll);
    expect(q.feed(Buffer.from('SSH-2.0-Op'))).toBe(false);
    expect(() => q.feed(Buffer.from('enSSH\n'))).toThrow('malformed HTTP response "SSH-2.0-OpenSSH"');
    // A good status line followed by headers in later reads parses as before.
    const r = new ResponseParser(10, keepAll);
    expect(r.feed(Buffer.from('HTTP/1.1 200 OK\r\n'))).toBe(false);
    expect(r.feed(Buffer.from('Content-Length: 2\r\n'))).toBe(false);
    expect(r.feed(Buffer.from('\r\nok'))).toBe(true);
    expect([r.status, r.body.toString()]).toEqual([200, 'ok']);
    // After an interim 1xx head, the final head's status line is judged again.
    const c = new ResponseParser(10, keepAll);
    expect(c.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'))).toBe(false);
    expect(() => c.feed(Buffer.from('garbage\r\n'))).toThrow('malformed HTTP response "garbage"');
  });
});
