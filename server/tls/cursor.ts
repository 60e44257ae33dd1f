// Bounded big-endian reader over a slice of a Buffer, for the hello and handshake parsers. Reading past the end
// throws a TlsDecodeError that the parser's entry point turns into an `invalid` outcome, so the parsers stay
// linear and no read can ever escape its vector (RFC 8446 §3.4: every vector carries its own length).

/**
 * A decode failure at a byte offset; caught at each parser's entry point, never escapes it. Deliberately not an
 * Error: it is control flow on a hot path (partial records are probed often), and capturing a stack trace for each
 * one showed up in profiles.
 */
export class TlsDecodeError {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {}

  get message(): string {
    return `${this.reason} at ${this.offset}`;
  }
}

export class Cursor {
  #pos: number;

  /** Reads `buf` from `start` up to (not including) `end`. */
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.#pos = start;
  }

  /** Current offset in `buf`. */
  get pos(): number {
    return this.#pos;
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.#pos;
  }

  #need(n: number, what: string): void {
    if (n > this.end - this.#pos) throw new TlsDecodeError(`${what}: truncated`, this.#pos);
  }

  /** One byte. */
  u8(what = 'u8'): number {
    this.#need(1, what);
    return this.buf[this.#pos++]!;
  }

  /** Two bytes, big-endian. */
  u16(what = 'u16'): number {
    this.#need(2, what);
    const v = this.buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  /** Three bytes, big-endian. */
  u24(what = 'u24'): number {
    this.#need(3, what);
    const v = this.buf.readUIntBE(this.#pos, 3);
    this.#pos += 3;
    return v;
  }

  /** `n` bytes as a view (no copy). */
  bytes(n: number, what = 'bytes'): Buffer {
    this.#need(n, what);
    const v = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** A child cursor over the next `n` bytes (a length-prefixed vector); this cursor skips past them. */
  sub(n: number, what = 'vector'): Cursor {
    this.#need(n, what);
    const child = new Cursor(this.buf, this.#pos, this.#pos + n);
    this.#pos += n;
    return child;
  }

  /** A child cursor over a vector whose length is a `prefix`-byte integer (1, 2 or 3). */
  vector(prefix: 1 | 2 | 3, what = 'vector'): Cursor {
    const n = prefix === 1 ? this.u8(what) : prefix === 2 ? this.u16(what) : this.u24(what);
    return this.sub(n, what);
  }

  /** Throws unless every byte was read (RFC 8446 §4: no trailing bytes inside a vector). */
  done(what = 'vector'): void {
    if (this.#pos !== this.end) throw new TlsDecodeError(`${what}: ${this.end - this.#pos} trailing bytes`, this.#pos);
  }

  /** Reads a vector of u16 values; an odd length is invalid. */
  u16List(prefix: 1 | 2, what: string): number[] {
    const v = this.vector(prefix, what);
    if (v.remaining % 2 !== 0) throw new TlsDecodeError(`${what}: odd length`, v.pos);
    const out: number[] = [];
    while (v.remaining > 0) out.push(v.u16(what));
    return out;
  }

  /** Reads a vector of u8 values. */
  u8List(prefix: 1 | 2, what: string): number[] {
    const v = this.vector(prefix, what);
    return [...v.bytes(v.remaining, what)];
  }
}
