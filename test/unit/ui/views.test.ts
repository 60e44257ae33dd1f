// Pure helpers behind the detail views: formatting, body classification, the ladder layout, chain comparison,
// picking a flow's events, and the self-test verdict.

import { describe, expect, it } from 'vitest';
import type { ExposedSecret, ProxyEvent } from '../../../server/protocol/events.js';
import type { CertificateSummary } from '../../../server/protocol/tls.js';
import { base64ToBytes, bodySummary, classifyBody, formatBytes, formatDateTime, formatDuration, headerText, hexDump, looksLikeText, maskSecret, prettyJson, sigalgLabels } from '../../../ui/src/lib/client/format.js';
import { compareChains, fieldText } from '../../../ui/src/lib/views/cert-diff.js';
import { flowPieces, secretsOn } from '../../../ui/src/lib/views/flow-events.js';
import { arrowLabel, ladderArrows, recordsAfterHandshake } from '../../../ui/src/lib/views/ladder.js';
import { verdictOf } from '../../../ui/src/lib/views/self-test.js';
import { exchange } from '../hub/fixture.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('format', () => {
  it('formats sizes and durations', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1234)).toBe('1.2 kB');
    expect(formatBytes(5_600_000)).toBe('5.6 MB');
    expect(formatBytes(null)).toBe('');
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
    expect(formatDuration(-1)).toBe('');
  });

  it('classifies bodies so HTML is never rendered and binary gets hex', () => {
    expect(classifyBody('application/json', bytes('{}'))).toBe('json');
    expect(classifyBody('application/problem+json', bytes('{}'))).toBe('json');
    expect(classifyBody('text/html', bytes('<script>x</script>'))).toBe('html');
    expect(classifyBody('image/png', new Uint8Array([0x89, 0x50]))).toBe('image');
    expect(classifyBody('image/svg+xml', bytes('<svg onload="x"/>'))).toBe('text');
    expect(classifyBody(null, bytes('[1,2]'))).toBe('json');
    expect(classifyBody('application/octet-stream', new Uint8Array([0, 1, 2]))).toBe('binary');
    expect(classifyBody('application/octet-stream', bytes('plain words'))).toBe('text');
    expect(classifyBody('text/plain', new Uint8Array())).toBe('empty');
    // A multi-byte character cut at the 4 kB sample edge is still text.
    expect(looksLikeText(bytes('é'.repeat(2048) + 'é').subarray(0, 4097))).toBe(true);
    expect(looksLikeText(new Uint8Array([0xff, 0xfe, 0x41]))).toBe(false);
  });

  it('pretty-prints JSON, dumps hex, masks and decodes base64', () => {
    expect(prettyJson('{"a":[1]}')).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(prettyJson('{"a":')).toBeNull();
    expect(hexDump(bytes('AB\n'))).toBe('00000000  41 42 0a' + ' '.repeat(39) + '  AB.');
    expect(hexDump(new Uint8Array(40), 16).split('\n').at(-1)).toBe('… 24 more bytes');
    expect(maskSecret('hunter2')).not.toContain('h');
    expect(maskSecret('hunter2')).toHaveLength(7);
    expect(Array.from(base64ToBytes('AAEC'))).toEqual([0, 1, 2]);
    expect(base64ToBytes('!!')).toHaveLength(0);
  });
});

describe('bodySummary', () => {
  const body = { sha256: 'ab'.repeat(32), size: 2257, wireSize: 2257, truncated: false, encoding: null, decoded: false, mimeType: 'text/plain' };
  it('names the size, a decoded coding, one that was not decoded and why, and the cap', () => {
    expect(bodySummary(body)).toBe('2.3 kB');
    expect(bodySummary({ ...body, size: 5000, encoding: 'gzip', decoded: true })).toBe('5.0 kB, decoded from gzip (2.3 kB on the wire)');
    expect(bodySummary({ ...body, encoding: 'gzip, br' })).toBe('2.3 kB, stored as received, still encoded with gzip, br');
    expect(bodySummary({ ...body, encoding: 'gzip', decodeError: 'unexpected end of file', truncated: true })).toBe(
      '2.3 kB, stored as received: it could not be decoded from gzip (unexpected end of file), truncated at the capture cap',
    );
  });
});

