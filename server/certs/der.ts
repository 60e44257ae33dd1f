// A minimal DER reader (ITU-T X.690 §8, §10): enough to walk an X.509 certificate and an SPKI. Pure; it never throws
// on hostile input: every function returns null when the bytes do not hold what was asked for.

/** One tag-length-value element located in a buffer. */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number; only low tag numbers < 31, all X.509 needs). */
  tag: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just past the last content octet. */
  end: number;
}

/** Reads the element that starts at `offset`, or null if the bytes are not a complete definite-length element. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv | null {
  if (offset < 0 || offset + 2 > limit) return null;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return null; // high tag numbers do not occur in X.509
  let pos = offset + 1;
  const first = buf[pos++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    // 0x80 is the indefinite form, forbidden in DER (X.690 §10.1); more than 4 length octets is absurd here.
    if (count === 0 || count > 4 || pos + count > limit) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]!;
  }
  const end = pos + length;
  if (end > limit) return null;
  return { tag, start: offset, contentStart: pos, end };
}

/** The elements inside a constructed element, or null if its contents do not parse exactly. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    if (!child) return null;
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** The content octets of an element (a view, not a copy). */
export function contentOf(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.contentStart, tlv.end);
}

/** The whole encoding of an element, header included (a view, not a copy). */
export function encodingOf(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.start, tlv.end);
}

/** Decodes the contents of an OBJECT IDENTIFIER (X.690 §8.19) to dotted form, or null if malformed. */
export function decodeOid(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return null;
  const arcs: number[] = [];
  let value = 0;
  let inArc = false;
  for (const byte of bytes) {
    if (!inArc && byte === 0x80) return null; // a leading 0x80 is a non-minimal encoding
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return null;
    inArc = (byte & 0x80) !== 0;
    if (!inArc) {
      arcs.push(value);
      value = 0;
    }
  }
  if (inArc) return null;
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}
