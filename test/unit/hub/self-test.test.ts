import { describe, expect, it } from 'vitest';
import { probeId, SelfTests } from '../../../server/hub/self-test.js';
import type { ClientHello } from '../../../server/protocol/tls.js';

describe('SelfTests', () => {
  it('reports nothing seen when the probe never reached the proxy', () => {
    const tests = new SelfTests();
    const { id, probeUrl } = tests.start(0);
    expect(probeUrl).toBe(`https://${id}.selftest.mitmlab.test/`);
    tests.observe({ type: 'connect', conn: 'c1', host: 'other.test', port: 443, at: 1 });
    expect(tests.result(id)).toEqual({ id, viaProxy: false, clientTls: 'none', failure: null, requestSeen: false });
  });

  it('sees a trusted interception: CONNECT, client handshake, request', () => {
    const tests = new SelfTests();
    const { id } = tests.start(0);
    const host = `${id}.selftest.mitmlab.test`;
    tests.observe({ type: 'connect', conn: 'c1', host, port: 443, at: 1 });
    tests.observe({ type: 'tls-established', conn: 'c1', leg: 'upstream', version: 'TLSv1.3', cipher: 'x', alpn: null, sni: host, resumed: false, group: null, groupBits: null, sharedSigalgs: [], connectMs: 1, handshakeMs: 1, at: 2 });
    expect(tests.result(id)!.clientTls).toBe('none');
    tests.observe({ type: 'tls-established', conn: 'c1', leg: 'client', version: 'TLSv1.3', cipher: 'x', alpn: null, sni: host, resumed: false, group: null, groupBits: null, sharedSigalgs: [], connectMs: null, handshakeMs: 1, at: 2 });
    tests.observe({ type: 'http-request', id: 'c1.1', conn: 'c1', method: 'GET', url: `https://${host}/`, httpVersion: '1.1', headers: [], body: null, client: { address: '127.0.0.1', port: 1 }, at: 3 });
    expect(tests.result(id)).toMatchObject({ viaProxy: true, clientTls: 'established', requestSeen: true });
  });

  it('sees a refused certificate, also when only the SNI names the probe (transparent mode)', () => {
    const tests = new SelfTests();
    const { id } = tests.start(0);
    const hello = { serverName: `${id}.selftest.mitmlab.test` } as ClientHello;
    tests.observe({ type: 'tls-client-hello', conn: 'c7', leg: 'client', hello, fingerprints: { ja3: '', ja3Hash: '', ja4: '', ja4r: '' }, raw: '', at: 1 });
    tests.observe({ type: 'tls-failed', conn: 'c7', leg: 'client', host: '', cause: 'cert-rejected', message: 'The browser refused…', alert: 'bad_certificate', at: 2 });
    expect(tests.result(id)).toMatchObject({ viaProxy: true, clientTls: 'failed', failure: { cause: 'cert-rejected' } });
  });

  it('parses only well-formed probe names and expires old tests', () => {
    expect(probeId('0123456789abcdef.selftest.mitmlab.test.')).toBe('0123456789abcdef');
    expect(probeId('x.0123456789abcdef.selftest.mitmlab.test')).toBeNull();
    expect(probeId('selftest.mitmlab.test')).toBeNull();
    const tests = new SelfTests();
    const { id } = tests.start(0);
    tests.start(11 * 60_000);
    expect(tests.result(id)).toBeNull();
  });
});
