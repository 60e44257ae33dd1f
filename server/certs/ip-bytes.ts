// IP address text ↔ bytes, for the iPAddress GeneralName (RFC 5280 §4.2.1.6: 4 octets for IPv4, 16 for IPv6) and
// for name-constraint masks (§4.2.1.10). Pure.

import { isIPv4, isIPv6 } from 'node:net';

/** The network-order bytes of an IPv4 or IPv6 literal (no brackets, no zone), or null. */
export function ipToBytes(address: string): Buffer | null {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('%')) return null;
  let text = address;
  const tail: number[] = [];
  // An embedded IPv4 tail (RFC 4291 §2.2 form 3), e.g. ::ffff:192.0.2.1.
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    if (!isIPv4(maybeV4)) return null;
    tail.push(...maybeV4.split('.').map(Number));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** A mask of `prefix` leading one bits over `length` bytes. */
export function prefixMask(prefix: number, length: number): Buffer {
  const mask = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    mask[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return mask;
}
