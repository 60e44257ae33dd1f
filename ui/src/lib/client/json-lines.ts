// JSON Lines (one JSON value per line, https://jsonlines.org/) decoded incrementally from a text stream: the hub
// streams a recorded session this way, and a session can be far larger than one chunk. Never throws on bad input:
// unparseable and oversized lines are counted and skipped.

/** Longest line kept while waiting for its newline; longer ones are skipped (the hub never writes such lines). */
const DEFAULT_MAX_LINE_CHARS = 64 * 1024 * 1024;

export class JsonLinesDecoder {
  /** Lines skipped so far: unparseable JSON, or longer than the limit. */
  skipped = 0;
  readonly #maxLineChars: number;
  #carry = '';
  #dropping = false;

  constructor(maxLineChars = DEFAULT_MAX_LINE_CHARS) {
    this.#maxLineChars = maxLineChars;
  }

  /** The values of the lines `text` completes, in order; an unfinished last line waits for the next push. */
  push(text: string): unknown[] {
    const values: unknown[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      start = nl + 1;
      if (this.#dropping) {
        this.#dropping = false;
        this.#carry = '';
        continue;
      }
      const line = this.#carry + piece;
      this.#carry = '';
      this.#parse(line, values);
    }
    if (start < text.length && !this.#dropping) {
      this.#carry += text.slice(start);
      if (this.#carry.length > this.#maxLineChars) {
        this.#carry = '';
        this.#dropping = true;
        this.skipped++;
      }
    }
    return values;
  }

  /** The end of the stream: a last line without its newline still counts when it is whole JSON. */
  end(): unknown[] {
    const values: unknown[] = [];
    if (!this.#dropping && this.#carry.length > 0) this.#parse(this.#carry, values);
    this.#carry = '';
    this.#dropping = false;
    return values;
  }

  #parse(line: string, into: unknown[]): void {
    // RFC 8259 allows whitespace around a value; a CRLF writer leaves a '\r' here.
    if (line.trim().length === 0) return;
    try {
      into.push(JSON.parse(line));
    } catch {
      this.skipped++;
    }
  }
}
