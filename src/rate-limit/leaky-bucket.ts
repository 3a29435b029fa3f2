/**
 * Bitrix24's leaky bucket, as the gateway models it: each request adds 1 to a level that drains
 * continuously at `drainPerSecond`; a request may go when the level after it is at most `burst`.
 */
export class LeakyBucket {
  #level = 0;
  #at: number;

  constructor(
    readonly drainPerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#at = now();
  }

  /** The level now. */
  level(): number {
    const now = this.now();
    this.#level = Math.max(0, this.#level - ((now - this.#at) / 1000) * this.drainPerSecond);
    this.#at = now;
    return this.#level;
  }

  /** Milliseconds until `count` more requests fit (0: they fit now). */
  msUntilRoomFor(count = 1): number {
    const excess = this.level() + count - this.burst;
    return excess <= 0 ? 0 : Math.ceil((excess / this.drainPerSecond) * 1000);
  }

  /** Counts one request in. */
  add(): void {
    this.#level = this.level() + 1;
  }

  /** Bitrix24 said the bucket is full: believe it (other applications share it). */
  fill(): void {
    this.level();
    this.#level = Math.max(this.#level, this.burst);
  }
}
