// The live view's HTTP server: static app, REST API and the WebSocket at /ws, all behind the same checks
// (access.ts): Host header, token, and for the WebSocket the Origin. Thin I/O: the logic lives in the modules it wires.

import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobSink } from '../events/blob-sink.js';
import type { EventBus } from '../events/bus.js';
import type { FlowSummary } from '../protocol/flows.js';
import { parseResumeQuery, sessionCookieName, TOKEN_QUERY, WS_PATH } from '../protocol/wire.js';
import {
  hostAllowed,
  originAllowed,
  presentedToken,
  credentialValid,
  sessionCookie,
  requestTarget,
  tokensEqual,
  type AccessPolicy,
} from './access.js';
import type { QueueLimits } from './client-queue.js';
import type { EventRingLimits } from './event-ring.js';
import { LiveStream, type ClientStats } from './live-stream.js';
import { handleApi, sendText, type CaFiles, type HubExporter, type HubHistory, type HubSessions } from './rest-api.js';
import { SelfTests } from './self-test.js';
import { baseSecurityHeaders, serveStatic } from './static-files.js';

export interface HubOptions {
  /** Address to bind; loopback by default in the CLI (127.0.0.1). */
  host: string;
  /** Port to bind; 0 picks a free one (tests). */
  port: number;
  /** The data directory's token (token.ts). */
  token: string;
  bus: EventBus;
  blobs: BlobSink;
  /** The built app (dist/ui). */
  staticDir: string;
  /** The current flow rows; must be kept by a synchronous bus listener (e.g. applyEvent over a FlowIndex). */
  flows(): FlowSummary[];
  /** The session being recorded, shown in the UI. */
  sessionId?: string | null;
  sessions?: HubSessions;
  exporter?: HubExporter;
  history?: HubHistory;
  caFiles: CaFiles;
  /** The proxy's listening ports, for the UI's setup hints. */
  proxyPorts: number[];
  /** Tuning, mostly for tests. */
  limits?: {
    batchIntervalMs?: number;
    batchMaxEvents?: number;
    snapshotMaxFlows?: number;
    queue?: Partial<QueueLimits>;
    ring?: Partial<EventRingLimits>;
  };
}

export interface Hub {
  port: number;
  /** `http://HOST:PORT/?token=…`: the URL printed at start. */
  tokenUrl: string;
  /** The browser-session cookie's value for this run (kept out of recordings like the token). */
  browserSession: string;
  /** Per-client queue figures and the ring's size, for tests and diagnostics. */
  stats(): { seq: number; ring: { events: number; bytes: number }; clients: ClientStats[] };
  close(): Promise<void>;
}

const UNAUTHORIZED =
  'mitmlab live view: this request has no valid token. Open the "live view" URL mitmlab printed at start ' +
  '(http://HOST:PORT/?token=…); it sets a cookie for this browser.';

