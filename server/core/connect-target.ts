// The authority in `CONNECT host:port HTTP/1.1` (RFC 9110 §9.3.6: authority-form, host and port both required),
// and in a Host header (RFC 9110 §7.2: the port is optional there).
// Pure. The result is a validated, normalized host: never a path, so no CONNECT target can reach the filesystem.

import { normalizeHost } from '../certs/hostnames.js';

export type ConnectTarget =
  | { ok: true; host: string; kind: 'dns' | 'ip'; port: number }
  | { ok: false; reason: string };

/** Parses and validates a CONNECT request target. */
export function parseConnectTarget(authority: string | undefined): ConnectTarget {
  const parsed = parseAuthority(authority, 'the CONNECT target', true);
  return parsed.ok ? { ...parsed, port: parsed.port! } : parsed;
}

/** A Host field value (RFC 9110 §7.2: uri-host [ ":" port ]), validated like a CONNECT target with an optional port. */
export function parseHostField(value: string): { ok: true; host: string; port: number | null } | { ok: false; reason: string } {
  return parseAuthority(value, 'the Host header', false);
}

function parseAuthority(
  authority: string | undefined,
  what: string,
  portRequired: boolean,
): { ok: true; host: string; kind: 'dns' | 'ip'; port: number | null } | { ok: false; reason: string } {
  const shape = portRequired ? 'host:port' : 'host or host:port';
  if (!authority) return { ok: false, reason: `${what} is empty` };
  if (authority.length > 300) return { ok: false, reason: `${what} is too long` };
  let hostPart: string;
  let portPart: string | null;
  if (authority.startsWith('[')) {
    // IPv6 literal: [addr]:port (RFC 3986 §3.2.2).
    const close = authority.indexOf(']');
    const rest = close < 0 ? '' : authority.slice(close + 1);
    if (close < 0 || (rest !== '' && !rest.startsWith(':')) || (rest === '' && portRequired)) return { ok: false, reason: `${what} must be ${shape}` };
    hostPart = authority.slice(1, close);
    portPart = rest === '' ? null : rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon === 0 || (colon < 0 && portRequired)) return { ok: false, reason: `${what} must be ${shape}` };
    hostPart = colon < 0 ? authority : authority.slice(0, colon);
    portPart = colon < 0 ? null : authority.slice(colon + 1);
    if (hostPart.includes(':')) {
      // A URL where an authority belongs ("CONNECT http://host:443/"): RFC 9110 §9.3.6 wants host:port alone.
      if (hostPart.includes('/')) return { ok: false, reason: `${what} must be ${shape}, not a URL` };
      // An IPv6 literal must be bracketed, or "::1:443" would be ambiguous (RFC 3986 §3.2.2).
      if (isIPv6Shaped(hostPart)) return { ok: false, reason: `an IPv6 address in ${what} must be in brackets: [::1]:443` };
      return { ok: false, reason: `${what} must be ${shape}, with one colon: ${JSON.stringify(authority.slice(0, 100))} has more` };
    }
  }
  // RFC 3986 §3.2.3: port = *DIGIT, so a Host may end in an empty port, which means the default one.
  if (portPart === '' && !portRequired) portPart = null;
  let port: number | null = null;
  if (portPart !== null) {
    if (!/^\d{1,5}$/.test(portPart)) return { ok: false, reason: `invalid port in ${what}: ${JSON.stringify(portPart)}` };
    port = Number(portPart);
    if (port < 1 || port > 65535) return { ok: false, reason: `port ${port} is out of range 1–65535` };
  }
  const host = normalizeHost(hostPart);
  if (host.kind === 'invalid') return { ok: false, reason: `invalid host in ${what}: ${host.reason}` };
  return host.kind === 'ip' ? { ok: true, host: host.address, kind: 'ip', port } : { ok: true, host: host.name, kind: 'dns', port };
}

/** Hex digits, colons and dots only: an IPv6 address (possibly ending in an IPv4 one), or what looks meant as one. */
function isIPv6Shaped(text: string): boolean {
  return /^[0-9a-f:.]+$/i.test(text);
}

/** `host:port` for URLs and messages, bracketing IPv6 literals. */
export function formatAuthority(host: string, port: number, defaultPort?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}

/**
 * Why a request's Host fields are unacceptable, or null when they are fine. RFC 9112 §3.2: an HTTP/1.1 request needs
 * exactly one Host field with a valid value (HTTP/1.0 may omit it); two could disagree about the target.
 */
export function hostFieldProblem(rawHeaders: readonly string[], httpVersion: string): string | null {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') values.push(rawHeaders[i + 1] ?? '');
  if (values.length > 1) return 'The request has more than one Host header field (RFC 9112 §3.2).';
  if (values.length === 0) return httpVersion === '1.0' ? null : 'The request has no Host header field, which HTTP/1.1 requires (RFC 9112 §3.2).';
  // A keep-alive connection repeats its Host on every request: a value once found valid is not parsed again.
  if (VALID_HOSTS.has(values[0]!)) return null;
  const parsed = parseHostField(values[0]!);
  if (!parsed.ok) return `The Host header field ${JSON.stringify(values[0]!.slice(0, 200))} is not a valid host[:port]: ${parsed.reason} (RFC 9110 §7.2).`;
  if (values[0]!.length <= VALID_HOST_MAX_LENGTH) {
    if (VALID_HOSTS.size >= VALID_HOSTS_MAX) VALID_HOSTS.clear();
    VALID_HOSTS.add(values[0]!);
  }
  return null;
}

/** Host values already found valid (parseHostField is pure); bounded in count (cleared when full) and in length. */
const VALID_HOSTS = new Set<string>();
const VALID_HOSTS_MAX = 1024;
/** A host name is at most 253 characters (RFC 1035 §2.3.4), plus a bracketed IPv6 literal's or a port's few. */
const VALID_HOST_MAX_LENGTH = 300;
