// Serving the built Svelte app (dist/ui) with correct content types and a restrictive Content-Security-Policy.
// The live view displays attacker-controlled text (captured pages, headers, bodies): the CSP is the backstop that
// keeps any markup that slipped through from running script or loading anything (OWASP XSS prevention, defense
// in depth). Svelte renders text with textContent, so nothing captured is ever parsed as HTML.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { extname, join, normalize, sep } from 'node:path';
import { SELF_TEST_DOMAIN } from '../protocol/wire.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The app's policy (CSP Level 3): scripts, styles and connections only from the hub itself (no inline script, no
 * eval), images only from blob: (previews of captured images) and data:, nothing framed, nothing framing us.
 * connect-src also allows the self-test's probe host, which the browser reaches through the proxy.
 */
export function appCsp(hostHeader: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    'img-src blob: data:',
    `connect-src 'self' ws://${hostHeader} http://*.${SELF_TEST_DOMAIN} https://*.${SELF_TEST_DOMAIN}`,
    "object-src 'none'",
    "frame-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** Headers every hub answer carries. */
export function baseSecurityHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('X-Frame-Options', 'DENY');
}

/**
 * Serves a file of the app, or index.html for `/`. Returns false when no file matches (the caller answers 404).
 * The UI routes with the URL fragment, so no path needs an index.html fallback.
 */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, staticDir: string, pathname: string): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let relative: string;
  try {
    relative = decodeURIComponent(pathname === '/' ? '/index.html' : pathname);
  } catch {
    return false;
  }
  if (relative.includes('\0')) return false;
  const root = normalize(staticDir + sep);
  const file = normalize(join(root, relative));
  if (!file.startsWith(root)) return false; // ../ traversal
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    size = info.size;
  } catch {
    return false;
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.statusCode = 200;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', size);
  // Vite puts a content hash in asset names, so they never change; index.html must always be fetched fresh.
  res.setHeader('Cache-Control', relative.startsWith('/assets/') ? 'private, max-age=31536000, immutable' : 'no-store');
  if (type.startsWith('text/html')) res.setHeader('Content-Security-Policy', appCsp(req.headers.host ?? ''));
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  // pipeline closes the file when the browser leaves mid-download (pipe() would leave it open), and ends the
  // response when the file cannot be read.
  await pipeline(createReadStream(file), res).catch(() => res.destroy());
  return true;
}
