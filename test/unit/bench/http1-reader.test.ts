import { describe, expect, it } from 'vitest';
import { ResponseReader, type ReaderStep } from '../../../bench/http1-reader.js';

/** Feeds `wire` in pieces of `size` bytes and returns the last step. */
function feed(reader: ResponseReader, wire: Buffer, size: number): ReaderStep {
  let step: ReaderStep = { kind: 'incomplete' };
  for (let i = 0; i < wire.length; i += size) {
    step = reader.push(wire.subarray(i, i + size));
    if (step.kind !== 'incomplete') return step;
  }
  return step;
}

const lengthResponse = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: text/plain\r\n\r\n0123456789NEXT');
const chunkedResponse = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\na\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT');

describe('ResponseReader', () => {
  for (const [name, wire, body] of [['content-length', lengthResponse, 10], ['chunked', chunkedResponse, 15]] as const) {
    it(`frames a ${name} response at every split size and leaves the next bytes`, () => {
      for (let size = 1; size <= wire.length; size++) {
        const step = feed(new ResponseReader(), wire, size);
        expect(step.kind, `split ${size}`).toBe('done');
        if (step.kind !== 'done') continue;
        expect(step.status).toBe(200);
        expect(step.bodyBytes).toBe(body);
        expect(step.close).toBe(false);
        // Bytes after the response come back as `rest` from the push that completed it.
        const consumed = wire.length - 'NEXT'.length;
        const endOfPush = Math.min(wire.length, Math.ceil((consumed) / size) * size);
        expect(step.rest.toString()).toBe(wire.subarray(consumed, endOfPush).toString());
      }
    });
  }

  it('reads until close when there is no length, and says the connection closes', () => {
    const reader = new ResponseReader();
    expect(reader.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc')).kind).toBe('incomplete');
    expect(reader.push(Buffer.from('defg')).kind).toBe('incomplete');
    expect(reader.end()).toMatchObject({ kind: 'done', bodyBytes: 7, close: true });
  });

  it('reports a truncated body as invalid', () => {
    const reader = new ResponseReader();
    reader.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'));
    expect(reader.end().kind).toBe('invalid');
  });

  it('knows responses without a body: 204, 304, HEAD and 2xx to CONNECT', () => {
    expect(new ResponseReader().push(Buffer.from('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'))).toMatchObject({ kind: 'done', status: 204, bodyBytes: 0 });
    expect(new ResponseReader().push(Buffer.from('HTTP/1.1 304 Not Modified\r\n\r\n'))).toMatchObject({ kind: 'done', status: 304 });
    expect(new ResponseReader({ head: true }).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'))).toMatchObject({ kind: 'done', bodyBytes: 0 });
    const tunnel = new ResponseReader({ connect: true }).push(Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01'));
    expect(tunnel).toMatchObject({ kind: 'done', status: 200 });
    if (tunnel.kind === 'done') expect([...tunnel.rest]).toEqual([0x16, 0x03, 0x01]);
  });

  it('skips interim 1xx responses', () => {
    const step = new ResponseReader().push(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'));
    expect(step).toMatchObject({ kind: 'done', status: 201, bodyBytes: 2 });
  });

  it('honours Connection: close and HTTP/1.0', () => {
    expect(new ResponseReader().push(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'))).toMatchObject({ kind: 'done', close: true });
    expect(new ResponseReader().push(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'))).toMatchObject({ kind: 'done', close: true });
    expect(new ResponseReader().push(Buffer.from('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n'))).toMatchObject({ kind: 'done', close: false });
  });

  it('can be reset for the next response on a keep-alive connection', () => {
    const reader = new ResponseReader();
    const first = reader.push(lengthResponse.subarray(0, lengthResponse.length - 4));
    expect(first.kind).toBe('done');
    expect(reader.push(Buffer.from('x')).kind).toBe('invalid');
    reader.reset();
    expect(reader.push(chunkedResponse)).toMatchObject({ kind: 'done', bodyBytes: 15 });
  });

  it('rejects hostile input without throwing', () => {
    const bad = [
      'SSH-2.0-OpenSSH\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY',
    ];
    for (const wire of bad) expect(new ResponseReader().push(Buffer.from(wire)).kind, wire).toBe('invalid');
    const huge = new ResponseReader();
    let step: ReaderStep = { kind: 'incomplete' };
    for (let i = 0; i < 100 && step.kind === 'incomplete'; i++) step = huge.push(Buffer.alloc(1024, 0x41));
    expect(step.kind).toBe('invalid');
    // A seeded fuzz loop over mutated valid responses: every outcome is a value, never an exception.
    let seed = 42;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 2000; i++) {
      const wire = Buffer.from(i % 2 ? chunkedResponse : lengthResponse);
      for (let j = 0; j < 3; j++) wire[rand(wire.length)] = rand(256);
      const step = feed(new ResponseReader(), wire, 1 + rand(16));
      expect(['incomplete', 'done', 'invalid']).toContain(step.kind);
    }
  });
});
