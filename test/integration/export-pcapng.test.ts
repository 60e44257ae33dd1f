// pcapng export against tshark as the oracle: the raw TLS bytes of both legs of a real loopback interception
// (a TLS-terminating relay built from node:tls and the core's TeeSocket) must decrypt with the embedded secrets
// alone, with sound TCP framing (no tshark analysis warnings, valid checksums).

import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureVersion } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { exportSession } from '../../server/store/export.js';
import { SessionStore } from '../../server/store/session-store.js';
import { requireTools } from '../helpers/tools.js';
import { interceptOnce, selfSigned, type TestKeyPair } from '../unit/store/loopback-mitm.js';

const haveTools = requireTools('tshark', 'openssl');

let dir: string;
let pki: TestKeyPair;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mitmlab-pcapng-'));
  if (haveTools) pki = selfSigned();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Records `events` as a session in a fresh data dir and exports it as pcapng; returns the file path. */
async function exportPcapng(name: string, record: (store: SessionStore) => Promise<ProxyEvent[]>): Promise<string> {
  const dataDir = join(dir, name);
  const store = await SessionStore.open({ dataDir, onWarning: () => {} });
  for (const event of await record(store)) store.record(event);
  await store.close();
  const file = join(dir, `${name}.pcapng`);
  const out = createWriteStream(file);
  await exportSession({ dataDir, session: 'latest', format: 'pcapng' }, out);
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return file;
}

