// CONNECT handling: after "200 Connection Established", peek at the first bytes, then intercept TLS (terminate the
// browser's TLS with a minted certificate, open and verify our own TLS to the origin), tunnel passthrough hosts, or
// relay non-TLS bytes raw.

import type { X509Certificate } from 'node:crypto';
import type http from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { leafKeyTypeFor } from '../certs/key-choice.js';
import { normalizeHost } from '../certs/hostnames.js';
import type { Endpoint, EventOf } from '../protocol/events.js';
import type { ClientHello } from '../protocol/tls.js';
import { classifyClientFailure, classifyUpstreamFailure } from '../tls/failures.js';
import type { ConnectTarget } from './connect-target.js';
import type { ProxyContext } from './context.js';
import type { ExchangeSite } from './http-exchange.js';
import { LegRecorder } from './leg-recorder.js';
import { forgedNames, originSans, withinCaPermit } from './origin-names.js';
import { matchesAny } from './policy.js';
import { sniffClientHello } from './sniff.js';
import { establishedEvent } from './tls-established.js';
import { TeeSocket } from './tee-socket.js';
import { relayTunnel } from './tunnel.js';
import { failureAnswer, upstreamFailureFacts, type FailureAnswer } from './upstream-answer.js';
import { insecureAllowed, openVerifiedUpstream, UntrustedUpstreamError } from './upstream-agents.js';
import { OriginPool } from './origin-pool.js';
import { UpstreamLane } from './upstream-lane.js';
import { openUpstreamTls, type UpstreamTarget, type UpstreamTls } from './upstream-tls.js';

/** An intercepted browser connection, attached to its decrypted TLSSocket for the HTTP layer. */
export interface InterceptedConnection extends ExchangeSite {
  /** Where the tunnel goes (the CONNECT target). */
  target: { host: string; port: number };
  /** The name the browser checks our certificate against: SNI, else the CONNECT host. */
  certHost: string;
  /** host[:port] for request URLs: SNI, else the CONNECT host. */
  authority: string;
  upstreamTarget: UpstreamTarget;
  /** The origin connection(s), reused across the browser's requests; null when the origin failed. */
  lane: UpstreamLane | null;
  /** Set when the origin could not be reached or was refused: every request gets this answer. */
  failure: FailureAnswer | null;
  requests: number;
  /** Requests in flight (an idle timeout never cuts one off). */
  active: number;
}

const intercepted = new WeakMap<object, InterceptedConnection>();

/** The intercepted connection a decrypted socket belongs to. */
export function interceptedConnection(socket: object): InterceptedConnection | undefined {
  return intercepted.get(socket);
}

// A client that silently rejects our certificate (pinning) finishes the handshake and closes at once, without a
// request. A browser's idle spare connection also closes unused, but its sibling to the same host carried requests:
// only a close within this window, with no request to that host from that client in the last SIBLING_WINDOW_MS,
// is reported (documented in README).
const CLOSED_AFTER_HANDSHAKE_WINDOW_MS = 2_000;
const SIBLING_WINDOW_MS = 60_000;
// Server-speaks-first protocols (SMTP, SSH…) send nothing first: after this, relay raw.
const SILENCE_MS = 3_000;