describe('ladder', () => {
  it('puts both legs on one clock with directions per leg', () => {
    const arrows = ladderArrows(
      { startedAt: 1000, steps: [{ direction: 'in', label: 'ClientHello', length: 500, atMs: 1 }, { direction: 'out', label: 'ServerHello', length: 100, atMs: 9 }] },
      { startedAt: 1002, steps: [{ direction: 'out', label: 'ClientHello', length: 300, atMs: 1 }, { direction: 'in', label: 'ServerHello', length: 90, atMs: 4 }] },
    );
    expect(arrows.map((a) => `${a.leg}:${a.label}:${a.rightward ? '→' : '←'}:${a.atMs}`)).toEqual([
      'client:ClientHello:→:1',
      'upstream:ClientHello:→:3',
      'upstream:ServerHello:←:6',
      'client:ServerHello:←:9',
    ]);
    expect(ladderArrows(null, null)).toEqual([]);
  });

  it('names an encrypted alert from the error that ended its leg, and counts the records the ladder leaves out', () => {
    expect(arrowLabel('Alert (encrypted)', 'certificate_unknown')).toBe('Alert (encrypted): certificate_unknown');
    expect(arrowLabel('Alert (encrypted)', null)).toBe('Alert (encrypted)');
    expect(arrowLabel('Finished', 'certificate_unknown')).toBe('Finished');
    const legs = [{ name: 'browser ↔ mitmlab', appRecords: 17, appBytes: 7700 }, { name: 'mitmlab ↔ origin', appRecords: 1, appBytes: 300 }, null];
    // One record each way is drawn already: only a leg with more says so.
    expect(recordsAfterHandshake(legs)).toEqual([{ name: 'browser ↔ mitmlab', appRecords: 17, appBytes: 7700 }]);
  });
});

describe('certificate comparison', () => {
  const cert = (over: Partial<CertificateSummary>): CertificateSummary => ({
    subject: 'CN=shop.lab.test', issuer: 'CN=Origin Root', serial: '01', notBefore: 'a', notAfter: 'b', san: ['DNS:shop.lab.test'],
    keyType: 'EC', keyBits: 256, signatureAlgorithm: 'ecdsa-with-SHA256', sha256: 'AA', isCA: false, pem: '', ...over,
  });

  it('marks the fields that differ and missing positions', () => {
    const rows = compareChains([cert({}), cert({ subject: 'CN=Origin Root', isCA: true })], [cert({ issuer: 'CN=mitmlab lab CA', serial: '99', sha256: 'BB' })]);
    expect(rows).toHaveLength(2);
    expect([...rows[0]!.differs].sort()).toEqual(['issuer', 'serial', 'sha256']);
    expect(rows[1]!.forged).toBeNull();
    expect(rows[1]!.differs.size).toBe(10);
    expect(fieldText(cert({}), 'keyType')).toBe('EC 256 bits');
    expect(fieldText(cert({}), 'san')).toBe('DNS:shop.lab.test');
    expect(fieldText(cert({ notAfter: '2027-03-01T12:00:05.000Z' }), 'notAfter')).toBe('2027-03-01 12:00:05 UTC');
  });
});

describe('formatDateTime', () => {
  it('writes every date in one format: local time, or UTC and marked so; an unreadable one as given', () => {
    const at = new Date(2026, 11, 3, 9, 5, 7).getTime(); // local
    expect(formatDateTime(at)).toBe('2026-12-03 09:05:07');
    expect(formatDateTime('2026-12-03T09:05:07.000Z', true)).toBe('2026-12-03 09:05:07 UTC');
    expect(formatDateTime('not a date')).toBe('not a date');
  });
});

