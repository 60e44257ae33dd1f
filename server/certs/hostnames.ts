// Host-name rules for everything that ends up in a certificate or a CONNECT target. Pure; never throws.
//
// A host arrives from a CONNECT line, an SNI extension, a Host header or an origin's SAN list: all hostile input.
// normalizeHost returns either a canonical DNS name (lower-case A-labels, no trailing dot), a canonical IP literal,
// or a reason. The result is never a path: no '/', '\\', '..', NUL, '%' or space survive.

import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

/** A validated host: a DNS name (A-labels, lower case) or an IP literal (canonical text). */
export type HostName = { kind: 'dns'; name: string } | { kind: 'ip'; address: string; version: 4 | 6 };

/** normalizeHost's outcome. */
export type NormalizedHost = HostName | { kind: 'invalid'; reason: string };

// RFC 1035 §2.3.4 / RFC 1123 §2.1: 63 octets per label, 255 octets on the wire, i.e. 253 characters in text form.
const MAX_LABEL = 63;
const MAX_NAME = 253;
// Longer inputs are refused before any work (a CONNECT line or SNI never needs more; IDNA expands at most ×4 or so).
const MAX_INPUT = 1024;
// Letters, digits, hyphen (RFC 1123 §2.1), plus '_', which DNS allows (RFC 2181 §11) and SRV/DKIM-style names use.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
// Characters refused in the raw input before IDNA mapping gets a chance to hide them.
const FORBIDDEN = /[\s\0-\x1f\x7f/\\%@?#:*,;"'<>`|{}^~!$&()+=]/;

/** Validates and canonicalizes a host from the network or the command line. */
export function normalizeHost(input: string): NormalizedHost {
  if (typeof input !== 'string' || input.length === 0) return { kind: 'invalid', reason: 'the host is empty' };
  if (input.length > MAX_INPUT) return { kind: 'invalid', reason: `the host is longer than ${MAX_INPUT} characters` };

  // Bracketed IPv6 as in URLs and CONNECT targets (RFC 3986 §3.2.2). Zone identifiers ('%') are local-only: refused.
  if (input.startsWith('[') || input.endsWith(']')) {
    const inner = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : '';
    if (!isIPv6(inner) || inner.includes('%')) return { kind: 'invalid', reason: `not an IPv6 literal: ${quote(input)}` };
    return { kind: 'ip', address: canonicalIPv6(inner), version: 6 };
  }
  if (isIPv4(input)) return { kind: 'ip', address: input, version: 4 };
  if (isIPv6(input)) {
    if (input.includes('%')) return { kind: 'invalid', reason: 'IPv6 zone identifiers are not allowed' };
    return { kind: 'ip', address: canonicalIPv6(input), version: 6 };
  }

  if (FORBIDDEN.test(input)) return { kind: 'invalid', reason: `the host contains a forbidden character: ${quote(input)}` };
  if (input.includes('..')) return { kind: 'invalid', reason: `the host has an empty label: ${quote(input)}` };

  // One trailing dot is the fully-qualified form (RFC 1034 §3.1) and names the same host.
  let name = input.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.startsWith('.')) return { kind: 'invalid', reason: `the host has an empty label: ${quote(input)}` };

  // IDNA (UTS #46, as browsers do via the WHATWG URL host parser) to A-labels. It returns '' when the name is invalid.
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name) || /(^|\.)xn--/.test(name)) {
    const ascii = domainToASCII(name);
    if (ascii === '') return { kind: 'invalid', reason: `not a valid internationalized domain name: ${quote(input)}` };
    name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  }
  // Checked again after mapping: IDNA may map look-alikes (e.g. fullwidth solidus) to ASCII punctuation.
  if (name.length > MAX_NAME) return { kind: 'invalid', reason: `the host is longer than ${MAX_NAME} characters` };
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) return { kind: 'invalid', reason: `the host has an empty label: ${quote(input)}` };
    if (label.length > MAX_LABEL) return { kind: 'invalid', reason: `a label is longer than ${MAX_LABEL} characters` };
    if (!LABEL.test(label)) {
      return { kind: 'invalid', reason: `a label may hold only letters, digits and inner hyphens: ${quote(label)}` };
    }
  }
  // The WHATWG URL host parser reads a name whose last label is numeric as an IPv4 address (e.g. "127.1",
  // "0x7f.1"): such a name would mean one host to us and another to the browser, so it is refused.
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) {
    return { kind: 'invalid', reason: `the host looks like an IPv4 address in a non-standard form: ${quote(input)}` };
  }
  return { kind: 'dns', name };
}

/**
 * The names a certificate must carry for a host. RFC 5280 §4.2.1.6 requires dNSName in the "preferred name syntax"
 * of RFC 1034 §3.5 (letters, digits, hyphen), so a leftmost label with '_' cannot appear as is: the SAN becomes
 * the wildcard of its parent, which matches exactly one label (RFC 6125 §6.4.3), e.g. a_b.example.com →
 * *.example.com. Chromium and Node's TLS client accept that match; OpenSSL's X509_check_host (curl) refuses '_'
 * under a wildcard. A '_' deeper in the name, or a parent of a single label (browsers refuse `*.tld`), has no
 * valid form: the name is kept literally, best effort.
 */
export function certNamesFor(host: HostName): HostName[] {
  if (host.kind === 'ip') return [host];
  const labels = host.name.split('.');
  if (labels[0]?.includes('_') && labels.length >= 3 && !labels.slice(1).some((label) => label.includes('_'))) {
    return [{ kind: 'dns', name: `*.${labels.slice(1).join('.')}` }];
  }
  return [host];
}

/**
 * True when a certificate naming `names` is valid for `host`: the same IP, the same DNS name, or a wildcard one label
 * above it (RFC 6125 §6.4.3: `*.example.com` covers `a.example.com`, not `example.com` or `a.b.example.com`). A
 * wildcard over a single label (`*.test`) covers nothing: browsers, Node and OpenSSL all refuse it.
 * Names with '_' are left out: leafNames drops them from every position but the first.
 */
export function namesCover(names: readonly HostName[], host: HostName): boolean {
  if (host.kind === 'ip') return names.some((name) => name.kind === 'ip' && name.address === host.address);
  const dot = host.name.indexOf('.');
  const parent = dot > 0 && host.name.indexOf('.', dot + 1) > 0 ? host.name.slice(dot + 1) : null;
  return names.some(
    (name) => name.kind === 'dns' && !name.name.includes('_') && (name.name === host.name || (parent !== null && name.name === `*.${parent}`)),
  );
}

/** The SAN entry for a host as mitmlab shows it: `DNS:name` or `IP:address`. */
export function sanForHost(host: HostName): string {
  return host.kind === 'dns' ? `DNS:${host.name}` : `IP:${host.address}`;
}

/** A stable text key for a host (cache keys, dedupe). */
export function hostKey(host: HostName): string {
  return host.kind === 'dns' ? host.name : host.address;
}

/** True for a name mint accepts as dNSName: LDH labels ('_' tolerated, see certNamesFor), optionally a leading `*.` (RFC 6125 §6.4.3). */
export function isCertDnsName(name: string): boolean {
  const base = name.startsWith('*.') ? name.slice(2) : name;
  if (base.length === 0 || base.length > MAX_NAME) return false;
  return base.split('.').every((label) => label.length > 0 && label.length <= MAX_LABEL && LABEL.test(label));
}

// The WHATWG serializer gives the canonical compressed form (RFC 5952: lower case, longest zero run as '::').
function canonicalIPv6(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