/** Handles a CONNECT whose target already passed validation and the loop guard. */
export async function handleConnect(
  ctx: ProxyContext,
  httpLayer: http.Server,
  socket: Socket,
  head: Buffer,
  from: { conn: string; client: Endpoint; /** performance.now() at the accept. */ openedAt: number },
  target: Extract<ConnectTarget, { ok: true }>,
): Promise<void> {
  const { conn, client } = from;
  socket.setTimeout(0); // the tunnel has its own timeouts from here on
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  const sniffed = await sniffClientHello(socket, head, { silenceMs: SILENCE_MS, timeoutMs: ctx.config.timeouts.handshakeMs });
  switch (sniffed.kind) {
    case 'closed':
      // Only bytes that still looked like the start of a TLS hello are ever buffered here; they deserve a record.
      if (sniffed.buffered.length > 0) {
        emitHandshakeFailure(ctx, {
          type: 'tls-failed',
          conn,
          leg: 'client',
          host: target.host,
          cause: 'unknown',
          alert: null,
          message: `The client closed the tunnel to ${target.host} in the middle of its TLS ClientHello (${sniffed.buffered.length} bytes arrived); nothing was intercepted.`,
          at: Date.now(),
        });
      }
      socket.destroy();
      return;
    case 'silent':
      return relayTunnel(ctx, conn, socket, target.host, target.port, 'not-tls', Buffer.alloc(0));
    case 'not-tls':
      return relayTunnel(ctx, conn, socket, target.host, target.port, 'not-tls', sniffed.buffered);
    case 'invalid':
    case 'timeout': {
      const failure =
        sniffed.kind === 'timeout'
          ? classifyClientFailure({ leg: 'client', host: target.host, code: 'HANDSHAKE_TIMEOUT' })
          : sniffed.reason === 'unexpected-record-before-hello'
            ? { cause: 'unknown' as const, alert: null, message: `The client opened the tunnel to ${target.host} with a TLS record that is not a ClientHello (an alert, or data); mitmlab closed the connection.` }
            : sniffed.reason === 'sslv2-hello'
              ? // RFC 6176: SSL 2.0 is prohibited; OpenSSL 3 no longer reads its hello format.
                { cause: 'version-mismatch' as const, alert: null, message: `The client offered ${target.host} a connection in the SSL 2.0 hello format, which RFC 6176 prohibits and mitmlab does not speak; mitmlab closed the connection.` }
              : { cause: 'unknown' as const, alert: null, message: `The client sent a malformed TLS ClientHello for ${target.host} (${sniffed.reason}); mitmlab closed the connection.` };
      emitHandshakeFailure(ctx, { type: 'tls-failed', conn, leg: 'client', host: target.host, ...failure, at: Date.now() });
      socket.destroy();
      return;
    }
    case 'tls':
      break;
  }
  const sni = sniffed.hello.serverName;
  if (matchesAny([target.host, sni], ctx.config.passthrough)) {
    return relayTunnel(ctx, conn, socket, target.host, target.port, 'passthrough', sniffed.buffered);
  }
  await intercept(ctx, httpLayer, socket, from, target, sni, sniffed.hello, sniffed.message, sniffed.buffered);
}

/** Why a name is not a valid host name, or null when it is one. */
function invalidHostReason(name: string): string | null {
  const host = normalizeHost(name);
  return host.kind === 'invalid' ? host.reason : null;
}

/** The CA's NameConstraints in words when they leave the host out, else null. */
function outsideCaPermit(ctx: ProxyContext, certHost: string): readonly string[] | null {
  const host = normalizeHost(certHost);
  return host.kind !== 'invalid' && !ctx.caLimits.permits(host) ? ctx.caLimits.nameConstraints : null;
}

/** The application protocols the browser's leg speaks, in mitmlab's order of preference (ALPN, RFC 7301). */
const CLIENT_LEG_ALPN = ['http/1.1', 'http/1.0'];

