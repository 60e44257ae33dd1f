// The names a forged certificate carries, and the names origins were seen to carry.
//
// The forged certificate copies the origin's own SANs, so normally the origin's handshake must finish before the
// browser's can start. But a browser reaches most hosts through a certificate it has already met on that port: the
// same host again (browsers open several connections per host), or a sibling under one wildcard or CDN name list.
// OriginNames remembers, per port, which SAN list each name was last served under, so the browser's handshake can
// start at once with that certificate while the origin's runs alongside. Requests still wait for the origin's
// outcome, and the tls-certificates event shows both certificates as they really were.

import type { X509Certificate } from 'node:crypto';
import { hostKey, namesCover, normalizeHost, type HostName } from '../certs/hostnames.js';

// The most SANs copied from the origin's certificate into the forged one.
const MAX_COPIED_SANS = 100;

/** The origin leaf's DNS and IP SANs, in its order, without duplicates (at most MAX_COPIED_SANS). */
export function originSans(originLeaf: X509Certificate | undefined): HostName[] {
  const copied: HostName[] = [];
  const seen = new Set<string>();
  const add = (name: HostName): void => {
    if (seen.has(hostKey(name)) || copied.length >= MAX_COPIED_SANS) return;
    seen.add(hostKey(name));
    copied.push(name);
  };
  for (const entry of (originLeaf?.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) {
      const value = entry.slice(4);
      // Wildcards are copied as they are (*.example.com covers the subdomains the origin serves).
      const wildcard = value.startsWith('*.');
      const host = normalizeHost(wildcard ? value.slice(2) : value);
      if (host.kind === 'dns') add(wildcard ? { kind: 'dns', name: `*.${host.name}` } : host);
    } else if (entry.startsWith('IP Address:')) {
      const host = normalizeHost(entry.slice('IP Address:'.length));
      if (host.kind === 'ip') add(host);
    }
  }
  return copied;
}

/**
 * The forged certificate's names: the origin's own SANs, so the forged certificate reads like the real one. When
 * they already cover the name the browser checks, that is all: every host one origin certificate covers then shares
 * one forged certificate and one TLS context, and a new host under it costs no mint. Otherwise (or with no origin
 * certificate) the browser's name goes first.
 */
export function forgedNames(certHost: string, copied: readonly HostName[]): HostName[] {
  const primary = normalizeHost(certHost);
  if (primary.kind === 'invalid' || namesCover(copied, primary)) return [...copied];
  return [primary, ...copied.filter((name) => hostKey(name) !== hostKey(primary))];
}

/**
 * The names a leaf may carry under a CA limited by --ca-permit (RFC 5280 §4.2.1.10): one name outside the limits
 * makes the whole leaf invalid, and origin SANs copied next to the browser's name often are. When the browser's name
 * is itself outside, nothing is removed: the client then refuses the leaf for the reason that really applies.
 */
export function withinCaPermit(names: readonly HostName[], certHost: string, permits: (host: HostName) => boolean): HostName[] {
  const host = normalizeHost(certHost);
  if (host.kind === 'invalid' || !permits(host)) return [...names];
  const kept = names.filter((name) => permits(name));
  // A copied wildcard outside the limits may have been the only name covering the browser's: then it goes first.
  return namesCover(kept, host) ? kept : [host, ...kept];
}

/** Per port, the SAN list each name was last served under. Bounded: the oldest names are forgotten first. */
export class OriginNames {
  readonly #byName = new Map<string, readonly HostName[]>();

  constructor(private readonly max = 4096) {}

  /** The SAN list of a certificate seen on `port` that covers `certHost` (RFC 6125 §6.4.3), or null. */
  predict(port: number, certHost: string): readonly HostName[] | null {
    const host = normalizeHost(certHost);
    if (host.kind === 'invalid') return null;
    for (const key of lookupKeys(port, host)) {
      const names = this.#byName.get(key);
      if (names && namesCover(names, host)) return names;
    }
    return null;
  }

  /**
   * Remembers what an origin that mitmlab accepted on `port` presented for `certHost`: its SAN list under each of its
   * names, and, when that list does not cover `certHost`, the forged list (with `certHost` first) under `certHost`
   * alone, so that host gets the same certificate again.
   */
  learn(port: number, certHost: string, copied: readonly HostName[]): void {
    for (const name of copied) this.#file(`${port}|${hostKey(name)}`, copied);
    const forged = forgedNames(certHost, copied);
    if (forged.length !== copied.length) this.#file(`${port}|${hostKey(forged[0]!)}`, forged);
  }

  #file(key: string, names: readonly HostName[]): void {
    this.#byName.delete(key);
    this.#byName.set(key, names);
    if (this.#byName.size > this.max) this.#byName.delete(this.#byName.keys().next().value!);
  }
}

/** Where a certificate covering `host` would be filed: under the name itself, or the wildcard one label up. */
function lookupKeys(port: number, host: HostName): string[] {
  if (host.kind === 'ip') return [`${port}|${host.address}`];
  const dot = host.name.indexOf('.');
  return dot > 0 ? [`${port}|${host.name}`, `${port}|*.${host.name.slice(dot + 1)}`] : [`${port}|${host.name}`];
}
