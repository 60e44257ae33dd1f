// Upstream connections made through mitmlab's own connect path, so DNS overrides, the loop guard, the tee and the
// certificate checks apply to every one: verified TLS for intercepted connections (see upstream-lane.ts for their
// keep-alive), and a bounded keep-alive pool for plain http:// forwarding.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyContext } from './context.js';
import { connectTcp } from './destination.js';
import { idleBoundMs } from './origin-pool.js';
import { isLocalAddress, matchesAny } from './policy.js';
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

/** Opens an upstream TLS connection and refuses it unless trusted or allowed by --upstream-insecure. */
export async function openVerifiedUpstream(ctx: ProxyContext, conn: string, target: UpstreamTarget): Promise<UpstreamTls> {
  const upstream = await openUpstreamTls(ctx, conn, target);
  if (!upstream.verification.trusted && !insecureAllowed(ctx, target)) {
    upstream.socket.destroy();
    throw new UntrustedUpstreamError(upstream.verification.reason ?? 'not trusted');
  }
  return upstream;
}

/** DNS + TCP ms of pool connections no request has used yet (the first request's HAR `connect` timing). */
const freshConnections = new WeakMap<Duplex, number>();

/** The connect time of a pool connection on its first use; -1 for a kept-alive one (or any later call). */
export function takeConnectMs(socket: Duplex): number {
  const ms = freshConnections.get(socket);
  if (ms === undefined) return -1;
  freshConnections.delete(socket);
  return ms;
}

/** What a request tells the pool beyond Node's options (Node's Agent passes unknown request options through). */
export interface PoolRequestOptions {
  /** The client's address. */
  mitmlabFrom?: string;
}

/** The shared pool for plain http:// forwarding: keep-alive, bounded per host. */
export class PlainAgent extends http.Agent {
  /** performance.now() past which a free connection is no longer handed out (idleBoundMs). */
  readonly #staleAt = new WeakMap<Duplex, number>();

  constructor(private readonly ctx: ProxyContext) {
    // Active connections are not capped (a capped pool would queue a request behind long polls and server-sent
    // events with no timeout); idle keep-alive connections are: that is the bounded part of the pool.
    super({
      keepAlive: true,
      maxFreeSockets: ctx.config.upstreamPoolPerHost,
      timeout: ctx.config.timeouts.idleMs,
    });
  }

  /**
   * Connections opened for a client on another machine are pooled apart from the rest: each was checked against what
   * such a client may reach (connectTcp), and must never be handed to the other kind.
   */
  override getName(options?: http.ClientRequestArgs & PoolRequestOptions): string {
    const from = options?.mitmlabFrom;
    const remote = from !== undefined && !isLocalAddress(from, this.ctx.destination.own.localAddresses);
    return `${super.getName(options)}${remote ? ':remote' : ''}`;
  }

  /**
   * A connection just became free: Node's Agent keeps it when this returns true (Node's typings say void, its code
   * reads the result), and closes it at the idle limit the origin announced. Its response's Keep-Alive field is read
   * where Node's own keepSocketAlive reads it.
   */
  override keepSocketAlive(socket: Duplex): void {
    const keepAlive = (socket as { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res?.headers['keep-alive'];
    this.#staleAt.set(socket, performance.now() + idleBoundMs(typeof keepAlive === 'string' ? keepAlive : undefined));
    return super.keepSocketAlive(socket);
  }

  /**
   * Node's Agent hands each request a free connection here (undocumented, but what every Agent subclass hooks, stable
   * since Node 0.x). Nothing on this path is sent twice when its connection fails (upstream-attempt.ts resends only
   * in a tunnel), so no request gets a connection idle past idleBoundMs, which the origin may close as the request
   * arrives (origin-pool.ts): those are closed first, and the Agent takes a fresher one or opens a new one, which
   * costs a TCP connect.
   */
  addRequest(req: http.ClientRequest, options: http.ClientRequestArgs & PoolRequestOptions): void {
    this.#closeStale(this.getName(options));
    (http.Agent.prototype as unknown as { addRequest: (req: http.ClientRequest, options: object) => void }).addRequest.call(this, req, options);
  }

  #closeStale(name: string): void {
    const free = (this.freeSockets as Record<string, Duplex[] | undefined>)[name];
    if (!free) return;
    const now = performance.now();
    for (const socket of free.filter((s) => now >= (this.#staleAt.get(s) ?? Infinity))) {
      // Out of the free list now, so the Agent cannot hand it out before its 'close' (which finds it gone).
      free.splice(free.indexOf(socket), 1);
      socket.destroy();
    }
    if (free.length === 0) delete (this.freeSockets as Record<string, Duplex[] | undefined>)[name];
  }

  override createConnection(options: http.ClientRequestArgs & PoolRequestOptions, oncreate?: Oncreate): Duplex {
    const host = String(options.host ?? '');
    const port = Number(options.port ?? 80);
    connectTcp(host, port, this.ctx.destination, options.mitmlabFrom).then(
      (tcp) => {
        freshConnections.set(tcp.socket, tcp.dnsMs + tcp.connectMs);
        oncreate?.(null, tcp.socket);
      },
      (error: Error) => oncreate?.(error, undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }
}