async function intercept(
  ctx: ProxyContext,
  httpLayer: http.Server,
  socket: Socket,
  from: { conn: string; client: Endpoint; openedAt: number },
  target: Extract<ConnectTarget, { ok: true }>,
  sni: string | null,
  hello: ClientHello,
  helloMessage: Buffer,
  buffered: Buffer,
): Promise<void> {
  const { conn, client } = from;
  // The certificate is for the name the browser will check: SNI, else the CONNECT host (an IP SAN for IP literals;
  // without SNI, Node's SNICallback never fires, hence the per-connection TLSSocket below).
  const certHost = sni ?? target.host;
  const upstreamTarget: UpstreamTarget = {
    host: target.host,
    port: target.port,
    // An SNI that is not a host name (RFC 6066 §3: a DNS name) never goes on to the origin: the CONNECT target names
    // it instead. The browser's own leg still shows the SNI it sent, and the forged certificate cannot carry it.
    servername: sni !== null && invalidHostReason(sni) === null ? sni : target.kind === 'dns' ? target.host : null,
    from: client.address,
  };
  // The leg's clock starts at the accept, and the hello is on record as of now, when it arrived: the tee built
  // below (after the origin and the mint) replays it to TLS without reporting it again.
  const clientRecorder = new LegRecorder(ctx.bus, ctx.blobs, conn, 'client', ctx.config.tlsCaptureBudget, from.openedAt, ctx.unfinished);
  clientRecorder.onIn(buffered);
  clientRecorder.emitClientHello(hello, helloMessage);
  // Normally finished when the TLS socket closes (below); the TCP close is the backstop for any path that never built
  // one, so the leg's transcript is never left out (and a stop never waits for it in vain).
  socket.once('close', () => setImmediate(() => clientRecorder.finish()));

  // The origin's answer decides the forged certificate's names (they copy its SANs). When a certificate seen before
  // on this port covers the name, the browser's handshake starts now with that certificate and runs alongside the
  // origin's; otherwise it waits for the origin. Either way, requests wait for the origin's outcome (`ready`), so an
  // upstream failure is known before the first request is answered.
  // A browser that leaves while the origin is still being reached takes that attempt with it: nobody is left to use
  // it, and its timeout would otherwise be recorded as the origin's failure.
  const clientGone = new AbortController();
  const onClientClose = (): void => clientGone.abort();
  socket.once('close', onClientClose);
  const origin = connectOrigin(ctx, conn, upstreamTarget, certHost, clientGone.signal);
  // Handled below once the certificate is ready; a rejection during the mint must not go unhandled meanwhile.
  origin.then(() => socket.off('close', onClientClose)).catch(() => {});
  const predicted = ctx.originNames.predict(target.port, certHost);
  const names = withinCaPermit(predicted ?? forgedNames(certHost, originSans((await origin).chain[0])), certHost, ctx.caLimits.permits);
  // EC P-256 for clients that take it (cheaper to sign), RSA for the rest: see key-choice.ts.
  const forged = await ctx.certs.get(names, leafKeyTypeFor(hello, { tls13: tls.DEFAULT_MAX_VERSION === 'TLSv1.3' })).catch((error: unknown) => {
    ctx.bus.emit({ type: 'proxy-error', conn, id: null, code: 'internal', status: null, message: `Could not mint a certificate for ${certHost}: ${String(error)}`, at: Date.now() });
    return null;
  });
  if (!forged) {
    origin.then((upstream) => upstream.tls?.socket.destroy(), () => {});
    clientRecorder.finish();
    socket.destroy();
    return;
  }

  let state: InterceptedConnection | null = null;
  // Set when the connection could not be set up: its close is then not a client failure to classify.
  let aborted = false;
  const abort = (what: string, error: unknown): null => {
    ctx.bus.emit({ type: 'proxy-error', conn, id: null, code: 'internal', status: null, message: `${what}: ${String(error)}`, at: Date.now() });
    aborted = true;
    socket.destroy();
    return null;
  };
  const site = { conn, client, target, certHost, upstreamTarget };
  const ready = origin.then(
    (upstream) => {
      try {
        return (state = settle(ctx, site, upstream, forged.certDer));
      } catch (error) {
        // A certificate mitmlab could not summarize, or the like: nothing to serve this connection with.
        upstream.tls?.socket.destroy();
        return abort(`Could not set up the connection to ${certHost}`, error);
      }
    },
    (error: unknown) => abort(`Could not reach ${certHost}`, error),
  );
  /** Closes the origin side, now or once it is reached. */
  const dropUpstream = (): void => void ready.then((s) => s?.lane?.destroy());

  // The browser may have gone while mitmlab reached the origin and minted: nothing left to terminate. A browser that
  // only closed its side (FIN) leaves the socket half-open: it is closed here, or it stayed in CLOSE-WAIT for good.
  if (socket.destroyed || !socket.readable) {
    socket.destroy();
    clientRecorder.finish();
    dropUpstream();
    const failure = classifyClientFailure({ leg: 'client', host: certHost, code: 'CLIENT_HANGUP' });
    emitHandshakeFailure(ctx, { type: 'tls-failed', conn, leg: 'client', host: certHost, ...failure, at: Date.now() });
    return;
  }
  const tee = new TeeSocket(socket, clientRecorder, buffered);
  const clientTls = new tls.TLSSocket(tee, {
    isServer: true,
    secureContext: forged.context,
    // HTTP/2 on the client leg comes later. A client that offers only http/1.0 (curl --http1.0) gets it: node:http
    // serves 1.0. One that offers neither is refused by OpenSSL with no_application_protocol (RFC 7301 §3.2).
    ALPNProtocols: CLIENT_LEG_ALPN,
  });
  const started = performance.now();
  let secureAt = 0;
  const handshakeTimer = setTimeout(() => fail('HANDSHAKE_TIMEOUT'), ctx.config.timeouts.handshakeMs);

  let failed = false;
  function fail(code: string | undefined): void {
    if (failed) return;
    failed = true;
    clearTimeout(handshakeTimer);
    // OpenSSL calls junk after the hello a "wrong version number"; the transcript knows it was not TLS at all.
    if (clientRecorder.transcript.brokenIn && code !== 'HANDSHAKE_TIMEOUT') code = 'NOT_TLS_AFTER_HELLO';
    const failure = classifyClientFailure({
      leg: 'client',
      host: certHost,
      code,
      peerAlert: clientRecorder.peerAlert(),
      sentAlert: clientRecorder.failureFacts().sentAlert,
      outsideCaPermit: outsideCaPermit(ctx, certHost),
      invalidSni: sni === null ? null : invalidHostReason(sni),
      alpn: { offered: hello.alpn, spoken: CLIENT_LEG_ALPN },
    });
    emitHandshakeFailure(ctx, { type: 'tls-failed', conn, leg: 'client', host: certHost, ...failure, at: Date.now() });
    // A browser that refused the forged certificate got as far as seeing it: the origin attempt (which it would
    // otherwise take with it) runs on, bounded by its timeouts, so the record holds both chains, the other half of
    // that lesson. It is closed as soon as it settles (dropUpstream).
    if (failure.cause === 'cert-rejected') socket.off('close', onClientClose);
    clientTls.destroy();
    dropUpstream();
  }

  // Node's server TLSSocket over a JS stream reports neither an EOF during the handshake nor an alert after it:
  // watch the raw side for both, so a dead connection is closed and explained at once, not at a timeout.
  tee.once('end', () => {
    if (secureAt === 0) fail(clientRecorder.silentlyRejected() ? 'SILENT_CERT_REJECT' : 'CLIENT_HANGUP');
  });
  clientRecorder.onPeerAlert = (alert) => {
    if (secureAt === 0 || alert.level !== 'fatal') return;
    emitHandshakeFailure(ctx, {
      type: 'tls-failed',
      conn,
      leg: 'client',
      host: certHost,
      cause: 'unknown',
      alert: alert.name,
      message: `The client ended the TLS session for ${certHost} with the fatal alert ${alert.name}.`,
      at: Date.now(),
    });
    // The alert is still on its way into the TLS layer (this runs as the tee sees the bytes): let OpenSSL answer it
    // first, then close.
    setImmediate(() => clientTls.destroy());
  };

  clientTls.on('keylog', (line: Buffer) => {
    ctx.bus.emit({ type: 'tls-keylog', conn, leg: 'client', line: line.toString('latin1').trimEnd(), at: Date.now() });
  });
  clientTls.on('error', (error: NodeJS.ErrnoException) => {
    if (secureAt === 0) fail(error.code);
    else clientTls.destroy();
  });
  clientTls.once('secure', () => {
    clearTimeout(handshakeTimer);
    secureAt = performance.now();
    clientRecorder.emitHellos();
    ctx.bus.emit(
      establishedEvent(clientTls, {
        conn,
        leg: 'client',
        sni,
        serverHelloGroup: clientRecorder.serverHelloGroup(),
        connectMs: null,
        handshakeMs: secureAt - started,
      }),
    );
    // The HTTP layer reads the decrypted stream once the origin's outcome is known; until then the browser's first
    // request waits in the socket's buffer. Handed over at once when the outcome is in: a client that closes right
    // after its Finished has its EOF read in the same turn.
    const attach = (connection: InterceptedConnection | null): void => {
      if (!connection || clientTls.destroyed) return;
      intercepted.set(clientTls, connection);
      // The client closed its side while the origin was reached, before the HTTP layer listened: nothing to read.
      if (clientTls.readableEnded) return void clientTls.end();
      httpLayer.emit('connection', clientTls);
    };
    if (state) attach(state);
    else void ready.then(attach);
  });
  clientTls.once('close', () => {
    clearTimeout(handshakeTimer);
    // Closed before the handshake finished without an error Node reported: classify from the transcript.
    if (secureAt === 0 && !failed && !aborted) fail(clientRecorder.silentlyRejected() ? 'SILENT_CERT_REJECT' : 'ECONNRESET');
    clientRecorder.finish();
    dropUpstream();
    // A request still waiting in the socket for the origin's outcome counts as use too.
    const unused = (state?.requests ?? 0) === 0 && clientTls.readableLength === 0;
    const unusedQuickClose = !aborted && secureAt > 0 && unused && performance.now() - secureAt < CLOSED_AFTER_HANDSHAKE_WINDOW_MS;
    if (unusedQuickClose && !ctx.recentUse.usedSince(client.address, certHost, Date.now() - SIBLING_WINDOW_MS)) {
      const failure = classifyClientFailure({ leg: 'client', host: certHost, code: 'CLOSED_AFTER_HANDSHAKE' });
      emitHandshakeFailure(ctx, { type: 'tls-failed', conn, leg: 'client', host: certHost, ...failure, at: Date.now() });
    }
  });
}

