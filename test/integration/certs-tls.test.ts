// A real TLS server on 127.0.0.1 serving CertCache contexts, and real clients (Node's tls, openssl s_client) that
// trust the lab CA and verify what they get.

import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCa, type LabCa } from '../../server/certs/ca.js';
import { CertCache } from '../../server/certs/context-cache.js';
import { normalizeHost } from '../../server/certs/hostnames.js';
import { loadOrCreateLeafKey } from '../../server/certs/leaf-key.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';
import { tempDir } from '../unit/certs/fixtures.js';

let ca: LabCa;
let cache: CertCache;
let server: tls.Server;
let port: number;
const sniSeen: string[] = [];

beforeAll(async () => {
  const dir = `${await tempDir()}/ca`;
  ca = await loadOrCreateCa({ dir });
  const leafKey = await loadOrCreateLeafKey({ dir });
  cache = new CertCache({ ca, leafKey });
  // Without SNI (an IP literal), the server falls back to a context for the address it was reached on.
  const fallback = await cache.get([{ kind: 'ip', address: '127.0.0.1', version: 4 }]);
  server = tls.createServer({
    // tls.Server builds its default context from key/cert options (it takes no SecureContext object).
    key: leafKey.contextKeyPem,
    cert: fallback.certPem + ca.certPem,
    SNICallback: (servername, done) => {
      sniSeen.push(servername);
      const host = normalizeHost(servername);
      if (host.kind === 'invalid') return done(new Error(host.reason));
      cache.get([host]).then((leaf) => done(null, leaf.context), done);
    },
  });
  server.on('secureConnection', (socket) => socket.end('hello over lab TLS\n'));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function connect(options: tls.ConnectionOptions): Promise<{ socket: tls.TLSSocket; data: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('end', () => resolve({ socket, data }));
    });
    socket.on('error', reject);
  });
}

describe('TLS with CertCache contexts', () => {
  it('a Node client that trusts the lab CA verifies example.test', async () => {
    const { socket, data } = await connect({ servername: 'example.test', ca: ca.certPem });
    expect(socket.authorized).toBe(true);
    expect(data).toBe('hello over lab TLS\n');
    const peer = socket.getPeerCertificate(true);
    expect(peer.subject.CN).toBe('example.test');
    expect(peer.subjectaltname).toBe('DNS:example.test');
    // The chain is leaf + lab CA: the issuer the client saw is our CA.
    expect(peer.issuerCertificate.fingerprint256).toBe(ca.sha256Fingerprint);
    expect(sniSeen).toContain('example.test');
  });

  it('an IP literal without SNI verifies against the IP SAN', async () => {
    const { socket } = await connect({ ca: ca.certPem });
    expect(socket.authorized).toBe(true);
    expect(new X509Certificate(socket.getPeerX509Certificate()!.raw).subjectAltName).toBe('IP Address:127.0.0.1');
  });

  it('an underscore host is served the parent wildcard and Node accepts it', async () => {
    const { socket } = await connect({ servername: 'a_b.example.test', ca: ca.certPem });
    expect(socket.authorized).toBe(true);
    expect(socket.getPeerCertificate().subjectaltname).toBe('DNS:*.example.test');
  });

  it('a client that does not trust the lab CA refuses the certificate', async () => {
    await expect(connect({ servername: 'example.test' })).rejects.toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  });

  it('a client checking another name refuses it', async () => {
    await expect(
      connect({ servername: 'example.test', ca: ca.certPem, checkServerIdentity: (_h, cert) => tls.checkServerIdentity('other.test', cert) }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it("chain: 'leaf' sends the leaf alone, which a client trusting the CA still verifies", async () => {
    const leafOnly = new CertCache({ ca, leafKey: await loadOrCreateLeafKey({ dir: ca.dir }), chain: 'leaf' });
    const minted = await leafOnly.get([{ kind: 'dns', name: 'leaf-only.test' }]);
    const other = tls.createServer({ SNICallback: (_name, done) => done(null, minted.context) }, (socket) => socket.end('ok\n'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: (other.address() as AddressInfo).port, servername: 'leaf-only.test', ca: ca.certPem }, () => resolve(s));
        s.on('error', reject);
      });
      expect(socket.authorized).toBe(true);
      const peer = socket.getPeerCertificate(true);
      expect(peer.subject.CN).toBe('leaf-only.test');
      // The issuer Node shows comes from the client's own trust store, not from the wire.
      expect(peer.issuerCertificate.fingerprint256).toBe(ca.sha256Fingerprint);
      socket.destroy();
      if (requireTools('openssl')) {
        const port2 = (other.address() as AddressInfo).port;
        const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port2}`, '-servername', 'leaf-only.test', '-CAfile', ca.certPath, '-showcerts'], { input: '', timeoutMs: 15_000 });
        expect(result.stdout.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(1);
      }
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it.skipIf(!requireTools('openssl'))('openssl s_client verifies the chain and the host name', async () => {
    const result = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'lab.example.test', '-CAfile', ca.certPath, '-verify_return_error', '-verify_hostname', 'lab.example.test', '-x509_strict', '-showcerts'],
      { input: '', timeoutMs: 15_000 },
    );
    expect(result.stdout).toContain('Verify return code: 0 (ok)');
    expect(result.stdout.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2); // leaf + CA
  });
});
