// Who may talk to the live view: the checks every hub request passes before anything else runs.
// The live view shows every credential crossing the proxy, so it must not become a hole itself:
//  - Host must name the bound address or localhost, with the bound port. A DNS-rebinding page (evil.test resolving
//    to 127.0.0.1) sends `Host: evil.test:8081` and is refused (cf. CVE-2018-14505, mitmproxy's web UI).
//  - A token is required on every request: header for scripts; for the browser, an HttpOnly cookie that the token URL
//    trades the token for, whose value lasts one run (it is sent to other ports of the host too: RFC 6265 §8.5).
//  - WebSocket upgrades must come from the UI's own Origin: browsers do not apply CORS to WebSockets, so without
//    this check any page the user visits could open ws://127.0.0.1:8081/ws (cross-site WebSocket hijacking).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { TOKEN_HEADER } from '../protocol/wire.js';

export interface AccessPolicy {
  /** The hub's listening address as configured (e.g. 127.0.0.1, ::1, localhost). */
  host: string;
  /** The bound port. */
  port: number;
  token: string;
  /** Extra host names that reach this machine (interface addresses when bound to a wildcard address). */
  extraHosts?: readonly string[];
}

export type TokenSource = 'header' | 'cookie' | 'query';

/** Compares two tokens in time independent of where they differ (hashing first equalizes the lengths). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The host names (without port) the Host header may carry. */
export function allowedHostNames(policy: AccessPolicy): Set<string> {
  const names = new Set<string>(['localhost', '127.0.0.1', '[::1]']);
  names.add(bracket(policy.host.toLowerCase()));
  for (const extra of policy.extraHosts ?? []) names.add(bracket(extra.toLowerCase()));
  return names;
}

/** True when a Host header (RFC 9110 §7.2) names this hub: an allowed name and the bound port. */
export function hostAllowed(hostHeader: string | undefined, policy: AccessPolicy): boolean {
  if (!hostHeader) return false;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(hostHeader.trim());
  if (!match) return false;
  const name = match[1]!.toLowerCase().replace(/\.$/, '');
  // Browsers omit the port only when it is the scheme's default.
  const port = match[2] === undefined ? 80 : Number(match[2]);
  return port === policy.port && allowedHostNames(policy).has(name);
}

/** True when an Origin header is the UI's own origin: http, an allowed host name and the bound port. */
export function originAllowed(origin: string, policy: AccessPolicy): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.username || url.password) return false;
  // URL normalizes away the default port; the Host check's rules apply to what remains.
  return hostAllowed(url.host, policy) || (url.port === '' && hostAllowed(`${url.hostname}:80`, policy));
}

/**
 * The credential a request presents, and how: the token in a header (X-Mitmlab-Token or Authorization: Bearer), else
 * the browser-session cookie `cookieName`.
 */
export function presentedToken(headers: IncomingHttpHeaders, cookieName: string): { token: string; source: TokenSource } | null {
  const header = headers[TOKEN_HEADER];
  if (typeof header === 'string' && header.length > 0) return { token: header.trim(), source: 'header' };
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (bearer) return { token: bearer[1]!, source: 'header' };
  }
  const cookie = cookieValue(headers.cookie, cookieName);
  if (cookie !== null) return { token: cookie, source: 'cookie' };
  return null;
}

/** The value of one cookie in a Cookie header (RFC 6265 §5.4), or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}

/** The Set-Cookie value the token URL answers with: unreadable by scripts, never sent cross-site (RFC 6265bis). */
export function sessionCookie(name: string, value: string): string {
  return `${name}=${value}; HttpOnly; SameSite=Strict; Path=/`;
}

/** True when a presented credential is good: the token from a header, the browser session's value from the cookie. */
export function credentialValid(presented: { token: string; source: TokenSource } | null, token: string, browserSession: string): boolean {
  if (presented === null) return false;
  return tokensEqual(presented.token, presented.source === 'cookie' ? browserSession : token);
}

/**
 * The request target as a URL, or null when it does not parse. Origin-form (`/ws?x=1`) is the norm; absolute-form
 * (`http://host/ws`, RFC 9112 §3.2.2) is accepted too, since Host was already checked. The base is fixed, so an odd
 * Host header cannot make a valid path unparsable.
 */
export function requestTarget(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://mitmlab.invalid');
  } catch {
    return null;
  }
}

/** True when a request carries a proxy's marks (RFC 9110 §7.6.3 Via, RFC 7239 Forwarded): it came through a proxy. */
export function looksProxied(headers: IncomingHttpHeaders): boolean {
  return headers.via !== undefined || headers.forwarded !== undefined || headers['x-forwarded-for'] !== undefined;
}

/** True when an address is loopback (127/8, ::1, or IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const bare = address.startsWith('::ffff:') ? address.slice(7) : address;
  return bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

function bracket(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
