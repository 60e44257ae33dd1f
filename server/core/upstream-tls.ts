// mitmlab ↔ origin: a TLS client connection through a tee (so its raw bytes are recorded), verified by the four
// browser checks. Sessions are resumed per origin and name (upstream-sessions.ts); a resumed handshake carries no
// certificates, so it reports the chain and verdict of the full handshake that made the session.

import type { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamVerification } from '../protocol/tls.js';
import { nameCheck } from '../tls/verification.js';
import { UpstreamSessions } from './upstream-sessions.js';
import type { ProxyContext } from './context.js';
import { connectTcp, DestinationError } from './destination.js';
import { LegRecorder } from './leg-recorder.js';
import { OriginPool } from './origin-pool.js';
import { TeeSocket } from './tee-socket.js';
import { establishedEvent } from './tls-established.js';

export interface UpstreamTls {
  socket: tls.TLSSocket;
  recorder: LegRecorder;
  chain: X509Certificate[];
  verification: UpstreamVerification;
  address: string;
  /** DNS + TCP time, ms. */
  connectMs: number;
  handshakeMs: number;
}

export interface UpstreamTarget {
  host: string;
  port: number;
  /** SNI to send: the browser's SNI, else the CONNECT host when it is a name; null for IP literals. */
  servername: string | null;
  /** The browser's address (see connectTcp: what a client on another machine may reach). */
  from: string;
}

/**
 * Opens and verifies a TLS connection to the origin. Rejects with a coded error for DNS, TCP and TLS failures.
 * `abandon` (the browser left) closes the connection if it comes before the handshake is over.
 */
