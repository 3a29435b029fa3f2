/** Bitrix24 counts a method's operating time over a rolling window of this length. */
export const OPERATING_WINDOW_MS = 600_000;

/**
 * When a pause of the method, announced by OPERATION_TIME_LIMIT, ends: at `operating_reset_at`, or after the
 * configured pause when Bitrix24 gives none. The store (in process, or Redis for every replica) holds it.
 *
 * A reset time is believed only when it is a finite number within the operating window ahead: a portal
 * that sends `1e400`, a time in the past or one an hour ahead does not pause the method forever, nor not
 * at all. The configured pause applies instead.
 */
export class OperatingPause {
  #lastResetAt = 0;

  constructor(
    /** The pause when Bitrix24 gives no believable `operating_reset_at`. */
    private readonly fallbackMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers `time.operating_reset_at` (unix seconds) from Bitrix24's answers, when believable. */
  noteResetAt(unixSeconds: unknown): void {
    const at = this.#believable(unixSeconds);
    if (at !== undefined) this.#lastResetAt = Math.max(this.#lastResetAt, at);
  }

  /** Bitrix24 answered OPERATION_TIME_LIMIT, with `operating_reset_at` when it gave one: until when (unix ms). */
  until(resetAtUnixSeconds?: unknown): number {
    const now = this.now();
    const given = this.#believable(resetAtUnixSeconds);
    const noted = this.#lastResetAt > now ? this.#lastResetAt : undefined;
    return given === undefined && noted === undefined ? now + this.fallbackMs : Math.max(given ?? 0, noted ?? 0);
  }

  /** `unixSeconds` as ms, when it is a number within the operating window from now. */
  #believable(unixSeconds: unknown): number | undefined {
    if (typeof unixSeconds !== 'number' || !Number.isFinite(unixSeconds)) return undefined;
    const at = unixSeconds * 1000;
    const now = this.now();
    return at > now && at <= now + OPERATING_WINDOW_MS ? at : undefined;
  }
}
