// Name constraints for the lab CA (RFC 5280 §4.2.1.10): with `--ca-permit`, the CA can only vouch for the listed DNS
// suffixes and IP ranges, so a leaked lab CA key cannot be used against the open web. Pure.

import { childrenOf, contentOf, readTlv } from './der.js';
import { normalizeHost, type HostName } from './hostnames.js';
import { ipToBytes, prefixMask } from './ip-bytes.js';
import { dnsName, ipAddress, seq, tagged, type Node } from './asn1-build.js';

/** Parsed `permit` entries. */
export interface PermittedNames {
  /** DNS suffixes: each matches the name itself and every name below it (§4.2.1.10). */
  dns: string[];
  /** IP ranges as network address + mask, 4+4 or 16+16 octets. */
  ip: Array<{ address: Buffer; mask: Buffer; text: string }>;
}

export type PermitParse = { ok: true; value: PermittedNames } | { ok: false; reason: string };

/** Parses permit entries: DNS suffixes (`lab.test`, `.lab.test`, `*.lab.test`) and IPs or CIDRs (`10.0.0.0/8`, `::1`). */
export function parsePermit(entries: readonly string[]): PermitParse {
  const value: PermittedNames = { dns: [], ip: [] };
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const hostPart = slash >= 0 ? entry.slice(0, slash) : entry;
    const host = normalizeHost(hostPart.replace(/^\*?\./, ''));
    if (host.kind === 'invalid') return { ok: false, reason: `ca-permit: ${JSON.stringify(raw)}: ${host.reason}` };
    if (host.kind === 'dns') {
      if (slash >= 0) return { ok: false, reason: `ca-permit: ${JSON.stringify(raw)}: a prefix length needs an IP address` };
      if (!value.dns.includes(host.name)) value.dns.push(host.name);
      continue;
    }
    const bits = host.version === 4 ? 32 : 128;
    const prefixText = slash >= 0 ? entry.slice(slash + 1) : String(bits);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= bits)) {
      return { ok: false, reason: `ca-permit: ${JSON.stringify(raw)}: the prefix length must be 0–${bits}` };
    }
    const bytes = ipToBytes(host.address)!;
    const mask = prefixMask(prefix, bytes.length);
    // Host bits beyond the prefix are cleared: 127.0.0.1/8 means 127.0.0.0/8.
    const address = Buffer.from(bytes.map((b, i) => b & mask[i]!));
    value.ip.push({ address, mask, text: `${host.address}/${prefix}` });
  }
  return { ok: true, value };
}

/**
 * The NameConstraints value. A constraint only binds the name forms it lists (§4.2.1.10), so the forms the user
 * did not list are closed explicitly: with no IP range, every IPv4 and IPv6 address is excluded; with no DNS
 * suffix, the only permitted DNS suffix is `invalid`, a name reserved never to resolve (RFC 6761 §6.4).
 */
export function nameConstraintsValue(permitted: PermittedNames): Node {
  const subtree = (base: Node): Node => seq([base]);
  const permittedTrees: Node[] = [];
  const excludedTrees: Node[] = [];
  for (const suffix of permitted.dns.length > 0 ? permitted.dns : ['invalid']) permittedTrees.push(subtree(dnsName(suffix)));
  if (permitted.ip.length > 0) {
    for (const range of permitted.ip) permittedTrees.push(subtree(ipAddress(Buffer.concat([range.address, range.mask]))));
  } else {
    excludedTrees.push(subtree(ipAddress(Buffer.alloc(8))), subtree(ipAddress(Buffer.alloc(32))));
  }
  const parts = [tagged(0, permittedTrees)];
  if (excludedTrees.length > 0) parts.push(tagged(1, excludedTrees));
  return seq(parts);
}

