import { randomUUID } from 'node:crypto';
import type { Claim, ClaimRequest, IdempotencyStore, StoredAnswer } from './store';

type Entry =
  | { state: 'in-flight'; fingerprint: string; token: string; leaseUntil: number; expires: number; bytes: number }
  | { state: 'done'; fingerprint: string; answer: StoredAnswer; expires: number; bytes: number };

export interface MemoryIdempotencyOptions {
  /** At most this many keys are held; past it new keys are refused (a live key is never evicted). */
  maxKeys: number;
  /** At most this many bytes of stored answers. */
  maxBytes: number;
  now?: () => number;
}

/** Keys in this process (one replica): bounded in entries and bytes; only expired keys are ever dropped. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
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
    if (!this.#room(bytes, now)) return { kind: 'full' };
    const token = randomUUID();
    this.#set(key, {
      state: 'in-flight',
      fingerprint,
      token,
      leaseUntil: now + leaseMs,
      expires: now + retentionMs,
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

  /** Room for a new key: expired keys are dropped first (in insertion order, the oldest first). */
  #room(bytes: number, now: number): boolean {
    const fits = () => this.#entries.size < this.options.maxKeys && this.#bytes + bytes <= this.options.maxBytes;
    if (fits()) return true;
    for (const [key, entry] of this.#entries) {
      if (entry.expires <= now) this.#delete(key);
      if (fits()) return true;
    }
    return fits();
  }

  #set(key: string, entry: Entry): void {
    this.#delete(key);
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
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