/**
 * What the origin's outcome means for one intercepted connection: its certificates on record (the origin's chain and
 * the forged one the browser was given), the origin's names remembered for the next connection, and the state the
 * connection's requests use.
 */
function settle(
  ctx: ProxyContext,
  site: Pick<InterceptedConnection, 'conn' | 'client' | 'certHost' | 'upstreamTarget'> & { target: Extract<ConnectTarget, { ok: true }> },
  upstream: OriginOutcome,
  forgedDer: Buffer,
): InterceptedConnection {
  const { conn, target, certHost, upstreamTarget } = site;
  if (upstream.chain.length > 0) {
    if (upstream.tls) ctx.originNames.learn(target.port, certHost, originSans(upstream.chain[0]));
    ctx.bus.emit({
      type: 'tls-certificates',
      conn,
      host: certHost,
      upstream: upstream.chain.map((cert) => ctx.certMemo.summary(cert)),
      forged: [ctx.certMemo.summary(forgedDer), ctx.certMemo.summary(ctx.caDer)],
      verification: upstream.tls?.verification ?? upstream.verification!,
      insecureAllowed: upstream.insecure,
      at: Date.now(),
    });
  }
  return {
    conn,
    client: site.client,
    flowCount: 0,
    target: { host: target.host, port: target.port },
    certHost,
    authority: formatHostPort(certHost, target.port),
    upstreamTarget,
    lane: upstream.tls
      ? new UpstreamLane(
          async () => {
            const opened = await openVerifiedUpstream(ctx, conn, upstreamTarget);
            return { socket: opened.socket, sslMs: opened.handshakeMs };
          },
          upstream.tls.socket,
          // The browser connection closed: its idle origin connection waits for the next one (origin-pool.ts).
          (socket) => {
            if (ctx.stopping || !ctx.originPool.offer(socket)) socket.destroy();
          },
          (socket, resendable) => ctx.originPool.tooIdleFor(socket, resendable),
        )
      : null,
    failure: upstream.failure,
    requests: 0,
    active: 0,
  };
}