/** Starts the live view's server. Resolves once it listens. */
export async function startHub(options: HubOptions): Promise<Hub> {
  // What the browser's cookie holds instead of the token: a leaked cookie is worth nothing after this run.
  const browserSession = randomBytes(32).toString('base64url');
  const selfTests = new SelfTests();
  const unsubscribeSelfTests = options.bus.subscribe((event) => selfTests.observe(event));
  const stream = new LiveStream({
    bus: options.bus,
    flows: options.flows,
    sessionId: options.sessionId ?? null,
    proxyPorts: options.proxyPorts,
    ca: {
      sha256: options.caFiles.sha256,
      spki: options.caFiles.spki,
      subject: options.caFiles.subject ?? null,
      notAfter: options.caFiles.notAfter ?? null,
      path: options.caFiles.path ?? null,
    },
    ...options.limits,
  });
  const policy: AccessPolicy = { host: options.host, port: options.port, token: options.token, extraHosts: wildcardHosts(options.host) };
  // A Vite build has index.html and assets/; a source folder (ui/src) has no assets/ and must not be served as the app.
  const built = existsSync(join(options.staticDir, 'index.html')) && existsSync(join(options.staticDir, 'assets'));

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendText(res, 500, `Internal error: ${(error as Error).message}`);
      else res.destroy();
    });
  });
  // A slow-loris on a loopback UI is unlikely, but bounded waits cost nothing.
  server.headersTimeout = 15_000;
  server.requestTimeout = 0; // exports stream for as long as they need

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    baseSecurityHeaders(res);
    if (!hostAllowed(req.headers.host, policy)) {
      sendText(res, 403, `mitmlab live view: refused Host "${req.headers.host ?? ''}". Use http://${displayHost(options.host)}:${policy.port}/ (DNS rebinding protection).`);
      return;
    }
    const url = requestTarget(req.url);
    if (url === null) {
      sendText(res, 400, `mitmlab live view: the request target "${req.url ?? ''}" is not a valid URL.`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, policy)) {
      sendText(res, 403, 'mitmlab live view: cross-origin requests are refused.');
      return;
    }
    // The token URL: trade the query token for an HttpOnly cookie, then drop it from the address bar and history.
    const queryToken = url.searchParams.get(TOKEN_QUERY);
    if (url.pathname === '/' && queryToken !== null) {
      if (!tokensEqual(queryToken, options.token)) {
        sendText(res, 401, UNAUTHORIZED);
        return;
      }
      res.statusCode = 303;
      res.setHeader('Set-Cookie', sessionCookie(sessionCookieName(policy.port), browserSession));
      res.setHeader('Location', '/');
      res.setHeader('Cache-Control', 'no-store');
      res.end();
      return;
    }
    if (!credentialValid(presentedToken(req.headers, sessionCookieName(policy.port)), options.token, browserSession)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mitmlab"');
      sendText(res, 401, UNAUTHORIZED);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      if (!(await handleApi(req, res, url, { blobs: options.blobs, ring: stream.ring, selfTests, caFiles: options.caFiles, sessions: options.sessions, exporter: options.exporter, history: options.history }))) {
        sendText(res, 404, 'No such API.');
      }
      return;
    }
    if (!built) {
      sendText(res, 503, 'The live view is not built yet: run `npm run build:ui` (or `npm run build`) and reload.');
      return;
    }
    if (!(await serveStatic(req, res, options.staticDir, url.pathname))) sendText(res, 404, 'Not found.');
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    socket.on('error', () => socket.destroy());
    if (!hostAllowed(req.headers.host, policy)) return refuse(403, 'refused Host (DNS rebinding protection)');
    const url = requestTarget(req.url);
    if (url === null) return refuse(400, 'the request target is not a valid URL');
    if (url.pathname !== WS_PATH) return refuse(404, 'no WebSocket here');
    const presented = presentedToken(req.headers, sessionCookieName(policy.port));
    if (presented === null || !credentialValid(presented, options.token, browserSession)) return refuse(401, UNAUTHORIZED);
    const origin = req.headers.origin;
    if (origin === undefined) {
      // Browsers always send Origin on WebSocket handshakes (RFC 6455 §4.1 item 8); only scripts omit it, and they
      // must prove themselves with the header token, never with a cookie a browser would attach on its own.
      if (presented.source !== 'header') return refuse(403, 'a WebSocket without Origin needs the token header');
    } else if (!originAllowed(origin, policy)) {
      return refuse(403, 'foreign Origin refused (cross-site WebSocket hijacking protection)');
    }
    stream.wss.handleUpgrade(req, socket, head, (ws) => stream.accept(ws, parseResumeQuery(url.searchParams)));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  policy.port = port;

  return {
    port,
    tokenUrl: `http://${displayHost(options.host)}:${port}/?${TOKEN_QUERY}=${options.token}`,
    browserSession,
    stats: () => stream.stats(),
    close: async () => {
      unsubscribeSelfTests();
      stream.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** When bound to a wildcard address, the machine's interface addresses are this hub's names too. */
function wildcardHosts(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [];
  return Object.values(networkInterfaces())
    .flat()
    .filter((info) => info !== undefined)
    .map((info) => info.address);
}

function displayHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
