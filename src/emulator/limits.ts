// Bitrix24's two limits, on an injected millisecond clock.

/** The portal's request-rate limit: each request adds 1 to a level that drains continuously. */
export class LeakyBucket {
  #level = 0;
  #at = 0;

  constructor(
    readonly drainPerSecond: number,
    readonly burst: number,
  ) {}

  level(now: number): number {
    return Math.max(0, this.#level - (Math.max(0, now - this.#at) / 1000) * this.drainPerSecond);
  }

  /** Adds one request at `now`, or answers false, adding nothing, when it would overflow the burst. */
  take(now: number): boolean {
    const level = this.level(now);
    this.#at = now;
    this.#level = level;
    if (level + 1 > this.burst) return false;
    this.#level = level + 1;
    return true;
  }

  reset(): void {
    this.#level = 0;
    this.#at = 0;
  }
}

/** One method's operating time, summed over a window of ten baskets. */
export class OperatingTime {
  // Basket start (ms) → microseconds used; integers, so that sums compare exactly with the limit.
  readonly #baskets = new Map<number, number>();
  readonly #windowMs: number;
  readonly #basketMs: number;
  readonly #limitMicros: number;

  constructor(windowSeconds: number, limitSeconds: number) {
    this.#windowMs = windowSeconds * 1000;
    this.#basketMs = this.#windowMs / 10;
    this.#limitMicros = Math.round(limitSeconds * 1e6);
  }

  /** Seconds used in the window at `now`. */
  used(now: number): number {
    return this.#usedMicros(now) / 1e6;
  }

  exhausted(now: number): boolean {
    return this.#usedMicros(now) >= this.#limitMicros;
  }

  charge(now: number, seconds: number): void {
    this.#drop(now);
    const basket = Math.floor(now / this.#basketMs) * this.#basketMs;
    this.#baskets.set(basket, (this.#baskets.get(basket) ?? 0) + Math.round(seconds * 1e6));
  }

  /** When the oldest basket with time in it leaves the window (ms); undefined when nothing is used. */
  resetAt(now: number): number | undefined {
    this.#drop(now);
    const oldest = Math.min(...this.#baskets.keys());
    return Number.isFinite(oldest) ? oldest + this.#windowMs : undefined;
  }

  reset(): void {
    this.#baskets.clear();
  }

  #usedMicros(now: number): number {
    this.#drop(now);
    let sum = 0;
    for (const micros of this.#baskets.values()) sum += micros;
    return sum;
  }

  #drop(now: number): void {
    for (const start of this.#baskets.keys()) if (start + this.#windowMs <= now) this.#baskets.delete(start);
  }
}