interface OriginOutcome {
  /** The origin connection: a new one, or an idle one another browser connection opened (`socket` only). */
  tls: Pick<UpstreamTls, 'socket' | 'verification'> | null;
  chain: X509Certificate[];
  verification: UpstreamTls['verification'] | null;
  failure: FailureAnswer | null;
  insecure: boolean;
}

/** Opens the upstream TLS leg and decides whether the browser may be served from it. */
async function connectOrigin(ctx: ProxyContext, conn: string, target: UpstreamTarget, certHost: string, clientGone: AbortSignal): Promise<OriginOutcome> {
  const pooled = ctx.originPool.take(OriginPool.key(target));
  if (pooled) {
    // Only verified connections (or ones --upstream-insecure let through, which the same key lets through again) are
    // pooled; the untrusted verdict is said again for this connection, as for a resumed session.
    const { socket, origin } = pooled;
    destroyOnError(socket);
    ctx.bus.emit({ type: 'upstream-reused', conn, from: origin.conn, host: certHost, at: Date.now() });
    if (!origin.verification.trusted) reportLetThrough(ctx, conn, certHost, origin.verification);
    const tls = { socket: socket as UpstreamTls['socket'], verification: origin.verification };
    return { tls, chain: origin.chain, verification: origin.verification, failure: null, insecure: !origin.verification.trusted };
  }
  let upstream: UpstreamTls;
  try {
    upstream = await openUpstreamTls(ctx, conn, target, clientGone);
  } catch (error) {
    // Given up because the browser left: not the origin's failure, and nothing to record of it.
    if (clientGone.aborted) return { tls: null, chain: [], verification: null, failure: failureAnswer(target.host, target.port, error), insecure: false };
    const facts = upstreamFailureFacts(error);
    // The live view's self-test probe has no origin by design (destination.ts): no TLS failed, so none is recorded
    // (the browser's own leg, which the self-test reads, is recorded as always).
    if (facts.code !== 'SELF_TEST_PROBE') {
      const failure = classifyUpstreamFailure({ ...facts, leg: 'upstream', host: certHost, port: target.port });
      emitHandshakeFailure(ctx, { type: 'tls-failed', conn, leg: 'upstream', host: certHost, ...failure, at: Date.now() });
    }
    return { tls: null, chain: [], verification: null, failure: failureAnswer(target.host, target.port, error), insecure: false };
  }
  destroyOnError(upstream.socket);
  if (upstream.verification.trusted) {
    return { tls: upstream, chain: upstream.chain, verification: upstream.verification, failure: null, insecure: false };
  }
  const reason = upstream.verification.reason ?? 'not trusted';
  if (insecureAllowed(ctx, target)) {
    reportLetThrough(ctx, conn, certHost, upstream.verification);
    return { tls: upstream, chain: upstream.chain, verification: upstream.verification, failure: null, insecure: true };
  }
  emitHandshakeFailure(ctx, {
    type: 'tls-failed',
    conn,
    leg: 'upstream',
    host: certHost,
    cause: 'upstream-untrusted',
    alert: null,
    message: `The certificate of ${certHost} failed verification (${reason}); mitmlab refused it, as a browser would.`,
    at: Date.now(),
  });
  upstream.socket.destroy();
  return {
    tls: null,
    chain: upstream.chain,
    verification: upstream.verification,
    failure: failureAnswer(target.host, target.port, new UntrustedUpstreamError(reason)),
    insecure: false,
  };
}

