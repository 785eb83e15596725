import { HttpParseError, ResponseParser, statusOf } from '@vmprobe/agent/probers/http-response';
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

  it('reads only Location, Transfer-Encoding and Content-Length, in any case, around any whitespace the old split-and-trim rule allowed', () => {
    const cases: [string, number, string | undefined, string][] = [
      // head lines, status, location, body
      ['CONTENT-LENGTH: 3\r\nLOCATION: /up', 301, '/up', 'abc'],
      ['content-length:3\r\nX-Content-Length: 99\r\nLocationX: /no', 301, undefined, 'abc'],
      [' Content-Length : 3\r\n\tLocation\t: /ws', 301, '/ws', 'abc'],
      ['Content-Length\u00a0: 3', 301, undefined, 'abc'], // NBSP: trimmed as String.trim does
      ['Transfer-Encoding: gzip, Chunked\r\nContent-Length: 99', 301, undefined, 'abc'],
    ];
    expect(cases.length).toBeGreaterThan(0);
    for (const [lines, status, location, body] of cases) {
      const isChunked = /chunked/i.test(lines);
      const text = `HTTP/1.1 ${status} X\r\n${lines}\r\n\r\n${isChunked ? '3\r\nabc\r\n0\r\n\r\n' : 'abc'}`;
      for (const split of ['whole', 'bytewise']) {
        const p = new ResponseParser(1024, keepAll);
        const done = split === 'whole' ? p.feed(Buffer.from(text, 'latin1')) : feedBytewise(p, text);
        expect([lines, split, done, p.status, p.location, p.body.toString()]).toEqual([
          lines,
          split,
          true,
          status,
          location,
          body,
        ]);
      }
    }
    // Every line is still checked, whatever its name.
    expect(() =>
      new ResponseParser(10, keepAll).feed(Buffer.from('HTTP/1.1 200 OK\r\nDate\r\n\r\n')),
    ).toThrow('malformed MIME header line: Date');
    expect(() => new ResponseParser(10, keepAll).feed(Buffer.from('HTTP/1.1 200 OK\r\n: x\r\n\r\n'))).toThrow(
      /malformed MIME header line/,
    );
    // Content-Length values, read from the bytes as Number(value.trim()) after /^\d+$/.
    const lengths: [string, number | string][] = [
      ['007', 7],
      ['\t 3 \u00a0', 3],
      ['3 3', 'bad Content-Length "3 3"'],
      ['', 'bad Content-Length ""'],
      ['+3', 'bad Content-Length "+3"'],
      ['0x3', 'bad Content-Length "0x3"'],
      ['\u00b3', 'bad Content-Length "\u00b3"'],
    ];
    expect(lengths.length).toBeGreaterThan(0);
    for (const [value, want] of lengths) {
      // A good length frames the body: the response is complete after exactly that many bytes.
      const p = new ResponseParser(64, keepAll);
      let got: number | string;
      try {
        const head = `HTTP/1.1 200 OK\r\nContent-Length:${value}\r\n\r\n`;
        expect(p.feed(Buffer.from(head, 'latin1'))).toBe(false);
        let n = 0;
        while (!p.feed(Buffer.from('x')) && n < 64) n++;
        got = n + 1;
        expect(p.body.toString()).toBe('x'.repeat(got));
      } catch (err) {
        got = (err as Error).message;
      }
      expect([value, got]).toEqual([value, want]);
    }
    // Two different Content-Lengths are refused, equal ones accepted.
    expect(() =>
      new ResponseParser(10, keepAll).feed(
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n'),
      ),
    ).toThrow(/bad Content-Length/);
  });

  it('a head that arrives in pieces, with the body in the same read as its end', () => {
    const p = new ResponseParser(1024, keepAll);
    expect(p.feed(Buffer.from('HTTP/1.1 302 Found\r\nLocation: /a\r\nContent-Le'))).toBe(false);
    expect(p.feed(Buffer.from('ngth: 4\r\n\r\nbo'))).toBe(false);
    expect(p.feed(Buffer.from('dyEXTRA'))).toBe(true);
    expect([p.status, p.location, p.body.toString()]).toEqual([302, '/a', 'body']);
  });

  it('statusOf says what the status-line regex says, on the bytes (table)', () => {
    const rule = /^HTTP\/1\.[01] (\d{3})(?: |$)/;
    const lines = [
      'HTTP/1.1 200 OK',
      'HTTP/1.0 404',
      'HTTP/1.1 200',
      'HTTP/1.1 200OK',
      'HTTP/1.2 200 OK',
      'HTTP/2 200',
      'http/1.1 200 OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1 2x0 OK',
      'HTTP/1.1 20',
      'HTTP/1.1 999 X',
      'HTTP/1.1 \u00b200 superscript two',
      'HTTP/1.1 200\tOK',
      'SSH-2.0-OpenSSH_9.6',
      '',
    ];
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const m = rule.exec(line);
      expect([line, statusOf(Buffer.from(line, 'latin1'), 0, line.length)]).toEqual([
        line,
        m ? Number(m[1]) : -1,
      ]);
      // Inside a longer text, by offsets.
      const text = `xx${line}\r\nmore`;
      expect([line, statusOf(Buffer.from(text, 'latin1'), 2, 2 + line.length)]).toEqual([
        line,
        m ? Number(m[1]) : -1,
      ]);
    }
  });
});
