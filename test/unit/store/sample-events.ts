// Event builders for store, reducer and export tests: realistic shapes without a proxy.

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { BlobSink } from '../../../server/events/blob-sink.js';
import type { BodyRef, EventOf, HeaderList, ProxyEvent } from '../../../server/protocol/events.js';
import type { CertificateSummary, ClientHello, Fingerprints } from '../../../server/protocol/tls.js';

export function clientHello(sni: string | null, alpn: string[] = ['http/1.1']): ClientHello {
  return {
    recordVersion: 0x0301,
    legacyVersion: 0x0303,
    random: '00'.repeat(32),
    sessionId: '',
    cipherSuites: [0x1301, 0x1302, 0xc02f],
    compressionMethods: [0],
    extensions: [
      { type: 0, name: 'server_name', grease: false, span: { offset: 40, length: 10 } },
      { type: 16, name: 'application_layer_protocol_negotiation', grease: false, span: { offset: 50, length: 14 } },
      { type: 43, name: 'supported_versions', grease: false, span: { offset: 64, length: 7 } },
    ],
    serverName: sni,
    alpn,
    supportedGroups: [29, 23],
    ecPointFormats: [0],
    signatureAlgorithms: [0x0403, 0x0804],
    supportedVersions: [0x0304, 0x0303],
    keyShares: [{ group: 29, keyLength: 32 }],
    pskKeyExchangeModes: [1],
    preSharedKey: false,
    statusRequest: false,
    signedCertificateTimestamp: false,
    extendedMasterSecret: true,
    sessionTicket: false,
    renegotiationInfo: false,
    encryptedClientHello: false,
    compressCertificate: [],
    recordSizeLimit: null,
    applicationSettings: [],
    paddingLength: null,
    fields: {},
  };
}

export const FINGERPRINTS: Fingerprints = {
  ja3: '771,4865-4866-49199,0-16-43,29-23,0',
  ja3Hash: 'a0e9f5d64349fb13191bc781f81f42e1',
  ja4: 't13d0303h1_55b375c5d22e_06cda9e17597',
  ja4r: 't13d0303h1_1301,1302,c02f_0000,0010,002b_0403,0804',
};

export function certificate(subject: string, issuer: string): CertificateSummary {
  return {
    subject: `CN=${subject}`,
    issuer: `CN=${issuer}`,
    serial: '01',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    san: [`DNS:${subject}`],
    keyType: 'EC',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
    sha256: createHash('sha256').update(subject + issuer).digest('hex'),
    isCA: false,
    pem: '',
  };
}

export function bodyRef(blobs: BlobSink, data: Buffer, extra: Partial<BodyRef> = {}): BodyRef {
  return {
    sha256: blobs.put(data),
    size: data.length,
    wireSize: data.length,
    truncated: false,
    encoding: null,
    decoded: false,
    mimeType: null,
    ...extra,
  };
}

const TIMINGS = { connect: 3, send: 1, wait: 5, receive: 2, total: 11 };

/** A TLS handshake on both legs of `conn` for `host`, with key log lines and certificates. */
export function tlsSetup(conn: string, host: string, at: number, trusted = true): ProxyEvent[] {
  const events: ProxyEvent[] = [];
  for (const leg of ['client', 'upstream'] as const) {
    events.push({ type: 'tls-client-hello', conn, leg, hello: clientHello(host), fingerprints: FINGERPRINTS, raw: '', at: at + 1 });
    events.push({
      type: 'tls-established',
      conn,
      leg,
      version: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      alpn: 'http/1.1',
      sni: host,
      resumed: false,
      group: 'x25519',
      groupBits: 253,
      sharedSigalgs: ['ecdsa_secp256r1_sha256'],
      connectMs: leg === 'upstream' ? 2 : null,
      handshakeMs: 4,
      at: at + 2,
    });
    events.push({ type: 'tls-keylog', conn, leg, line: `CLIENT_TRAFFIC_SECRET_0 ${'ab'.repeat(32)} ${leg === 'client' ? 'cd' : 'ef'}${'00'.repeat(31)}`, at: at + 2 });
  }
  events.push({
    type: 'tls-certificates',
    conn,
    host,
    upstream: [certificate(host, 'Origin Root')],
    forged: [certificate(host, 'mitmlab CA')],
    verification: {
      trusted,
      errorCode: trusted ? null : 'CERT_HAS_EXPIRED',
      reason: trusted ? null : 'expired',
      checks: [{ check: 'validity', ok: trusted, reason: trusted ? 'valid' : 'expired' }],
    },
    insecureAllowed: false,
    at: at + 2,
  });
  return events;
}

export function request(id: string, conn: string, url: string, at: number, extra: Partial<EventOf<'http-request'>> = {}): EventOf<'http-request'> {
  return {
    type: 'http-request',
    id,
    conn,
    method: 'GET',
    url,
    httpVersion: '1.1',
    headers: [['Host', new URL(url).host]],
    body: null,
    client: { address: '127.0.0.1', port: 50000 },
    at,
    ...extra,
  };
}

export function response(id: string, conn: string, at: number, extra: Partial<EventOf<'http-response'>> = {}): EventOf<'http-response'> {
  return {
    type: 'http-response',
    id,
    conn,
    status: 200,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: [['Content-Type', 'text/plain']],
    body: null,
    timings: { startedAt: at - TIMINGS.total, ...TIMINGS },
    synthetic: false,
    at,
    ...extra,
  };
}

/**
 * A small session covering every HAR feature: an HTTPS GET with a text body, a gzip body, a POST with a binary
 * body, a capped body, a WebSocket with text and binary frames, a failed handshake and a passthrough tunnel.
 */
