// A miniature interception over loopback for pcapng tests, independent of the proxy core: a client talks TLS to a
// "front" that terminates it and re-originates TLS to an HTTPS origin, relaying the decrypted bytes. Both legs'
// raw bytes are recorded through TeeSocket (as the core does) and every key log line is kept.
// Returns the events a real session would hold for that connection.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { TeeSocket } from '../../../server/core/tee-socket.js';
import { TlsTranscript } from '../../../server/tls/transcript.js';
import type { BlobSink } from '../../../server/events/blob-sink.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';

export interface TestKeyPair {
  key: string;
  cert: string;
}

/** A throwaway self-signed EC certificate for localhost, made per run with openssl. */
export function selfSigned(): TestKeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'mitmlab-pki-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Recorded {
  in: Buffer[];
  out: Buffer[];
  /** The core's transcript over the same bytes: its ladder and the records' arrival order, as the core records them. */
  transcript: TlsTranscript;
}

function recorder(): Recorded & { onIn(chunk: Buffer): void; onOut(chunk: Buffer): void } {
  const started = performance.now();
  const r: Recorded = { in: [], out: [], transcript: new TlsTranscript({ budgetBytes: 16 * 1024 * 1024 }) };
  return {
    ...r,
    onIn: (chunk) => {
      r.in.push(Buffer.from(chunk));
      r.transcript.feed('in', chunk, performance.now() - started);
    },
    onOut: (chunk) => {
      r.out.push(Buffer.from(chunk));
      r.transcript.feed('out', chunk, performance.now() - started);
    },
  };
}

export interface MitmRun {
  events: ProxyEvent[];
  /** Requests the origin answered, "METHOD path". */
  served: string[];
}

/**
 * Runs `requests` over one intercepted keep-alive connection and returns its events (bytes put in `blobs`).
 * `maxVersion` caps both legs' TLS version.
 */
export async function interceptOnce(
  blobs: BlobSink,
  pki: TestKeyPair,
  requests: Array<{ method: string; path: string; body?: string }>,
  maxVersion: tls.SecureVersion = 'TLSv1.3',
  conn = 'c1',
): Promise<MitmRun> {
  const served: string[] = [];
  const origin = https.createServer({ ...pki, maxVersion }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      served.push(`${req.method} ${req.url}`);
      res.end(`origin saw ${req.method} ${req.url} with ${Buffer.concat(chunks).length} bytes`);
    });
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originPort = (origin.address() as net.AddressInfo).port;

  const keylog: { client: string[]; upstream: string[] } = { client: [], upstream: [] };
  const front = recorder();
  const back = recorder();
  let clientEndpoint = { address: '127.0.0.1', port: 0 };
  const legsClosed: Promise<void>[] = [];
  const t0 = Date.now();

  const mitm = net.createServer((socket) => {
    clientEndpoint = { address: socket.remoteAddress!, port: socket.remotePort! };
    const frontTee = new TeeSocket(socket, front);
    const frontTls = new tls.TLSSocket(frontTee, { isServer: true, ...pki, maxVersion });
    const raw = net.connect(originPort, '127.0.0.1');
    const backTee = new TeeSocket(raw, back);
    const backTls = tls.connect({ socket: backTee, servername: 'localhost', rejectUnauthorized: false, maxVersion });
    backTls.on('keylog', (line: Buffer) => keylog.upstream.push(line.toString('latin1').trim()));
    frontTls.pipe(backTls);
    backTls.pipe(frontTls);
    frontTls.on('error', () => backTls.destroy());
    backTls.on('error', () => frontTls.destroy());
    legsClosed.push(new Promise((resolve) => socket.on('close', () => resolve())));
    legsClosed.push(new Promise((resolve) => raw.on('close', () => resolve())));
  });
  await new Promise<void>((resolve) => mitm.listen(0, '127.0.0.1', resolve));
  const mitmPort = (mitm.address() as net.AddressInfo).port;

  // The client's key log gives the client leg's secrets (both ends of a TLS connection derive the same ones).
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, maxVersion });
  agent.on('keylog', (line: Buffer) => keylog.client.push(line.toString('latin1').trim()));
  for (const request of requests) {
    await new Promise<void>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: mitmPort, method: request.method, path: request.path, agent, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(request.body);
    });
  }
  agent.destroy();
  await Promise.all(legsClosed);
  mitm.close();
  origin.close();
  const t1 = Date.now();

  const put = (chunks: Buffer[]) => (chunks.length > 0 ? blobs.put(Buffer.concat(chunks)) : null);
  const events: ProxyEvent[] = [
    { type: 'connection-open', conn, client: clientEndpoint, mode: 'explicit', at: t0 },
    { type: 'connect', conn, host: 'localhost', port: originPort, at: t0 },
    ...keylog.upstream.map((line): ProxyEvent => ({ type: 'tls-keylog', conn, leg: 'upstream', line, at: t0 + 1 })),
    ...keylog.client.map((line): ProxyEvent => ({ type: 'tls-keylog', conn, leg: 'client', line, at: t0 + 1 })),
    ...(['upstream', 'client'] as const).map((leg): ProxyEvent => {
      const side = leg === 'upstream' ? back : front;
      const t = side.transcript;
      return { type: 'tls-transcript', conn, leg, steps: t.steps, rawIn: put(side.in), rawOut: put(side.out), truncated: false, appRecords: t.appRecords, appBytes: t.appBytes, order: t.order, at: t1 };
    }),
    { type: 'connection-close', conn, bytesIn: 0, bytesOut: 0, at: t1 },
  ];
  return { events, served };
}