describe('flowPieces', () => {
  it('picks the flow among its connection events and the TLS of both legs', () => {
    const [request, response] = exchange(1) as [ProxyEvent, ProxyEvent];
    const other = { ...(exchange(1)[0] as Extract<ProxyEvent, { type: 'http-request' }>), id: 'c1.2' };
    const established = (leg: 'client' | 'upstream'): ProxyEvent => ({ type: 'tls-established', conn: 'c1', leg, version: 'TLSv1.3', cipher: leg, alpn: null, sni: null, resumed: false, group: null, groupBits: null, sharedSigalgs: [], connectMs: null, handshakeMs: 1, at: 0 });
    const pieces = flowPieces([established('client'), established('upstream'), request, other, response], 'c1.1');
    expect(pieces.request).toBe(request);
    expect(pieces.response).toBe(response);
    expect(pieces.tls.client.established?.cipher).toBe('client');
    expect(pieces.tls.upstream.established?.cipher).toBe('upstream');
    expect(flowPieces([other], 'c1.1').request).toBeNull();
  });

  it("shows a reused origin connection's handshake from the connection that made it, and says it is not this one's", () => {
    const [request] = exchange(1) as [ProxyEvent];
    const established = (conn: string, leg: 'client' | 'upstream', cipher: string): ProxyEvent => ({ type: 'tls-established', conn, leg, version: 'TLSv1.3', cipher, alpn: null, sni: null, resumed: false, group: null, groupBits: null, sharedSigalgs: [], connectMs: null, handshakeMs: 1, at: 0 });
    const reused: ProxyEvent = { type: 'upstream-reused', conn: 'c1', from: 'c0', host: 'origin.test', at: 0 };
    const opener = [established('c0', 'client', 'opener client'), established('c0', 'upstream', 'opener upstream')];
    const pieces = flowPieces([established('c1', 'client', 'own client'), reused, request], 'c1.1', opener);
    expect(pieces.tls.reused).toBe(reused);
    expect(pieces.tls.client.established?.cipher).toBe('own client');
    expect(pieces.tls.upstream.established?.cipher).toBe('opener upstream');
    expect(pieces.tls.upstreamIsReused).toBe(true);
    // Not reused: other connections' events are ignored.
    const own = flowPieces([established('c1', 'client', 'own client'), request], 'c1.1', opener);
    expect(own.tls.upstream.established).toBeNull();
    expect(own.tls.upstreamIsReused).toBe(false);
    // Reused, then a handshake of its own before this request (the origin had closed it): its own is shown…
    const reopened = flowPieces([reused, established('c1', 'upstream', 'own upstream'), request], 'c1.1', opener);
    expect(reopened.tls.upstream.established?.cipher).toBe('own upstream');
    expect(reopened.tls.upstreamIsReused).toBe(false);
    // …but a request sent before that handshake went over the reused one.
    const earlier = flowPieces([reused, request, established('c1', 'upstream', 'own upstream')], 'c1.1', opener);
    expect(earlier.tls.upstream.established?.cipher).toBe('opener upstream');
    expect(earlier.tls.upstreamIsReused).toBe(true);
    // The connection handed on is the last one its opener made.
    const twice = [...opener, established('c0', 'upstream', 'opener second upstream')];
    expect(flowPieces([reused, request], 'c1.1', twice).tls.upstream.established?.cipher).toBe('opener second upstream');
  });

  it("shows a reused origin connection's certificates from the connection that made it, and says so", () => {
    const reused: ProxyEvent = { type: 'upstream-reused', conn: 'c1', from: 'c0', host: 'origin.test', at: 0 };
    const verification = { trusted: true, errorCode: null, reason: null, checks: [] };
    const certificates: ProxyEvent = { type: 'tls-certificates', conn: 'c0', host: 'origin.test', upstream: [], forged: [], verification, insecureAllowed: false, at: 0 };
    const other: ProxyEvent = { ...certificates, conn: 'c7' };
    // A browser that refused the forged certificate on a connection that had taken an idle origin connection.
    const refused: ProxyEvent = { type: 'tls-failed', conn: 'c1', leg: 'client', host: 'origin.test', cause: 'cert-rejected', alert: 'unknown_ca', message: 'refused', at: 1 };
    const pieces = flowPieces([reused, refused], 'c1', [other, certificates]);
    expect(pieces.tls.certificates).toBe(certificates);
    expect(pieces.tls.certificatesAreReused).toBe(true);
    // Its own, when it has them, win.
    const own: ProxyEvent = { ...certificates, conn: 'c1' };
    const mine = flowPieces([reused, own], 'c1', [certificates]);
    expect(mine.tls.certificates).toBe(own);
    expect(mine.tls.certificatesAreReused).toBe(false);
  });
});

