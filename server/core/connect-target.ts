// The authority in `CONNECT host:port HTTP/1.1` (RFC 9110 §9.3.6: authority-form, host and port both required).
// Pure. The result is a validated, normalized host: never a path, so no CONNECT target can reach the filesystem.

import { normalizeHost } from '../certs/hostnames.js';

export type ConnectTarget =
  | { ok: true; host: string; kind: 'dns' | 'ip'; port: number }
  | { ok: false; reason: string };

/** Parses and validates a CONNECT request target. */
export function parseConnectTarget(authority: string | undefined): ConnectTarget {
  if (!authority) return { ok: false, reason: 'the CONNECT target is empty' };
  if (authority.length > 300) return { ok: false, reason: 'the CONNECT target is too long' };
  let hostPart: string;
  let portPart: string;
  if (authority.startsWith('[')) {
    // IPv6 literal: [addr]:port (RFC 3986 §3.2.2).
    const close = authority.indexOf(']');
    if (close < 0 || authority[close + 1] !== ':') return { ok: false, reason: 'the CONNECT target must be host:port' };
    hostPart = authority.slice(1, close);
    portPart = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0) return { ok: false, reason: 'the CONNECT target must be host:port' };
    hostPart = authority.slice(0, colon);
    portPart = authority.slice(colon + 1);
    // An IPv6 literal must be bracketed, or "::1:443" would be ambiguous (RFC 3986 §3.2.2).
    if (hostPart.includes(':')) return { ok: false, reason: 'an IPv6 address in a CONNECT target must be in brackets: [::1]:443' };
  }
  if (!/^\d{1,5}$/.test(portPart)) return { ok: false, reason: `invalid port in CONNECT target: ${JSON.stringify(portPart)}` };
  const port = Number(portPart);
  if (port < 1 || port > 65535) return { ok: false, reason: `port ${port} is out of range 1–65535` };
  const host = normalizeHost(hostPart);
  if (host.kind === 'invalid') return { ok: false, reason: `invalid host in CONNECT target: ${host.reason}` };
  return host.kind === 'ip'
    ? { ok: true, host: host.address, kind: 'ip', port }
    : { ok: true, host: host.name, kind: 'dns', port };
}

/** `host:port` for URLs and messages, bracketing IPv6 literals. */
export function formatAuthority(host: string, port: number, defaultPort?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}