function tshark(file: string, ...args: string[]): string[] {
  const output = execFileSync('tshark', ['-r', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return output.split('\n').filter((line) => line.trim() !== '');
}

const REQUESTS = [
  { method: 'GET', path: '/one' },
  { method: 'POST', path: '/two', body: 'x'.repeat(5000) },
];

describe.skipIf(!haveTools)('pcapng export (tshark)', () => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as SecureVersion[]) {
    it(`decrypts both legs of a ${version} interception with the embedded secrets only`, async () => {
      let served: string[] = [];
      const file = await exportPcapng(`both-${version}`, async (store) => {
        const run = await interceptOnce(store.blobs, pki, REQUESTS, version);
        served = run.served;
        return run.events;
      });
      expect(served).toEqual(['GET /one', 'POST /two']);
      // Two TCP streams (one per leg), each carrying both requests, decrypted.
      const requests = tshark(file, '-Y', 'http.request', '-T', 'fields', '-e', 'tcp.stream', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'ip.src', '-e', 'ip.dst');
      const byStream = new Map<string, string[]>();
      for (const line of requests) {
        const [stream, method, uri, src, dst] = line.split('\t');
        byStream.set(stream!, [...(byStream.get(stream!) ?? []), `${method} ${uri} ${src}>${dst}`]);
      }
      expect([...byStream.values()].map((list) => list.map((r) => r.split(' ').slice(0, 2).join(' ')))).toEqual([
        ['GET /one', 'POST /two'],
        ['GET /one', 'POST /two'],
      ]);
      // Client leg: the real client address towards mitmlab; upstream leg: mitmlab towards the origin.
      const endpoints = [...byStream.values()].map((list) => list[0]!.split(' ')[2]);
      expect(endpoints).toContain('127.0.0.1>192.0.2.1');
      expect(endpoints).toContain('192.0.2.2>198.51.100.1');
      // The responses decrypt too, each after its own request (tshark pairs them by order within the stream).
      expect(tshark(file, '-Y', 'http.response.code == 200')).toHaveLength(4);
      const pairs = tshark(file, '-Y', 'http.response', '-T', 'fields', '-e', 'tcp.stream', '-e', 'http.response_for.uri').map((line) => line.replace(/\thttps?:\/\/[^/]+/, '\t'));
      expect(pairs.sort()).toEqual(['0\t/one', '0\t/two', '1\t/one', '1\t/two']);
      // One ClientHello per leg.
      expect(tshark(file, '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'tcp.stream')).toEqual(['0', '1']);
    });
  }

  it('frames TCP soundly: no analysis warnings, valid IPv4 and TCP checksums, SYN and FIN per stream', async () => {
    const file = await exportPcapng('framing', async (store) => (await interceptOnce(store.blobs, pki, REQUESTS)).events);
    expect(tshark(file, '-Y', 'tcp.analysis.flags')).toEqual([]);
    const checks = tshark(file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status');
    expect(checks.length).toBeGreaterThan(20);
    // 1 = "Good" (0 would be "Bad", 2 "Unverified").
    expect(new Set(checks)).toEqual(new Set(['1\t1']));
    expect(tshark(file, '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0')).toHaveLength(2);
    expect(tshark(file, '-Y', 'tcp.flags.fin == 1')).toHaveLength(4);
  });

  it('does not decrypt without the secrets: the Decryption Secrets Block is what makes it work', async () => {
    const file = await exportPcapng('no-secrets', async (store) =>
      (await interceptOnce(store.blobs, pki, REQUESTS)).events.filter((event) => event.type !== 'tls-keylog'),
    );
    expect(tshark(file, '-Y', 'tls.handshake.type == 1')).toHaveLength(2);
    expect(tshark(file, '-Y', 'http.request')).toEqual([]);
  });

  it('keeps an IPv6 client address on the client leg', async () => {
    const file = await exportPcapng('ipv6', async (store) =>
      (await interceptOnce(store.blobs, pki, REQUESTS)).events.map((event) =>
        event.type === 'connection-open' ? { ...event, client: { address: '::1', port: 51000 } } : event,
      ),
    );
    const requests = tshark(file, '-Y', 'http.request && ipv6', '-T', 'fields', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ipv6.dst');
    expect(requests).toEqual(['::1\t51000\t2001:db8::1', '::1\t51000\t2001:db8::1']);
  });

  it('writes several connections, each with its own streams and secrets', async () => {
    const file = await exportPcapng('two-conns', async (store) => [
      ...(await interceptOnce(store.blobs, pki, [REQUESTS[0]!], 'TLSv1.3', 'c1')).events,
      ...(await interceptOnce(store.blobs, pki, [REQUESTS[1]!], 'TLSv1.2', 'c2')).events,
    ]);
    const requests = tshark(file, '-Y', 'http.request', '-T', 'fields', '-e', 'tcp.stream', '-e', 'http.request.uri');
    expect(requests).toEqual(['0\t/one', '1\t/one', '2\t/two', '3\t/two']);
  });

  it("starts the upstream leg where the live view's ladder does: tls-established at - handshakeMs - connectMs", async () => {
    let startedAt = 0;
    const file = await exportPcapng('upstream-start', async (store) => {
      const { events } = await interceptOnce(store.blobs, pki, [REQUESTS[0]!], 'TLSv1.3', 'c1');
      const closeAt = events.find((e) => e.type === 'tls-transcript')!.at;
      // An origin that took 150 ms to finish its handshake, after 20 ms of connect.
      const established: ProxyEvent = {
        type: 'tls-established', conn: 'c1', leg: 'upstream', version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', alpn: 'http/1.1', sni: 'localhost',
        resumed: false, group: 'x25519', groupBits: 253, sharedSigalgs: [], connectMs: 20, handshakeMs: 150, at: closeAt - 500,
      };
      startedAt = established.at - 150 - 20;
      return [...events.slice(0, 2), established, ...events.slice(2)];
    });
    // The upstream stream's SYN (stream 0 is upstream: its transcript comes first in the log).
    const syns = tshark(file, '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0', '-T', 'fields', '-e', 'tcp.stream', '-e', 'ip.dst', '-e', 'frame.time_epoch');
    const upstream = syns.map((line) => line.split('\t')).find(([, dst]) => dst === '198.51.100.1')!;
    expect(Math.abs(Number(upstream[2]) * 1000 - startedAt)).toBeLessThan(1);
  });
});
