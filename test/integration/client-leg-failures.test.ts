// Client-leg handshake failures that mitmlab itself ends, explained in words: a client whose signature algorithms
// mitmlab's certificate cannot meet (openssl s_client), a TLS 1.1 client (mitmlab's own alert is named), and an
// SSL 2.0-format hello.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { connectTunnel } from '../helpers/proxy-client.js';
import { run } from '../helpers/run.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: ['sigalgs.test', 'v11.test', 'v2.test'].map((name) => `${name}:127.0.0.1`) });
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

/** The client-leg failure for `host` (each case uses its own name). */
const clientFailure = (host: string) => mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.host === host);

describe('client-leg failures mitmlab ends', () => {
  it('a client that accepts no signature algorithm the certificate can make: no shared parameters, in words', async () => {
    const failed = clientFailure('sigalgs.test');
    await run('openssl', ['s_client', '-proxy', `127.0.0.1:${mitm.proxyPort}`, '-connect', `sigalgs.test:${origin.port}`, '-servername', 'sigalgs.test', '-tls1_3', '-sigalgs', 'ecdsa_secp384r1_sha384'], { input: '', timeoutMs: 15_000 });
    const event = await failed;
    expect(event.cause).toBe('no-shared-cipher');
    expect(event.message).toMatch(/signature algorithm/);
    expect(event.message).not.toMatch(/ERR_SSL/);
  });

  it('a TLS 1.1 client: version mismatch, with the alert mitmlab sent', async () => {
    const failed = clientFailure('v11.test');
    const socket = await connectTunnel(mitm.proxyPort, `v11.test:${origin.port}`);
    const client = tls.connect({ socket, servername: 'v11.test', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false });
    await new Promise((resolve) => {
      client.once('error', resolve);
      client.once('close', resolve);
    });
    const event = await failed;
    expect(event.cause).toBe('version-mismatch');
    expect(event.alert).toBe('protocol_version');
  });

  it('an SSL 2.0-format hello is called what it is, not malformed', async () => {
    const failed = clientFailure('v2.test');
    const socket = await connectTunnel(mitm.proxyPort, `v2.test:${origin.port}`);
    // RFC 5246 Appendix E.2: length with the high bit set, msg_type 1 (CLIENT-HELLO), version 3.1, then the rest.
    socket.write(Buffer.from('802b0103010012000000100100800700c0030080000004000080000039000038003300320016001300' + '00'.repeat(16), 'hex'));
    const event = await failed;
    socket.destroy();
    expect(event.cause).toBe('version-mismatch');
    expect(event.message).toMatch(/SSL 2\.0/);
  });
});
