// Turning a host name into a TCP connection to the origin: --resolve overrides, DNS, the loop guard, a timeout.
// Errors carry a stable `code` that server/tls/failures.ts turns into a sentence.

import { lookup } from 'node:dns/promises';
import { SELF_TEST_DOMAIN } from '../protocol/wire.js';
import net from 'node:net';
import { isLocalAddress, isOwnEndpoint, type OwnEndpoints } from './policy.js';

export interface DestinationOptions {
  /** --resolve HOST:ADDR overrides, keyed by lowercase host. */
  resolve: ReadonlyMap<string, string>;
  /** mitmlab's own listeners: connecting to them would loop (or reach the live view through the proxy). */
  own: OwnEndpoints;
  connectTimeoutMs: number;
  /** DNS lookup (one address or several); defaults to the system resolver. Tests inject one so they never depend on real DNS. */
  lookup?: (host: string) => Promise<string | string[]>;
}

/** An Error with a stable code (ENOTFOUND, CONNECT_TIMEOUT, LOOP_REFUSED, ECONNREFUSED…). */
export class DestinationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DestinationError';
  }
}

/** Connect errors after which the next address of the host is tried: this address, not the host, is out of reach. */
const NEXT_ADDRESS_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * Resolves `host` (a normalized name or IP literal) to its addresses, in the order to try them. A name whose first
 * address refuses is tried at the next, as a browser does (RFC 8305 §2, without the racing): a lab server listening
 * only on ::1 is reached as `localhost`.
 */
export async function resolveHost(host: string, options: DestinationOptions): Promise<string[]> {
  const override = options.resolve.get(host);
  if (override) return [override];
  if (net.isIP(host)) return [host];
  // RFC 6761 §6.3: localhost names always mean the loopback interface, both of its addresses; never ask DNS.
  if (host === 'localhost' || host.endsWith('.localhost')) return ['127.0.0.1', '::1'];
  // The live view's self-test probe has no origin: it only shows whether the browser came through mitmlab.
  if (host === SELF_TEST_DOMAIN || host.endsWith(`.${SELF_TEST_DOMAIN}`)) {
    throw new DestinationError('SELF_TEST_PROBE', `${host} is the live view's self-test probe; it has no origin`);
  }
  try {
    if (options.lookup) return [await options.lookup(host)].flat();
    const results = await lookup(host, { all: true, verbatim: true });
    return results.map((result) => result.address);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
    throw new DestinationError(code, `cannot resolve ${host} (${code})`);
  }
}

export interface TcpConnection {
  socket: net.Socket;
  address: string;
  /** ms spent resolving. */
  dnsMs: number;
  /** ms spent in the TCP handshake. */
  connectMs: number;
}

/**
 * Opens a TCP connection to host:port, refusing mitmlab's own endpoints. `from` is the client's address: a client on
 * another machine (--listen-host) may not reach this machine's own services, such as a database bound to 127.0.0.1,
 * unless --resolve points a name there on purpose.
 */
export async function connectTcp(host: string, port: number, options: DestinationOptions, from?: string): Promise<TcpConnection> {
  const started = performance.now();
  // One deadline for resolution and the TCP handshake together (--connect-timeout).
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DestinationError('CONNECT_TIMEOUT', `connecting to ${host}:${port} timed out`)), options.connectTimeoutMs);
  });
  let socket: net.Socket | null = null;
  try {
    const addresses = await Promise.race([resolveHost(host, options), deadline]);
    if (addresses.length === 0) throw new DestinationError('ENOTFOUND', `cannot resolve ${host} (no address)`);
    const resolved = performance.now();
    // Every address is checked before any is tried: a name must not reach mitmlab, or this machine, by its second one.
    for (const address of addresses) {
      if (isOwnEndpoint(address, port, options.own)) {
        throw new DestinationError('LOOP_REFUSED', `${host}:${port} is mitmlab itself`);
      }
      if (from !== undefined && !isLocalAddress(from, options.own.localAddresses) && isLocalAddress(address, options.own.localAddresses) && !options.resolve.has(host)) {
        throw new DestinationError('LOCAL_REFUSED', `${host}:${port} is on the machine mitmlab runs on`);
      }
    }
    for (let i = 0; ; i++) {
      const address = addresses[i]!;
      const connected = new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: address, port, noDelay: true });
        socket = s;
        s.once('connect', () => {
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', (error: NodeJS.ErrnoException) => {
          reject(new DestinationError(error.code ?? 'ECONNREFUSED', `connecting to ${host}:${port} failed (${error.code ?? error.message})`));
        });
      });
      try {
        const open = await Promise.race([connected, deadline]);
        return { socket: open, address, dnsMs: resolved - started, connectMs: performance.now() - resolved };
      } catch (error) {
        // When no address answers, the last one's failure is reported.
        const code = (error as DestinationError).code;
        if (i + 1 >= addresses.length || !NEXT_ADDRESS_CODES.has(code)) throw error;
      }
    }
  } catch (error) {
    (socket as net.Socket | null)?.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
