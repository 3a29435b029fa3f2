/**
 * Bitrix24's operating-time limit for the method: once Bitrix24 answers OPERATION_TIME_LIMIT, the method
 * is paused until `operating_reset_at`, and the gateway answers for Bitrix24 meanwhile.
 */
export class OperatingPause {
  #until = 0;
  #lastResetAt = 0;

  constructor(
    /** The pause when Bitrix24 gives no `operating_reset_at` in the future. */
    private readonly fallbackMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the method stays paused (0: not paused). */
  remainingMs(): number {
    return Math.max(0, this.#until - this.now());
  }

  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.remainingMs() / 1000));
  }

  /** Remembers `time.operating_reset_at` (unix seconds) from Bitrix24's answers. */
  noteResetAt(unixSeconds: number): void {
    this.#lastResetAt = Math.max(this.#lastResetAt, unixSeconds * 1000);
  }

  /** Bitrix24 answered OPERATION_TIME_LIMIT. */
  pause(resetAtUnixSeconds?: number): void {
    const now = this.now();
    const candidates = [resetAtUnixSeconds !== undefined ? resetAtUnixSeconds * 1000 : 0, this.#lastResetAt];
    const until = Math.max(...candidates);
    this.#until = Math.max(this.#until, until > now ? until : now + this.fallbackMs);
  }
}
