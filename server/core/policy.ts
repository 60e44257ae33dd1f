// Pure policies: which connections mitmlab intercepts, and which destinations it refuses to reach.

import { isIP } from 'node:net';

/**
 * Host patterns for --passthrough and --upstream-insecure:
 * `example.com` matches that host only, `*.example.com` any subdomain, `.example.com` the host and its subdomains.
 */
export function matchesHostPattern(host: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  if (p.startsWith('.')) return h === p.slice(1) || h.endsWith(p);
  return h === p;
}

/** True when any pattern matches any of the names (CONNECT host, SNI). */
export function matchesAny(names: ReadonlyArray<string | null | undefined>, patterns: readonly string[]): boolean {
  for (const name of names) {
    if (!name) continue;
    for (const pattern of patterns) if (matchesHostPattern(name, pattern)) return true;
  }
  return false;
}

/** mitmlab's own listening endpoints, and the addresses that reach this machine. */
export interface OwnEndpoints {
  ports: readonly number[];
  /** Addresses of this machine's interfaces (os.networkInterfaces()). */
  localAddresses: readonly string[];
}

/** Loopback and unspecified addresses always reach this machine (RFC 1122 §3.2.1.3, RFC 4291 §2.5.2-3). */
export function isLocalAddress(address: string, localAddresses: readonly string[]): boolean {
  const bytes = canonicalBytes(address);
  if (!bytes) return false;
  if (bytes.length === 4) {
    if (bytes[0] === 127 || bytes.every((b) => b === 0)) return true;
  } else if (bytes.subarray(0, 15).every((b) => b === 0) && (bytes[15] === 1 || bytes[15] === 0)) {
    return true; // ::1 and ::
  }
  return localAddresses.some((local) => {
    const other = canonicalBytes(local);
    return other !== null && other.equals(bytes);
  });
}

/**
 * An address as bytes, with IPv4-mapped IPv6 (::ffff:a.b.c.d, also written ::ffff:7f00:1; RFC 4291 §2.5.5.2) reduced
 * to its 4 IPv4 bytes, so every spelling of one address compares equal. Null when not an IP literal.
 */
function canonicalBytes(address: string): Buffer | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 0) return null;
  const bytes = addressBytes(bare, family as 4 | 6);
  if (family === 6 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.subarray(12);
  }
  return bytes;
}

/** A destination that is one of mitmlab's own listeners: forwarding there would loop or expose the live view. */
export function isOwnEndpoint(address: string, port: number, own: OwnEndpoints): boolean {
  return own.ports.includes(port) && isLocalAddress(address, own.localAddresses);
}

/** An IPv4 or IPv6 CIDR block for --allow. */
export interface Cidr {
  text: string;
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address; null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const [addr, prefixText] = text.split('/', 2) as [string, string | undefined];
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return null;
  return { text, family: family as 4 | 6, bytes: addressBytes(addr, family as 4 | 6), prefix };
}

/** True when the address lies in one of the blocks. IPv4-mapped IPv6 addresses count as IPv4. */
export function inAnyCidr(address: string, blocks: readonly Cidr[]): boolean {
  const bytes = canonicalBytes(address);
  if (!bytes) return false;
  const family = bytes.length === 4 ? 4 : 6;
  return blocks.some((block) => block.family === family && prefixMatches(bytes, block.bytes, block.prefix));
}

function prefixMatches(a: Buffer, b: Buffer, prefix: number): boolean {
  const full = Math.floor(prefix / 8);
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = prefix % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (b[full]! & mask);
}

function addressBytes(address: string, family: 4 | 6): Buffer {
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  // Expand "::" and an embedded IPv4 tail (RFC 4291 §2.2) into 16 bytes.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes('::') ? (text.split('::', 2) as [string, string]) : [text, null];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const zeros = tail === null ? [] : new Array(8 - headParts.length - tailParts.length).fill('0');
  const groups = [...headParts, ...zeros, ...tailParts];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group || '0', 16), i * 2));
  return out;
}