function destroySelf(this: Duplex): void {
  this.destroy();
}

/**
 * An origin connection that fails is closed (the lane or the next request notices). Added once per socket: a pooled
 * connection passes through many browser connections, and a listener per connection would pile up.
 */
function destroyOnError(socket: Duplex): void {
  if (!socket.listeners('error').includes(destroySelf)) socket.on('error', destroySelf);
}

/** Records that --upstream-insecure let an untrusted origin certificate through, unknown to the browser. */
function reportLetThrough(ctx: ProxyContext, conn: string, certHost: string, verification: UpstreamTls['verification']): void {
  ctx.bus.emit({
    type: 'proxy-error',
    conn,
    id: null,
    code: 'upstream-untrusted',
    status: null,
    message: `Upstream certificate not trusted (${verification.reason ?? 'not trusted'}) — the browser was not told: --upstream-insecure let ${certHost} through.`,
    at: Date.now(),
  });
}

function formatHostPort(host: string, port: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return port === 443 ? h : `${h}:${port}`;
}

/**
 * Records a failed handshake. While mitmlab stops, it closes both legs itself: the failure is then said to be that,
 * instead of a reset blamed on the origin or the browser.
 */
function emitHandshakeFailure(ctx: ProxyContext, event: EventOf<'tls-failed'>): void {
  if (!ctx.stopping) return ctx.bus.emit(event);
  ctx.bus.emit({ type: 'proxy-error', conn: event.conn, id: null, code: 'stopped', status: null, message: `mitmlab stopped during the ${event.leg === 'client' ? 'browser' : 'origin'} TLS handshake; what had arrived is recorded.`, at: Date.now() });
}
