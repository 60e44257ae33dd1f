// Recording that is still under way: a connection not yet closed, a leg whose transcript comes at its close, a body
// being decoded before its event. A stop destroys every connection, then waits here, so the session log closes
// only once what those connections had already shown is written (nothing that was seen is lost).

export class Unfinished {
  readonly #open = new Set<Promise<unknown>>();

  /** Tracks work that ends in a promise (a body decoded, then its event emitted). */
  add(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#open.add(settled);
    void settled.then(() => this.#open.delete(settled));
  }

  /** Tracks work that ends on a callback (a socket's close); call the returned function when it is done. */
  begin(): () => void {
    let done!: () => void;
    this.add(new Promise<void>((resolve) => (done = resolve)));
    return done;
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Resolves once nothing has been under way for a quiet moment (work added meanwhile included), or after `limitMs`:
   * true when all ended. The quiet moment is there because a closing socket starts new work some event-loop turns
   * later (a request's 'close' comes after its connection's).
   */
  async drained(limitMs: number, quietMs = 25): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), limitMs)));
    try {
      for (;;) {
        while (this.#open.size > 0) {
          if ((await Promise.race([Promise.all([...this.#open]), deadline])) === 'late') return false;
        }
        const quiet = new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), quietMs));
        if ((await Promise.race([quiet, deadline])) === 'late') return this.#open.size === 0;
        if (this.#open.size === 0) return true;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
