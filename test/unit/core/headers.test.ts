import { describe, expect, it } from 'vitest';
import { forwardableHeaders, mediaType, pairHeaders, rawHeader, rawHeaderList, hostField, readableFieldValue, recordedHeaders, withHost } from '../../../server/core/headers.js';

describe('forwardableHeaders', () => {
  it('drops hop-by-hop fields and those named in Connection (RFC 9110 §7.6.1), keeping order and case', () => {
    const raw = ['Host', 'a.test', 'Connection', 'keep-alive, X-Secret-Hop', 'Keep-Alive', 'timeout=5', 'X-Secret-Hop', '1', 'Proxy-Authorization', 'Basic x', 'Accept', '*/*', 'Proxy-Connection', 'keep-alive', 'TE', 'trailers', 'Upgrade', 'h2c'];
    expect(forwardableHeaders(raw)).toEqual(['Host', 'a.test', 'Accept', '*/*']);
  });

  it('keeps and drops what the caller names', () => {
    const raw = ['Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'X-A', '1'];
    expect(forwardableHeaders(raw, new Set(['transfer-encoding']), new Set(['expect']))).toEqual(['Transfer-Encoding', 'chunked', 'X-A', '1']);
  });

  it('keeps repeated fields such as Set-Cookie', () => {
    expect(forwardableHeaders(['Set-Cookie', 'a=1', 'set-cookie', 'b=2'])).toEqual(['Set-Cookie', 'a=1', 'set-cookie', 'b=2']);
  });
});

describe('helpers', () => {
  it('pairs raw headers', () => {
    expect(pairHeaders(['A', '1', 'b', '2'])).toEqual([['A', '1'], ['b', '2']]);
  });
  it('finds a header case-insensitively', () => {
    expect(rawHeader(['Content-Type', 'text/html'], 'content-type')).toBe('text/html');
    expect(rawHeader([], 'x')).toBeUndefined();
  });
  it('extracts the media type without parameters', () => {
    expect(mediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaType(undefined)).toBeNull();
    expect(mediaType(' ; x')).toBeNull();
  });
});

describe('withHost', () => {
  it('replaces the Host line in place and drops further ones (an absolute-form request, RFC 9112 §3.2.2)', () => {
    expect(withHost(['Accept', '*/*', 'host', 'x', 'X-A', '1', 'Host', 'y'], 'a.test:8080', true)).toEqual(['Accept', '*/*', 'host', 'a.test:8080', 'X-A', '1']);
  });

  it('keeps the client\'s Host (the same array) unless told to replace it, and puts a missing one first', () => {
    const raw = ['Host', 'b.test', 'Accept', '*/*'];
    expect(withHost(raw, 'a.test', false)).toBe(raw);
    expect(withHost(['Accept', '*/*'], 'a.test', false)).toEqual(['Host', 'a.test', 'Accept', '*/*']);
    expect(withHost(['Accept', '*/*'], 'a.test', true)).toEqual(['Host', 'a.test', 'Accept', '*/*']);
  });
});

describe('rawHeaderList', () => {
  it('joins every line of a field in order (RFC 9110 §5.3), and is undefined when there is none', () => {
    expect(rawHeaderList(['Content-Encoding', 'gzip', 'X', '1', 'content-encoding', 'br'], 'content-encoding')).toBe('gzip, br');
    expect(rawHeaderList(['X', '1'], 'content-encoding')).toBeUndefined();
  });
});

describe('hostField (RFC 9110 §7.2)', () => {
  it("leaves out only the scheme's own default port", () => {
    expect(hostField('shop.test', 443, 'https')).toBe('shop.test');
    expect(hostField('shop.test', 80, 'http')).toBe('shop.test');
    // The other scheme's default is not this one's: without it the origin would read the wrong port.
    expect(hostField('shop.test', 443, 'http')).toBe('shop.test:443');
    expect(hostField('shop.test', 80, 'https')).toBe('shop.test:80');
    expect(hostField('shop.test', 8443, 'https')).toBe('shop.test:8443');
  });

  it('puts an IPv6 address in brackets', () => {
    expect(hostField('::1', 443, 'https')).toBe('[::1]');
    expect(hostField('::1', 8080, 'http')).toBe('[::1]:8080');
  });
});

describe('readableFieldValue', () => {
  const asNodeReadsIt = (bytes: Buffer): string => bytes.toString('latin1');

  it('shows valid UTF-8 bytes as text, leaves ASCII and other bytes as they came', () => {
    expect(readableFieldValue('plain ascii')).toBe('plain ascii');
    expect(readableFieldValue(asNodeReadsIt(Buffer.from('naïve €', 'utf8')))).toBe('naïve €');
    expect(readableFieldValue(asNodeReadsIt(Buffer.from('café', 'latin1')))).toBe('café');
    // A lone continuation byte is not UTF-8.
    expect(readableFieldValue('a\x80b')).toBe('a\x80b');
  });

  it('recordedHeaders pairs raw headers with readable values', () => {
    expect(recordedHeaders(['X-A', asNodeReadsIt(Buffer.from('ü', 'utf8')), 'X-B', '1'])).toEqual([['X-A', 'ü'], ['X-B', '1']]);
  });
});
