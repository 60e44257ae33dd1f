import { describe, expect, it } from 'vitest';
import { forwardableHeaders, mediaType, pairHeaders, rawHeader } from '../../../server/core/headers.js';

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
