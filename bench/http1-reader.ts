// An incremental HTTP/1.1 response reader for the load client: it frames responses (RFC 9112 §6) and counts body
// bytes without keeping them, so a 256 MiB download costs no memory in the client. It never throws on bad input.

/** What one push (or end) reached. */
export type ReaderStep =
  | { kind: 'incomplete' }
  | { kind: 'done'; status: number; bodyBytes: number; close: boolean; rest: Buffer }
  | { kind: 'invalid'; reason: string };

type BodyState =
  | { mode: 'head' }
  | { mode: 'none' }
  | { mode: 'length'; remaining: number }
  | { mode: 'chunk-size'; line: string }
  | { mode: 'chunk-data'; remaining: number }
  | { mode: 'chunk-crlf'; need: number }
  | { mode: 'trailer'; line: string }
  | { mode: 'close' };

const MAX_HEAD = 64 * 1024;
const MAX_LINE = 4096;
const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface ReaderOptions {
  /** The request was CONNECT: a 2xx answer has no body and the tunnel starts right after the head (RFC 9110 §9.3.6). */
  connect?: boolean;
  /** The request was HEAD: no body whatever the headers say (RFC 9110 §9.3.2). */
  head?: boolean;
}

/** Reads one response at a time; call reset() (or make a new one) before the next request on the connection. */
export class ResponseReader {
  private state: BodyState = { mode: 'head' };
  private pending: Buffer | null = null;
  private status = 0;
  private close = false;
  private bodyBytes = 0;
  private finished = false;

  constructor(private options: ReaderOptions = {}) {}

  /** Body bytes counted so far for the current response. */
  get received(): number {
    return this.bodyBytes;
  }

  /** Prepares for the next response on the same connection. */
  reset(options?: ReaderOptions): void {
    if (options) this.options = options;
    this.state = { mode: 'head' };
    this.pending = null;
    this.status = 0;
    this.close = false;
    this.bodyBytes = 0;
    this.finished = false;
  }

  /** Feeds bytes from the socket. */
  push(chunk: Buffer): ReaderStep {
    if (this.finished) return { kind: 'invalid', reason: 'data after the response was complete; call reset()' };
    if (this.state.mode !== 'head') return this.body(chunk);
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (buf.length > MAX_HEAD) return { kind: 'invalid', reason: 'response head too large' };
        this.pending = buf;
        return { kind: 'incomplete' };
      }
      const outcome = this.parseHead(buf.toString('latin1', 0, end));
      buf = buf.subarray(end + 4);
      if (outcome === 'interim') continue;
      if (outcome) return outcome;
      break;
    }
    return this.body(buf);
  }

  /** The connection closed: completes a read-until-close body, anything else is truncated. */
  end(): ReaderStep {
    if (this.finished) return { kind: 'invalid', reason: 'already complete' };
    if (this.state.mode === 'close') return this.finish(Buffer.alloc(0));
    return { kind: 'invalid', reason: `connection closed in ${this.state.mode}` };
  }

  private finish(rest: Buffer): ReaderStep {
    this.finished = true;
    return { kind: 'done', status: this.status, bodyBytes: this.bodyBytes, close: this.close, rest };
  }

  /** Parses the status line and headers and sets the body state; says 'interim' for a 1xx, a step when invalid. */
  private parseHead(text: string): ReaderStep | 'interim' | null {
    const lines = text.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
    if (!match) return { kind: 'invalid', reason: 'bad status line' };
    const status = Number(match[1]);
    let length: number | null = null;
    let chunked = false;
    let close = /^HTTP\/1\.0/.test(lines[0]!);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return { kind: 'invalid', reason: 'bad header line' };
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) return { kind: 'invalid', reason: 'bad content-length' };
        const n = Number(value);
        // RFC 9112 §6.3: differing Content-Length values are unrecoverable.
        if (length !== null && length !== n) return { kind: 'invalid', reason: 'conflicting content-length' };
        length = n;
      } else if (name === 'transfer-encoding') {
        chunked = value.split(',').map((s) => s.trim()).pop() === 'chunked';
      } else if (name === 'connection') {
        const tokens = value.split(',').map((s) => s.trim());
        if (tokens.includes('close')) close = true;
        else if (tokens.includes('keep-alive')) close = false;
      }
    }
    // 1xx other than 101 are interim: skip them and read the real response (RFC 9110 §15.2).
    if (status >= 100 && status < 200 && status !== 101) return 'interim';
    this.status = status;
    this.close = close;
    // RFC 9112 §6.3 order: no body for HEAD, 1xx, 204, 304 and 2xx to CONNECT; then chunked; then length; else close.
    if (this.options.head || status === 101 || status === 204 || status === 304 || (this.options.connect && status >= 200 && status < 300)) {
      this.state = { mode: 'none' };
    } else if (chunked) {
      this.state = { mode: 'chunk-size', line: '' };
    } else if (length !== null) {
      this.state = length === 0 ? { mode: 'none' } : { mode: 'length', remaining: length };
    } else {
      this.state = { mode: 'close' };
      this.close = true;
    }
    return null;
  }

  private body(input: Buffer): ReaderStep {
    let buf = input;
    for (;;) {
      const state = this.state;
      switch (state.mode) {
        case 'head':
        case 'none':
          return this.finish(buf);
        case 'close':
          this.bodyBytes += buf.length;
          return { kind: 'incomplete' };
        case 'length': {
          const n = Math.min(state.remaining, buf.length);
          this.bodyBytes += n;
          state.remaining -= n;
          buf = buf.subarray(n);
          if (state.remaining > 0) return { kind: 'incomplete' };
          return this.finish(buf);
        }
        case 'chunk-size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a);
          if (nl < 0) {
            state.line += buf.toString('latin1');
            if (state.line.length > MAX_LINE) return { kind: 'invalid', reason: 'chunk line too long' };
            return { kind: 'incomplete' };
          }
          const line = (state.line + buf.toString('latin1', 0, nl)).replace(/\r$/, '');
          buf = buf.subarray(nl + 1);
          if (state.mode === 'trailer') {
            if (line === '') return this.finish(buf);
            this.state = { mode: 'trailer', line: '' };
            continue;
          }
          const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line);
          if (!size) return { kind: 'invalid', reason: 'bad chunk size' };
          const n = parseInt(size[1]!, 16);
          this.state = n === 0 ? { mode: 'trailer', line: '' } : { mode: 'chunk-data', remaining: n };
          continue;
        }
        case 'chunk-data': {
          const n = Math.min(state.remaining, buf.length);
          this.bodyBytes += n;
          state.remaining -= n;
          buf = buf.subarray(n);
          if (state.remaining > 0) return { kind: 'incomplete' };
          this.state = { mode: 'chunk-crlf', need: 2 };
          continue;
        }
        case 'chunk-crlf': {
          if (buf.length === 0) return { kind: 'incomplete' };
          const expected = state.need === 2 ? 0x0d : 0x0a;
          if (buf[0] !== expected) return { kind: 'invalid', reason: 'missing CRLF after chunk' };
          buf = buf.subarray(1);
          if (state.need === 2) state.need = 1;
          else this.state = { mode: 'chunk-size', line: '' };
          continue;
        }
      }
    }
  }
}
