/** An answer as the gateway gave it, kept to be replayed to a retry with the same key. */
export interface StoredAnswer {
  status: number;
  /** The headers that matter to a caller (content type, Retry-After, WWW-Authenticate). */
  headers: Record<string, string>;
  body: string;
}

/** What a claim of a key found. */
export type Claim =
  /** The key was free: it is this request's now, to `complete` or `release` with `token`. */
  | { kind: 'claimed'; token: string }
  /** The first request with the key is still being processed. */
  | { kind: 'in-flight'; retryAfterMs: number }
  /** The key was used with other parameters. */
  | { kind: 'mismatch' }
  /** The first request with the key finished: its answer, to replay. */
  | { kind: 'done'; answer: StoredAnswer }
  /** The first request's holder went away before its outcome was known (its lease ran out): never sent again. */
  | { kind: 'abandoned' }
  /**
   * The store holds as many keys as it may: a new one cannot be taken without evicting a live one. Where the
   * store knows it, `retryAfterMs` is the time until its first key expires.
   */
  | { kind: 'full'; retryAfterMs?: number };

export interface ClaimRequest {
  /** The scoped key (team, method and the caller's key, hashed). */
  key: string;
  /** The request's normalised parameters, hashed: the same key with other parameters is a mismatch. */
  fingerprint: string;
  /** How long the claim holds before its holder counts as gone. */
  leaseMs: number;
  /** How long the key is kept after its call ended. The claim itself lives the longer of this and the lease. */
  retentionMs: number;
}

/** Why a store could not take a key or an answer: a fixed set, for the metric. */
export type StoreFailure = 'unreachable' | 'timed out' | 'refused' | 'out of memory' | 'disk full' | 'failed';

/**
 * The store cannot take a key or an answer now. A claim refused so is answered 503 and nothing is sent;
 * `why` completes "The store of idempotency keys …" in that answer's description.
 */
export class IdempotencyStoreUnavailable extends Error {
  constructor(
    readonly why: string,
    readonly reason: StoreFailure,
    /** When to try again, where the store knows it (the fail-closed window's end); otherwise 1 s. */
    readonly retryAfterMs?: number,
  ) {
    super(`the store of idempotency keys ${why}`);
    this.name = 'IdempotencyStoreUnavailable';
  }
}

/**
 * Where idempotency keys live: in the data folder's database for one gateway (SqliteIdempotencyStore), in
 * Redis for several replicas (so that a retry landing on another replica is recognised). Every method may throw when the store cannot be reached: the pipeline then
 * answers 503 and sends nothing.
 */
export interface IdempotencyStore {
  claim(request: ClaimRequest): Promise<Claim>;
  /** Stores the final answer of a claimed key (only by its claimer: `token`). */
  complete(key: string, token: string, answer: StoredAnswer, retentionMs: number): Promise<void>;
  /** Frees a claimed key whose request certainly did not reach Bitrix24 (only by its claimer). */
  release(key: string, token: string): Promise<void>;
  close?(): Promise<void>;
}
