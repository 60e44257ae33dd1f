// Upstream keep-alive (DESIGN.md §1): http.Agents whose sockets come from mitmlab's own connect path, so DNS
// overrides, the loop guard, the tee and the certificate checks apply to every upstream connection.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { ProxyContext } from './context.js';
import { connectTcp } from './destination.js';
import { matchesAny } from './policy.js';
import { openUpstreamTls, type UpstreamTarget, type UpstreamTls } from './upstream-tls.js';

type Oncreate = (err: Error | null, socket: Duplex) => void;

/** An Error for a refused origin certificate; `reason` names the failed check. */
export class UntrustedUpstreamError extends Error {
  readonly code = 'UPSTREAM_UNTRUSTED';
  constructor(readonly reason: string) {
    super(`upstream certificate not trusted: ${reason}`);
  }
}

/** True when --upstream-insecure lets this origin through despite a failed verification. */
export function insecureAllowed(ctx: ProxyContext, target: UpstreamTarget): boolean {
  return matchesAny([target.host, target.servername], ctx.config.upstreamInsecure);
}

/**
 * The upstream side of one intercepted browser connection. It starts with the connection opened eagerly during the
 * handshake and opens (and verifies) a new one when the origin closed it. One request at a time, like HTTP/1.1.
 */
export class InterceptAgent extends http.Agent {
  #spare: tls.TLSSocket | null;
  /** ms spent opening the connection the last request waited for (-1 when it reused one). */
  lastConnectMs = -1;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly conn: string,
    private readonly target: UpstreamTarget,
    first: UpstreamTls,
  ) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: ctx.config.timeouts.idleMs });
    this.#spare = first.socket;
  }

  /** Closes the pooled connections and the unused one from the handshake (its transcript is emitted on close). */
  override destroy(): void {
    this.#spare?.destroy();
    this.#spare = null;
    super.destroy();
  }

  /** Takes the connection made during the handshake, if still usable (e.g. for a WebSocket relay). */
  takeSpare(): tls.TLSSocket | null {
    const spare = this.#spare;
    this.#spare = null;
    return spare && !spare.destroyed && spare.writable ? spare : null;
  }

  override createConnection(_options: http.ClientRequestArgs, oncreate?: Oncreate): Duplex {
    const spare = this.takeSpare();
    if (spare) {
      this.lastConnectMs = -1;
      oncreate?.(null, spare);
      return undefined as unknown as Duplex; // the socket was handed over through the callback
    }
    const started = performance.now();
    openVerifiedUpstream(this.ctx, this.conn, this.target).then(
      (upstream) => {
        this.lastConnectMs = performance.now() - started;
        oncreate?.(null, upstream.socket);
      },
      (error: Error) => oncreate?.(error, undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }
}

/** Opens an upstream TLS connection and refuses it unless trusted or allowed by --upstream-insecure. */
export async function openVerifiedUpstream(ctx: ProxyContext, conn: string, target: UpstreamTarget): Promise<UpstreamTls> {
  const upstream = await openUpstreamTls(ctx, conn, target);
  if (!upstream.verification.trusted && !insecureAllowed(ctx, target)) {
    upstream.socket.destroy();
    throw new UntrustedUpstreamError(upstream.verification.reason ?? 'not trusted');
  }
  return upstream;
}

/** The shared pool for plain http:// forwarding: keep-alive, bounded per host. */
export class PlainAgent extends http.Agent {
  constructor(private readonly ctx: ProxyContext) {
    super({
      keepAlive: true,
      maxSockets: ctx.config.upstreamPoolPerHost,
      maxFreeSockets: ctx.config.upstreamPoolPerHost,
      maxTotalSockets: ctx.config.upstreamPoolPerHost * 16,
      timeout: ctx.config.timeouts.idleMs,
    });
  }

  override createConnection(options: http.ClientRequestArgs, oncreate?: Oncreate): Duplex {
    const host = String(options.host ?? '');
    const port = Number(options.port ?? 80);
    connectTcp(host, port, this.ctx.destination).then(
      (tcp) => oncreate?.(null, tcp.socket),
      (error: Error) => oncreate?.(error, undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }
}
