/** Bitrix24 counts a method's operating time over a rolling window of this length. */
export const OPERATING_WINDOW_MS = 600_000;

/**
 * Bitrix24's operating-time limit for the method: once Bitrix24 answers OPERATION_TIME_LIMIT, the method
 * is paused until `operating_reset_at`, and the gateway answers for Bitrix24 meanwhile.
 *
 * A reset time is believed only when it is a finite number within the operating window ahead: a portal
 * that sends `1e400`, a time in the past or one an hour ahead does not pause the method forever, nor not
 * at all. The configured pause applies instead.
 */
export class OperatingPause {
  #until = 0;
  #lastResetAt = 0;

  constructor(
    /** The pause when Bitrix24 gives no believable `operating_reset_at`. */
    private readonly fallbackMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the method stays paused (0: not paused). */
  remainingMs(): number {
    return Math.max(0, this.#until - this.now());
  }

  /** For `Retry-After`: a whole number of seconds, at least 1, always finite. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.remainingMs() / 1000));
  }

  /** Remembers `time.operating_reset_at` (unix seconds) from Bitrix24's answers, when believable. */
  noteResetAt(unixSeconds: unknown): void {
    const at = this.#believable(unixSeconds);
    if (at !== undefined) this.#lastResetAt = Math.max(this.#lastResetAt, at);
  }

  /** Bitrix24 answered OPERATION_TIME_LIMIT, with `operating_reset_at` when it gave one. */
  pause(resetAtUnixSeconds?: unknown): void {
    const now = this.now();
    const given = this.#believable(resetAtUnixSeconds);
    const noted = this.#lastResetAt > now ? this.#lastResetAt : undefined;
    const reset = given === undefined && noted === undefined ? now + this.fallbackMs : Math.max(given ?? 0, noted ?? 0);
    this.#until = Math.max(this.#until, reset);
  }

  /** `unixSeconds` as ms, when it is a number within the operating window from now. */
  #believable(unixSeconds: unknown): number | undefined {
    if (typeof unixSeconds !== 'number' || !Number.isFinite(unixSeconds)) return undefined;
    const at = unixSeconds * 1000;
    const now = this.now();
    return at > now && at <= now + OPERATING_WINDOW_MS ? at : undefined;
  }
}