export function sampleSession(blobs: BlobSink, t0 = Date.UTC(2026, 10, 22, 5, 10, 0)): ProxyEvent[] {
  const client = { address: '127.0.0.1', port: 50000 };
  const json = Buffer.from('{"hello":"world"}');
  const gzipText = Buffer.from('compressed '.repeat(50));
  const binary = Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0x80, 0x81]);
  const capped = Buffer.from('x'.repeat(100));
  const reqHeaders: HeaderList = [
    ['Host', 'example.test'],
    ['Cookie', 'a=1; b=2'],
    ['User-Agent', 'test'],
  ];
  const events: ProxyEvent[] = [
    { type: 'connection-open', conn: 'c1', client, mode: 'explicit', at: t0 },
    { type: 'connect', conn: 'c1', host: 'example.test', port: 443, at: t0 },
    ...tlsSetup('c1', 'example.test', t0),
    request('c1.1', 'c1', 'https://example.test/api?x=1&y=two', t0 + 10, { headers: reqHeaders }),
    { type: 'secrets-found', id: 'c1.1', conn: 'c1', secrets: [{ kind: 'cookie', name: 'a', value: '1', location: 'request-header' }], at: t0 + 10 },
    response('c1.1', 'c1', t0 + 21, {
      headers: [['Content-Type', 'application/json; charset=utf-8'], ['Set-Cookie', 'sid=abc; Path=/; HttpOnly; Secure']],
      body: bodyRef(blobs, json, { mimeType: 'application/json' }),
    }),
    request('c1.2', 'c1', 'https://example.test/gz', t0 + 30),
    response('c1.2', 'c1', t0 + 41, {
      headers: [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']],
      body: bodyRef(blobs, gzipText, { wireSize: gzipSync(gzipText).length, encoding: 'gzip', decoded: true, mimeType: 'text/plain' }),
    }),
    request('c1.3', 'c1', 'https://example.test/upload', t0 + 50, {
      method: 'POST',
      headers: [['Host', 'example.test'], ['Content-Type', 'application/octet-stream'], ['Content-Length', String(binary.length)]],
      body: bodyRef(blobs, binary, { mimeType: 'application/octet-stream' }),
    }),
    response('c1.3', 'c1', t0 + 61, {
      status: 201,
      statusText: 'Created',
      headers: [['Content-Type', 'application/octet-stream']],
      body: bodyRef(blobs, binary, { mimeType: 'application/octet-stream' }),
    }),
    request('c1.4', 'c1', 'https://example.test/big', t0 + 70),
    response('c1.4', 'c1', t0 + 81, {
      body: bodyRef(blobs, capped, { wireSize: 5000, truncated: true, mimeType: 'text/plain' }),
    }),
    { type: 'connection-close', conn: 'c1', bytesIn: 1000, bytesOut: 2000, at: t0 + 90 },

    { type: 'connection-open', conn: 'c2', client: { address: '127.0.0.1', port: 50001 }, mode: 'explicit', at: t0 + 100 },
    { type: 'connect', conn: 'c2', host: 'ws.example.test', port: 443, at: t0 + 100 },
    ...tlsSetup('c2', 'ws.example.test', t0 + 100),
    request('c2.1', 'c2', 'https://ws.example.test/socket', t0 + 110, {
      headers: [['Host', 'ws.example.test'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade']],
    }),
    response('c2.1', 'c2', t0 + 115, { status: 101, statusText: 'Switching Protocols', headers: [['Upgrade', 'websocket']] }),
    { type: 'ws-open', id: 'c2.1', conn: 'c2', url: 'wss://ws.example.test/socket', protocol: null, extensions: null, at: t0 + 115 },
    { type: 'ws-message', id: 'c2.1', conn: 'c2', direction: 'send', opcode: 1, size: 5, data: 'hello', truncated: false, at: t0 + 120 },
    { type: 'ws-message', id: 'c2.1', conn: 'c2', direction: 'receive', opcode: 2, size: 3, data: Buffer.from([1, 2, 3]).toString('base64'), truncated: false, at: t0 + 125 },
    { type: 'ws-close', id: 'c2.1', conn: 'c2', code: 1000, reason: '', by: 'client', at: t0 + 130 },
    { type: 'connection-close', conn: 'c2', bytesIn: 100, bytesOut: 100, at: t0 + 131 },

    { type: 'connection-open', conn: 'c3', client: { address: '127.0.0.1', port: 50002 }, mode: 'explicit', at: t0 + 200 },
    { type: 'connect', conn: 'c3', host: 'refused.test', port: 443, at: t0 + 200 },
    { type: 'tls-client-hello', conn: 'c3', leg: 'client', hello: clientHello('refused.test'), fingerprints: FINGERPRINTS, raw: '', at: t0 + 201 },
    {
      type: 'tls-failed',
      conn: 'c3',
      leg: 'client',
      host: 'refused.test',
      cause: 'cert-rejected',
      message: "The browser refused mitmlab's certificate for refused.test: it does not trust the lab CA.",
      alert: 'unknown_ca',
      at: t0 + 205,
    },
    { type: 'connection-close', conn: 'c3', bytesIn: 300, bytesOut: 1500, at: t0 + 206 },

    { type: 'connection-open', conn: 'c4', client: { address: '127.0.0.1', port: 50003 }, mode: 'explicit', at: t0 + 300 },
    { type: 'connect', conn: 'c4', host: 'bank.test', port: 443, at: t0 + 300 },
    { type: 'tunnel', conn: 'c4', host: 'bank.test', port: 443, reason: 'passthrough', at: t0 + 301 },
    { type: 'connection-close', conn: 'c4', bytesIn: 4000, bytesOut: 9000, at: t0 + 400 },
  ];
  return events;
}
