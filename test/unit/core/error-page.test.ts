import { describe, expect, it } from 'vitest';
import { errorPageHtml, rawErrorResponse } from '../../../server/core/error-page.js';
import { failureAnswer } from '../../../server/core/upstream-answer.js';

describe('error pages', () => {
  it('escapes what came from the network', () => {
    const html = errorPageHtml({ status: 400, title: '<script>', detail: 'a & "b"' });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;');
  });

  it('writes a complete raw response that closes the connection', () => {
    const raw = rawErrorResponse({ status: 431, title: 'Too large', detail: 'x' });
    expect(raw.startsWith('HTTP/1.1 431 Request Header Fields Too Large\r\n')).toBe(true);
    const [head, body] = raw.split('\r\n\r\n');
    expect(head).toContain('connection: close');
    expect(Number(/content-length: (\d+)/.exec(head!)![1])).toBe(Buffer.byteLength(body!));
  });
});

describe('upstream failure answers', () => {
  it.each([
    [{ code: 'ENOTFOUND' }, 502, 'upstream-dns', 'a.test'],
    [{ code: 'CONNECT_TIMEOUT' }, 504, 'upstream-timeout', 'timed out'],
    [{ code: 'HANDSHAKE_TIMEOUT' }, 504, 'upstream-timeout', 'in time'],
    [{ code: 'ECONNREFUSED' }, 502, 'upstream-unreachable', 'refused'],
    [{ code: 'LOOP_REFUSED' }, 403, 'loop-refused', "mitmlab's own"],
    [{ code: 'UPSTREAM_UNTRUSTED', reason: 'expired' }, 502, 'upstream-untrusted', '--upstream-insecure a.test'],
    // The way that keeps verification on comes first.
    [{ code: 'UPSTREAM_UNTRUSTED', reason: 'unknown issuer' }, 502, 'upstream-untrusted', 'start mitmlab with --upstream-ca FILE'],
    [{ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, 502, 'upstream-tls', 'protocol_version'],
  ])('%o → %d %s', (error, status, code, words) => {
    const answer = failureAnswer('a.test', 443, error);
    expect(answer.status).toBe(status);
    expect(answer.code).toBe(code);
    expect(`${answer.title} ${answer.detail}`).toContain(words);
  });
});