export async function openUpstreamTls(ctx: ProxyContext, conn: string, target: UpstreamTarget, abandon?: AbortSignal): Promise<UpstreamTls> {
  const tcpStarted = performance.now();
  const tcp = await connectTcp(target.host, target.port, ctx.destination, target.from);
  // A stop closes origin connections still in their handshake too (the browser side alone would not end them).
  ctx.upstreamSockets.add(tcp.socket);
  tcp.socket.once('close', () => ctx.upstreamSockets.delete(tcp.socket));
  if (ctx.stopping || abandon?.aborted) tcp.socket.destroy(); // connected just after the stop closed the others, or the browser left
  const onAbandon = (): void => void tcp.socket.destroy();
  abandon?.addEventListener('abort', onAbandon, { once: true });
  tcp.socket.once('close', () => abandon?.removeEventListener('abort', onAbandon));
  const recorder = new LegRecorder(ctx.bus, ctx.blobs, conn, 'upstream', ctx.config.tlsCaptureBudget, tcpStarted, ctx.unfinished);
  const tee = new TeeSocket(tcp.socket, recorder);
  // A FIN from the origin (it closed) and a reset both reach Node's TLS client as ECONNRESET: note which it was.
  let peerClosed = false;
  tcp.socket.once('end', () => (peerClosed = true));
  const started = performance.now();
  const sessionKey = UpstreamSessions.key(target.host, target.port, target.servername);
  const own = ctx.upstreamSessions.get(sessionKey);
  // A first connection for this name may resume a session of another name on the same server whose certificate is
  // valid for this one (upstream-sessions.ts); it is checked against this name as if it had just been presented.
  const servername = target.servername;
  const cached =
    own ??
    (servername !== null && !net.isIP(servername)
      ? ctx.upstreamSessions.sibling(tcp.address, target.port, (entry) => nameCheck(entry.chain[0], servername).ok)
      : undefined);
  // On a client socket, Node 20's getPeerX509Certificate() takes the leaf off OpenSSL's peer chain (a second call
  // gives the next certificate, or undefined: seen on loopback), so the leaf is read once and kept here.
  let peerLeaf: X509Certificate | undefined;
  const socket = tls.connect({
    socket: tee,
    ...(cached ? { session: cached.session } : {}),
    // Node checks the name against `servername`, else `host`: give it the name the browser asked for.
    host: target.servername ?? target.host,
    // RFC 6066 §3: SNI carries host names only, never IP literals.
    ...(target.servername && !net.isIP(target.servername) ? { servername: target.servername } : {}),
    secureContext: ctx.upstreamTls,
    rejectUnauthorized: false, // we verify below and answer the browser with the reason
    ALPNProtocols: ['http/1.1'],
    // Node's name check, from the X509Certificate (see withoutPeerCertificateObject); the error code is Node's own.
    checkServerIdentity: (hostname: string) => {
      peerLeaf = socket.getPeerX509Certificate();
      const check = nameCheck(peerLeaf, hostname);
      return check.ok ? undefined : Object.assign(new Error(check.reason), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    },
  });
  const restorePeerCertificate = withoutPeerCertificateObject(socket);
  socket.on('keylog', (line: Buffer) => {
    ctx.bus.emit({ type: 'tls-keylog', conn, leg: 'upstream', line: line.toString('latin1').trimEnd(), at: Date.now() });
  });
  socket.once('close', () => recorder.finish());
  tcp.socket.once('close', () => setImmediate(() => recorder.finish())); // backstop, as for the browser's leg
  // TLS 1.3 tickets arrive after the handshake, when the chain and verdict they go with are known; a TLS 1.2 session
  // comes during the handshake, before them, and waits here until they are.
  let resolved: { chain: X509Certificate[]; verification: UpstreamVerification } | null = null;
  let early: Buffer | null = null;
  const keepSession = (session: Buffer): void => {
    if (!resolved) return void (early = session);
    ctx.upstreamSessions.set(sessionKey, { session, ...resolved, address: tcp.address, port: target.port, tls13: socket.getProtocol() === 'TLSv1.3' });
  };
  socket.on('session', keepSession);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DestinationError('HANDSHAKE_TIMEOUT', `TLS handshake with ${target.host} timed out`));
    }, ctx.config.timeouts.handshakeMs);
    socket.once('secureConnect', () => {
      restorePeerCertificate();
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      restorePeerCertificate();
      clearTimeout(timer);
      recorder.emitHellos();
      reject(Object.assign(error, recorder.failureFacts(), { peerClosed }));
    });
    // Destroyed without an error (mitmlab stopping): the handshake is over, and its timer must not keep the process up.
    socket.once('close', () => {
      clearTimeout(timer);
      reject(Object.assign(new DestinationError('ECONNRESET', `the connection to ${target.host} closed during the TLS handshake`), recorder.failureFacts(), { peerClosed }));
    });
  });
  const handshakeMs = performance.now() - started;
  // From here the connection is the browser connection's to keep or close.
  abandon?.removeEventListener('abort', onAbandon);
  let chain: X509Certificate[];
  let verification: UpstreamVerification;
  if (cached && socket.isSessionReused()) {
    // Resumed: no certificates crossed the wire; report what the full handshake showed (for this name).
    chain = cached.chain;
    verification = cached === own ? cached.verification : ctx.certMemo.verify(chain, target.servername ?? target.host, null);
  } else {
    if (own) ctx.upstreamSessions.delete(sessionKey); // the origin declined to resume
    chain = peerChain(peerLeaf ?? socket.getPeerX509Certificate());
    const nodeError = socket.authorized ? null : String(socket.authorizationError ?? 'UNKNOWN');
    verification = ctx.certMemo.verify(chain, target.servername ?? target.host, nodeError);
  }
  resolved = { chain, verification };
  if (early) keepSession(early);
  const endRecording = (): void => {
    tee.detach();
    recorder.finish();
    recorder.release();
  };
  ctx.originPool.note(socket, { key: OriginPool.key(target), conn, chain, verification, endRecording });
  recorder.emitHellos();
  ctx.bus.emit(establishedEvent(socket, { conn, leg: 'upstream', sni: target.servername, connectMs: tcp.connectMs + tcp.dnsMs, handshakeMs }));
  return { socket, recorder, chain, verification, address: tcp.address, connectMs: tcp.dnsMs + tcp.connectMs, handshakeMs };
}

/**
 * Node's TLS client calls getPeerCertificate(true) after each full handshake only to hand the result to
 * checkServerIdentity (lib/_tls_wrap.js, onConnectSecure): an object per certificate of the chain with three
 * fingerprints each, ~0.6 ms per handshake (measured in a CPU profile of the bench's first contacts). mitmlab's
 * checkServerIdentity reads the X509Certificate instead, so until the handshake ends that object is not built. The
 * returned function puts Node's method back.
 */
function withoutPeerCertificateObject(socket: tls.TLSSocket): () => void {
  const own = socket as tls.TLSSocket & { getPeerCertificate: tls.TLSSocket['getPeerCertificate'] };
  own.getPeerCertificate = ((detailed?: boolean) =>
    detailed ? {} : tls.TLSSocket.prototype.getPeerCertificate.call(socket)) as tls.TLSSocket['getPeerCertificate'];
  return () => {
    delete (own as Partial<typeof own>).getPeerCertificate;
  };
}

/**
 * The chain as the origin presented it, leaf first, linked through X509Certificate.issuerCertificate.
 * Not getPeerCertificate(true): it builds an object per certificate with three fingerprints each (~0.6 ms per
 * connection, measured), where the X509Certificate objects come ready from OpenSSL.
 */
function peerChain(leaf: X509Certificate | undefined): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert = leaf;
  while (cert && !seen.has(cert.serialNumber + cert.subject) && chain.length < 16) {
    seen.add(cert.serialNumber + cert.subject);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}
