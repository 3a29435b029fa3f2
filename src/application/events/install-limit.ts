// How many install confirmations the event handler makes (each spends the application's standing at the
// authorization server, which "may block" an application that refreshes too often): a token bucket per
// source address and one overall, each refilled evenly over a minute. The sources are held in a Map (no
// prototype: any text is a key), at most `maxSources` of them; the one used longest ago is dropped first,
// which gives it a full bucket again, so the overall bucket is what bounds a sender of many addresses.

export interface InstallLimits {
  /** Installs a minute from one source address (10 unless told). */
  installsPerSourcePerMinute?: number;
  /** Installs a minute from every source together (60 unless told). */
  installsPerMinute?: number;
  /** Source addresses remembered (10,000 unless told). */
  maxSources?: number;
}

export type InstallVerdict =
  | { allowed: true }
  | { allowed: false; scope: 'source' | 'overall'; retryAfterSeconds: number };

const MINUTE_MS = 60_000;
/** A source longer than this is cut (an address is far shorter). */
const MAX_SOURCE = 128;

interface Bucket {
  tokens: number;
  at: number;
}

export class InstallLimiter {
  readonly #perSource: number;
  readonly #overall: number;
  readonly #maxSources: number;
  readonly #now: () => number;
  readonly #sources = new Map<string, Bucket>();
  readonly #all: Bucket;

  constructor(limits: InstallLimits = {}, now: () => number = Date.now) {
    this.#perSource = positive('installsPerSourcePerMinute', limits.installsPerSourcePerMinute ?? 10);
    this.#overall = positive('installsPerMinute', limits.installsPerMinute ?? 60);
    this.#maxSources = positive('maxSources', limits.maxSources ?? 10_000);
    this.#now = now;
    this.#all = { tokens: this.#overall, at: now() };
  }

  /** Takes one install from the source's bucket and the overall one, or says which is empty and for how long. */
  take(source: string): InstallVerdict {
    const now = this.#now();
    const key = source.length > MAX_SOURCE ? source.slice(0, MAX_SOURCE) : source;
    let bucket = this.#sources.get(key);
    if (bucket) this.#sources.delete(key);
    else bucket = { tokens: this.#perSource, at: now };
    // Re-inserted: the Map's order is the order of last use.
    this.#sources.set(key, bucket);
    for (const oldest of this.#sources.keys()) {
      if (this.#sources.size <= this.#maxSources) break;
      this.#sources.delete(oldest);
    }
    refill(bucket, this.#perSource, now);
    refill(this.#all, this.#overall, now);
    if (bucket.tokens < 1) return { allowed: false, scope: 'source', retryAfterSeconds: wait(bucket, this.#perSource) };
    if (this.#all.tokens < 1)
      return { allowed: false, scope: 'overall', retryAfterSeconds: wait(this.#all, this.#overall) };
    bucket.tokens -= 1;
    this.#all.tokens -= 1;
    return { allowed: true };
  }

  /** How many sources are remembered. */
  get sources(): number {
    return this.#sources.size;
  }
}

function refill(bucket: Bucket, perMinute: number, now: number): void {
  // A clock that went back adds nothing.
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(perMinute, bucket.tokens + (elapsed * perMinute) / MINUTE_MS);
  bucket.at = Math.max(bucket.at, now);
}

/** Whole seconds until the bucket holds one token again (at least 1). */
function wait(bucket: Bucket, perMinute: number): number {
  return Math.max(1, Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / perMinute / 1000));
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`InstallLimiter: ${name} must be a positive integer`);
  return value;
}