/** A NameConstraints value in words (`permit DNS:lab.test`, `exclude IP:0.0.0.0/0`…), for `mitmlab ca show`. */
export function describeNameConstraints(value: Buffer): string[] {
  const out: string[] = [];
  const top = readTlv(value, 0);
  const trees = top && top.tag === 0x30 ? childrenOf(value, top) : null;
  for (const tree of trees ?? []) {
    const verb = tree.tag === 0xa0 ? 'permit' : tree.tag === 0xa1 ? 'exclude' : null;
    if (!verb) continue;
    for (const subtree of childrenOf(value, tree) ?? []) {
      const base = childrenOf(value, subtree)?.[0];
      if (!base) continue;
      const bytes = contentOf(value, base);
      if (base.tag === 0x82) out.push(`${verb} DNS:${bytes.toString('latin1')}`);
      else if (base.tag === 0x87 && (bytes.length === 8 || bytes.length === 32)) {
        const half = bytes.length / 2;
        const prefix = [...bytes.subarray(half)].reduce((n, b) => n + popcount(b), 0);
        out.push(`${verb} IP:${ipText(bytes.subarray(0, half))}/${prefix}`);
      } else out.push(`${verb} (other name form)`);
    }
  }
  return out;
}

/**
 * describeNameConstraints' lines in words for messages, e.g. "names under lab.test, addresses in 10.0.0.0/8".
 * RFC 5280 §4.2.1.10: a DNS constraint covers the name and every name under it; excluding 0.0.0.0/0 and ::/0
 * (what --ca-permit adds when it lists no IP range) means the CA may vouch for no IP address at all.
 */
export function constraintsInWords(lines: readonly string[]): string {
  const words: string[] = [];
  const noIp = lines.includes('exclude IP:0.0.0.0/0') && lines.includes('exclude IP:::/0');
  for (const line of lines) {
    const space = line.indexOf(' ');
    const [verb, form] = [line.slice(0, space), line.slice(space + 1)];
    if (noIp && (form === 'IP:0.0.0.0/0' || form === 'IP:::/0')) continue;
    const what = form.startsWith('DNS:') ? `names under ${form.slice(4).replace(/^\./, '')}` : form.startsWith('IP:') ? `addresses in ${form.slice(3)}` : form;
    words.push(verb === 'exclude' ? `not ${what}` : what);
  }
  if (noIp) words.push('no IP addresses');
  return words.join(', ');
}

/** A host name the constraints permit, for examples ("lab.test"), or null when they permit no name. */
export function permittedExampleHost(lines: readonly string[]): string | null {
  const dns = lines.find((line) => line.startsWith('permit DNS:'));
  return dns ? dns.slice('permit DNS:'.length).replace(/^\./, '') : null;
}

function popcount(byte: number): number {
  let n = 0;
  for (let b = byte; b; b >>= 1) n += b & 1;
  return n;
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * Whether a CA with this NameConstraints value may vouch for `host` (RFC 5280 §4.2.1.10): a name of a form the
 * permitted subtrees list must be within one of them, and within none of the excluded ones. A DNS subtree covers the
 * name itself and every name below it. A value that does not parse permits everything, as if there were none:
 * the CA was loaded and checked by OpenSSL already, so this only decides which names to put in a leaf.
 */
export function constraintsPermit(value: Buffer, host: HostName): boolean {
  const top = readTlv(value, 0);
  const trees = top && top.tag === 0x30 ? childrenOf(value, top) : null;
  const wantTag = host.kind === 'dns' ? 0x82 : 0x87;
  const hostBytes = host.kind === 'ip' ? ipToBytes(host.address) : null;
  let listed = false;
  let permitted = false;
  for (const tree of trees ?? []) {
    const permit = tree.tag === 0xa0;
    if (!permit && tree.tag !== 0xa1) continue;
    for (const subtree of childrenOf(value, tree) ?? []) {
      const base = childrenOf(value, subtree)?.[0];
      if (!base || base.tag !== wantTag) continue;
      const bytes = contentOf(value, base);
      const within = host.kind === 'dns' ? dnsWithin(host.name, bytes.toString('latin1')) : hostBytes !== null && ipWithin(hostBytes, bytes);
      if (!permit && within) return false;
      if (permit) {
        listed = true;
        permitted ||= within;
      }
    }
  }
  return !listed || permitted;
}

function dnsWithin(name: string, constraint: string): boolean {
  const suffix = constraint.replace(/^\./, '').toLowerCase();
  return suffix === '' || name === suffix || name.endsWith(`.${suffix}`);
}

function ipWithin(address: Buffer, range: Buffer): boolean {
  if (range.length !== address.length * 2) return false;
  for (let i = 0; i < address.length; i++) if ((address[i]! & range[address.length + i]!) !== (range[i]! & range[address.length + i]!)) return false;
  return true;
}
