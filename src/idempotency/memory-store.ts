import { randomUUID } from 'node:crypto';
import { ExpiryHeap } from './expiry-heap';
import type { Claim, ClaimRequest, IdempotencyStore, StoredAnswer } from './store';

type Kept = { expires: number; bytes: number };
type Entry =
  | ({ state: 'in-flight'; fingerprint: string; token: string; leaseUntil: number } & Kept)
  | ({ state: 'done'; fingerprint: string; answer: StoredAnswer } & Kept);

export interface MemoryIdempotencyOptions {
  /** At most this many keys are held; past it new keys are refused (a live key is never evicted). */
  maxKeys: number;
  /** At most this many bytes of stored answers. */
  maxBytes: number;
  now?: () => number;
}

/**
 * Keys in this process (one replica): bounded in entries and bytes; only expired keys are ever dropped.
 * Expiries are kept in a min-heap beside the map, so that room is found by dropping from the earliest and
 * stopping at the first live key: a new key costs O(log n) (amortised), whatever the store holds. A claim
 * and a completed key have different lifetimes, so the order of insertion is not the order of expiry.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, Entry & { generation: number }>();
  readonly #expiries = new ExpiryHeap();
  #generation = 0;
  readonly #now: () => number;
  #bytes = 0;

  constructor(private readonly options: MemoryIdempotencyOptions) {
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  async claim({ key, fingerprint, leaseMs, retentionMs }: ClaimRequest): Promise<Claim> {
    const now = this.#now();
    const entry = this.#live(key, now);
    if (entry) {
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (entry.state === 'done') return { kind: 'done', answer: entry.answer };
      return entry.leaseUntil > now
        ? { kind: 'in-flight', retryAfterMs: entry.leaseUntil - now }
        : { kind: 'abandoned' };
    }
    const bytes = key.length + fingerprint.length;
    const room = this.#room(bytes, now);
    if (room !== true) return { kind: 'full', retryAfterMs: room.retryAfterMs };
    const token = randomUUID();
    // A claim lives at least as long as its call can: were it to expire first, a retry would be sent again.
    this.#set(key, {
      state: 'in-flight',
      fingerprint,
      token,
      leaseUntil: now + leaseMs,
      expires: now + Math.max(leaseMs, retentionMs),
      bytes,
    });
    return { kind: 'claimed', token };
  }

  async complete(key: string, token: string, answer: StoredAnswer, retentionMs: number): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry?.state !== 'in-flight' || entry.token !== token) return;
    const bytes = entry.bytes + answer.body.length + JSON.stringify(answer.headers).length;
    // Over the byte bound the answer is not kept, but the key stays taken: a retry is never sent again.
    const kept = this.#bytes - entry.bytes + bytes <= this.options.maxBytes;
    const stored = kept ? answer : outcomeNotKept;
    this.#set(key, {
      state: 'done',
      fingerprint: entry.fingerprint,
      answer: stored,
      expires: this.#now() + retentionMs,
      bytes: kept ? bytes : entry.bytes,
    });
  }

  async release(key: string, token: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry?.state === 'in-flight' && entry.token === token) this.#delete(key);
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expires <= now) {
      this.#delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * Room for a new key: expired keys are dropped, the earliest first, until it fits or the earliest left
   * is live; then the time until that one expires (when room may come next).
   */
  #room(bytes: number, now: number): true | { retryAfterMs: number } {
    const fits = () => this.#entries.size < this.options.maxKeys && this.#bytes + bytes <= this.options.maxBytes;
    for (;;) {
      if (fits()) return true;
      const first = this.#expiries.peek();
      if (!first) return { retryAfterMs: 0 };
      const entry = this.#entries.get(first.key);
      if (entry?.generation === first.generation) {
        if (entry.expires > now) return { retryAfterMs: entry.expires - now };
        this.#delete(first.key);
      }
      this.#expiries.pop();
    }
  }

  #set(key: string, entry: Entry): void {
    this.#delete(key);
    const generation = ++this.#generation;
    this.#entries.set(key, { ...entry, generation });
    this.#bytes += entry.bytes;
    this.#expiries.push({ expires: entry.expires, key, generation });
    // Replaced and released keys leave stale nodes behind; past twice the live ones, they go in one pass.
    if (this.#expiries.size > 2 * this.#entries.size + 1024) {
      this.#expiries.compact((node) => this.#entries.get(node.key)?.generation === node.generation);
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#bytes -= entry.bytes;
    this.#entries.delete(key);
  }
}

/** What a retry gets when the first answer was too large to keep: its outcome, unknown to the gateway now. */
export const outcomeNotKept: StoredAnswer = {
  status: 502,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify({
    error: 'UPSTREAM_BAD_RESPONSE',
    error_description:
      'The first request with this Idempotency-Key reached Bitrix24, but its answer could not be kept; it is not sent again',
  }),
};
