import { type Bucket, backOff, reserve } from './gcra';
import type { LimitStore, Slot, SlotRequest } from './store';

/** The portal's limits held in this process (one replica, or a replica that cannot reach Redis). */
export class MemoryStore implements LimitStore {
  #tatUs = 0;
  /** Method → paused until (unix ms). */
  readonly #pauses = new Map<string, number>();

  constructor(
    readonly bucket: Bucket,
    private readonly now: () => number = Date.now,
  ) {}

  async slot(request: SlotRequest): Promise<Slot> {
    return this.slotNow(request);
  }

  /** `slot`, at once: the in-process answer needs no round trip. */
  slotNow({ method, maxWaitMs, ahead, dryRun }: SlotRequest): Slot {
    const nowMs = this.now();
    const pausedMs = (this.#pauses.get(method) ?? 0) - nowMs;
    if (pausedMs > 0) return { kind: 'paused', ms: pausedMs };
    const result = reserve(this.#tatUs, nowMs * 1000, this.bucket, {
      maxWaitUs: maxWaitMs * 1000,
      ...(ahead !== undefined && { ahead }),
      ...(dryRun !== undefined && { dryRun }),
    });
    this.#tatUs = result.tatUs;
    const waitMs = Math.ceil(result.waitUs / 1000);
    return result.reserved || (dryRun && result.waitUs <= maxWaitMs * 1000)
      ? { kind: 'reserved', waitMs }
      : { kind: 'too-long', waitMs };
  }

  async backOff(): Promise<void> {
    this.#tatUs = backOff(this.#tatUs, this.now() * 1000, this.bucket);
  }

  async pause(method: string, untilMs: number): Promise<void> {
    this.#pauses.set(method, Math.max(this.#pauses.get(method) ?? 0, untilMs));
  }

  /** The methods paused now, and until when (unix ms). */
  pauses(): [string, number][] {
    const now = this.now();
    return [...this.#pauses].filter(([, until]) => until > now);
  }

  async close(): Promise<void> {}
}
