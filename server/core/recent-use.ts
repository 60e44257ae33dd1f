// Which (client, host) pairs recently carried requests. Browsers open spare connections speculatively (Chromium
// opens two per navigation and closes the idle one later), so a connection that closes unused is only suspicious
// when no sibling connection to the same host was used either. Bounded: the oldest pairs are forgotten first.

export class RecentUse {
  readonly #lastUse = new Map<string, number>();

  constructor(private readonly max = 4096) {}

  /** Records a request from `client` to `host` at `now` (ms). */
  mark(client: string, host: string, now: number): void {
    const key = `${client}\u0000${host}`;
    this.#lastUse.delete(key);
    this.#lastUse.set(key, now);
    if (this.#lastUse.size > this.max) this.#lastUse.delete(this.#lastUse.keys().next().value!);
  }

  /** True when `client` sent a request to `host` at or after `since` (ms). */
  usedSince(client: string, host: string, since: number): boolean {
    const last = this.#lastUse.get(`${client}\u0000${host}`);
    return last !== undefined && last >= since;
  }
}
