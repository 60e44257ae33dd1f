import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseAlert,
  parseCertificate,
  parseChangeCipherSpec,
  parseClientKeyExchange,
  parseServerHelloDone,
  parseServerKeyExchange,
  readHandshakeMessage,
} from '../../../server/tls/handshake-messages.js';
import { handshakeMessages, sideBytes, splitRecords } from './fixtures.js';

const serverFlight = handshakeMessages(sideBytes('tls12', 'server'));
const clientFlight = handshakeMessages(sideBytes('tls12', 'client'));

describe('TLS 1.2 server flight (captured from a Node TLS server)', () => {
  it('is ServerHello, Certificate, ServerKeyExchange, ServerHelloDone', () => {
    expect(serverFlight.map((m) => m[0])).toEqual([2, 11, 12, 14]);
    const framed = readHandshakeMessage(Buffer.concat(serverFlight), serverFlight[0]!.length);
    expect(framed.kind === 'ok' && framed.value.name).toBe('Certificate');
  });

  it('Certificate: one DER certificate that X509Certificate reads', () => {
    const r = parseCertificate(serverFlight[1]!);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.value.certificates).toHaveLength(1);
    const cert = new X509Certificate(r.value.certificates[0]!);
    expect(cert.subject).toContain('CN=mitmlab.test');
  });

  it('ServerKeyExchange: ECDHE on x25519, 32-byte key, RSA-PSS signature', () => {
    const r = parseServerKeyExchange(serverFlight[2]!);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.value).toMatchObject({ kind: 'ecdhe', curveType: 3, namedCurve: 29, publicKeyLength: 32, signatureScheme: 0x0804, signatureLength: 256 });
  });

  it('ServerHelloDone is empty; ClientKeyExchange carries the 33-byte ECPoint vector', () => {
    expect(parseServerHelloDone(serverFlight[3]!)).toMatchObject({ kind: 'ok', length: 4 });
    expect(clientFlight.map((m) => m[0])).toEqual([1, 16]);
    expect(parseClientKeyExchange(clientFlight[1]!)).toMatchObject({ kind: 'ok', value: { length: 33 } });
  });

  it('every strict prefix of each message is incomplete, the wrong type is invalid', () => {
    const parsers = [parseCertificate, parseServerKeyExchange, parseServerHelloDone] as const;
    serverFlight.slice(1).forEach((msg, i) => {
      const parse = parsers[i]!;
      for (let n = 0; n < msg.length; n++) expect(parse(msg.subarray(0, n)).kind).toBe('incomplete');
      expect(parse(clientFlight[1]!)).toMatchObject({ kind: 'invalid' });
    });
  });

  it('rejects malformed bodies with an offset', () => {
    const cert = Buffer.from(serverFlight[1]!);
    cert.writeUIntBE(cert.readUIntBE(4, 3) + 1, 4, 3); // certificate_list longer than the message
    expect(parseCertificate(cert)).toMatchObject({ kind: 'invalid', offset: expect.any(Number) });
    const ske = Buffer.from(serverFlight[2]!);
    ske[4] = 1; // explicit_prime curve type: not named_curve
    expect(parseServerKeyExchange(ske)).toMatchObject({ kind: 'invalid', offset: 4 });
    expect(parseServerHelloDone(Buffer.from([14, 0, 0, 1, 0]))).toMatchObject({ kind: 'invalid' });
  });

  it('decodes a DHE ServerKeyExchange', () => {
    const p = Buffer.alloc(256, 0xff);
    const vec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    const body = Buffer.concat([vec(p), vec(Buffer.from([2])), vec(Buffer.alloc(256, 5)), Buffer.from([0x08, 0x04]), vec(Buffer.alloc(256, 9))]);
    const msg = Buffer.concat([Buffer.from([12, 0, body.length >> 8, body.length & 0xff]), body]);
    expect(parseServerKeyExchange(msg, { kind: 'dhe' })).toMatchObject({ kind: 'ok', value: { kind: 'dhe', primeBits: 2048, publicKeyLength: 256, signatureScheme: 0x0804 } });
  });
});

describe('ChangeCipherSpec and alerts', () => {
  it('reads the captured ChangeCipherSpec record', () => {
    const ccs = splitRecords(sideBytes('tls12', 'client')).find((r) => r.type === 20)!;
    expect(parseChangeCipherSpec(ccs.fragment)).toEqual({ kind: 'ok', value: { value: 1 }, length: 1 });
    expect(parseChangeCipherSpec(Buffer.alloc(0)).kind).toBe('incomplete');
    expect(parseChangeCipherSpec(Buffer.from([2])).kind).toBe('invalid');
  });

  it('reads the unknown_ca alert curl sent refusing a self-signed certificate', () => {
    const alert = splitRecords(sideBytes('tls12-alert', 'client')).find((r) => r.type === 21)!;
    expect(parseAlert(alert.fragment)).toEqual({ kind: 'ok', value: { level: 'fatal', description: 48, name: 'unknown_ca' }, length: 2 });
    expect(parseAlert(Buffer.from([1, 0]))).toMatchObject({ kind: 'ok', value: { level: 'warning', name: 'close_notify' } });
    expect(parseAlert(Buffer.from([2]))).toEqual({ kind: 'incomplete', need: 1 });
    expect(parseAlert(Buffer.from([7, 0]))).toMatchObject({ kind: 'invalid', offset: 0 });
  });
});
