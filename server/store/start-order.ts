// Puts HAR entries back in the order their requests started. The log has them in the order they completed (a slow
// download ends after the quick requests begun behind it), and the HAR 1.2 spec, under "entries", names sorting by
// startedDateTime, oldest first, as the preferred order.
// An entry waits only while a flow that started before it is still open, and the wait is bounded in size: past the
// bound, the waiting entries go out (in start order among themselves), so a WebSocket left open for an hour never
// makes the export hold the whole session.

interface Waiting {
  startedAt: number;
  text: string;
}

export class StartOrderBuffer {
  readonly #maxBytes: number;
  #waiting: Waiting[] = [];
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Adds a completed entry (its serialized text) that started at `startedAt` (ms since the epoch). */
  add(startedAt: number, text: string): void {
    const entry = { startedAt, text };
    // After every waiting entry that starts no later (entries that started in the same millisecond keep their
    // arrival order); a binary search, as entries mostly arrive nearly in order.
    let low = 0;
    let high = this.#waiting.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#waiting[mid]!.startedAt <= startedAt) low = mid + 1;
      else high = mid;
    }
    this.#waiting.splice(low, 0, entry);
    this.#bytes += text.length;
  }

  /**
   * The entries that may go out now, in start order: those that started no later than `openFrom` (the earliest start
   * among flows still open; null when none is), or all of them once they exceed the byte bound.
   */
  takeReady(openFrom: number | null): string[] {
    if (openFrom === null || this.#bytes > this.#maxBytes) return this.takeAll();
    let count = 0;
    while (count < this.#waiting.length && this.#waiting[count]!.startedAt <= openFrom) count++;
    return this.#take(count);
  }

  /** Every waiting entry, in start order. */
  takeAll(): string[] {
    return this.#take(this.#waiting.length);
  }

  get size(): number {
    return this.#waiting.length;
  }

  #take(count: number): string[] {
    const out = this.#waiting.splice(0, count).map((entry) => entry.text);
    for (const text of out) this.#bytes -= text.length;
    return out;
  }
}