describe('secretsOn', () => {
  it('puts a secret on the side it was seen: URL, request headers and body on the request; response headers and body on the response', () => {
    const secret = (name: string, location: ExposedSecret['location']): ExposedSecret => ({ kind: 'json-field', name, value: 'v', location });
    const found: ProxyEvent = {
      type: 'secrets-found',
      id: 'c1.1',
      conn: 'c1',
      secrets: [
        secret('q', 'url'),
        secret('auth', 'request-header'),
        secret('password', 'request-body'),
        secret('sid', 'response-header'),
        secret('api_key', 'response-body'),
        secret('[1].password', 'ws-send'),
        secret('token', 'ws-receive'),
      ],
      at: 0,
    };
    const pieces = flowPieces([found], 'c1.1');
    expect(secretsOn(pieces, 'request').map((s) => s.name)).toEqual(['q', 'auth', 'password']);
    expect(secretsOn(pieces, 'response').map((s) => s.name)).toEqual(['sid', 'api_key']);
    expect(secretsOn(pieces, 'websocket').map((s) => s.name)).toEqual(['[1].password', 'token']);
  });
});

describe('self-test verdict', () => {
  const base = { id: 'x', viaProxy: false, clientTls: 'none' as const, failure: null, requestSeen: false };
  it('reads what the proxy saw', () => {
    expect(verdictOf(base)).toBe('not-proxied');
    expect(verdictOf({ ...base, viaProxy: true })).toBe('proxied-unknown');
    expect(verdictOf({ ...base, viaProxy: true, clientTls: 'failed' })).toBe('untrusted');
    expect(verdictOf({ ...base, viaProxy: true, clientTls: 'established', requestSeen: true })).toBe('trusted');
  });
});

describe('headerText', () => {
  it('shows UTF-8 header bytes (as Node hands them over, one byte per character) as the text they encode', () => {
    const sent = 'ünïcödé ✓ 日本語';
    expect(headerText(Buffer.from(sent, 'utf8').toString('latin1'))).toBe(sent);
  });

  it('leaves ASCII, Latin-1 that is not UTF-8, and already decoded text alone', () => {
    expect(headerText('text/html; charset=utf-8')).toBe('text/html; charset=utf-8');
    expect(headerText('caf\xe9')).toBe('caf\xe9');
    expect(headerText('日本')).toBe('日本');
  });
});

describe('sigalgLabels', () => {
  it("turns OpenSSL's shared sigalg names into IANA-style names, each once", () => {
    const openssl = ['ECDSA+SHA256', 'ECDSA+SHA384', 'ECDSA+SHA512', 'Ed25519+UNDEF', 'Ed448+UNDEF', 'RSA-PSS+SHA256', 'RSA-PSS+SHA256', 'RSA+SHA256', 'RSA+SHA1', 'ECDSA+SHA1', 'DSA+SHA256'];
    expect(sigalgLabels(openssl)).toEqual([
      'ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384', 'ecdsa_secp521r1_sha512', 'ed25519', 'ed448', 'rsa_pss_…_sha256', 'rsa_pkcs1_sha256', 'rsa_pkcs1_sha1', 'ecdsa_sha1', 'DSA+SHA256',
    ]);
  });
});
