// Raw relay between the browser and the origin: used for passthrough hosts and for non-TLS bytes after CONNECT.
// No interception, so nothing but the tunnel's existence and its byte counts is recorded.

import type { Socket } from 'node:net';
import type { TunnelReason } from '../protocol/events.js';
import { connectTcp } from './destination.js';
import type { ProxyContext } from './context.js';
import { failureAnswer } from './upstream-answer.js';
import { rawErrorResponse } from './error-page.js';

/** Connects to host:port and relays both ways, replaying `preface` (bytes already read from the client) first. */
export async function relayTunnel(
  ctx: ProxyContext,
  conn: string,
  client: Socket,
  host: string,
  port: number,
  reason: TunnelReason,
  preface: Buffer,
): Promise<void> {
  ctx.bus.emit({ type: 'tunnel', conn, host, port, reason, at: Date.now() });
  let upstream: Socket;
  try {
    upstream = (await connectTcp(host, port, ctx.destination, client.remoteAddress)).socket;
  } catch (error) {
    const answer = failureAnswer(host, port, error);
    ctx.bus.emit({ type: 'proxy-error', conn, id: null, code: answer.code, status: null, message: answer.detail, at: Date.now() });
    // The client already got "200 Connection Established"; a non-TLS client may still read an HTTP answer.
    if (reason === 'not-tls' && !client.destroyed) client.end(rawErrorResponse(answer));
    else client.destroy();
    return;
  }
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  if (preface.length > 0) upstream.write(preface);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
  // --idle-timeout applies to tunnels too: traffic in either direction keeps both sockets alive.
  client.setTimeout(ctx.config.timeouts.idleMs, close);
  upstream.setTimeout(ctx.config.timeouts.idleMs, close);
}
