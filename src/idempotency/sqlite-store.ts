// Idempotency keys in the gateway's data folder (src/data-dir: SQLite, one process), for a gateway without
// Redis: a claim is committed (and fsynced) before its call is sent, so that neither a restart, nor kill -9,
// nor a host crash lets a retry through again. Bounded in keys and in the bytes the database really holds; its memory is
// SQLite's page cache, whatever the number of keys.
import { randomUUID } from 'node:crypto';
import type { DataDir, Sqlite } from '../data-dir';
import {
  type Claim,
  type ClaimRequest,
  type IdempotencyStore,
  IdempotencyStoreUnavailable,
  type StoredAnswer,
} from './store';

/** The tables' migrations (src/data-dir `migrate`): each step takes the previous version to the next. */
const SCHEMA = [
  `CREATE TABLE idempotency_keys (
     key TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     token TEXT,
     lease_until INTEGER,
     answer TEXT,
     expires INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires);`,
];

/** What a row costs beside its key, fingerprint and answer (the token, the integers, SQLite's own framing). */
const ROW_OVERHEAD = 64;
/** Expired keys dropped per statement, and per sweep at most this many statements (a bounded pause). */
const SWEEP_BATCH = 512;
const SWEEP_BATCHES = 8;
const SWEEP_EVERY_MS = 60_000;
/** Past this many claims remembered in flight, the ones whose lease ended are let go. */
const MAX_HELD = 100_000;

interface Row {
  fingerprint: string;
  token: string | null;
  lease_until: number | null;
  answer: string | null;
  expires: number;
}

export interface SqliteIdempotencyOptions {
  dataDir: DataDir;
  /** At most this many keys are held; past it new keys are refused (a live key is never dropped). */
  maxKeys: number;
  /** At most this many bytes of the database (its pages in use). */
  maxBytes: number;
  now?: () => number;
}

export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #dataDir: DataDir;
  readonly #now: () => number;
  /**
   * The claims this process holds, by token, with their lease's end: a claim in the table whose token is not
   * here was left by a process that is gone (stopped or killed), so its call's outcome is unknown for good.
   */
  readonly #held = new Map<string, number>();
  /** The number of rows: this process alone writes the database (it holds its lock), so counting is exact. */
  #count: number;
  readonly #sweeper: NodeJS.Timeout;
  readonly #sql;
  readonly #claim: (request: ClaimRequest) => Claim;

  constructor(private readonly options: SqliteIdempotencyOptions) {
    this.#dataDir = options.dataDir;
    this.#now = options.now ?? Date.now;
    options.dataDir.migrate('idempotency', SCHEMA);
    const db: Sqlite = options.dataDir.database;
    this.#sql = {
      get: db.prepare<[string], Row>(
        'SELECT fingerprint, token, lease_until, answer, expires FROM idempotency_keys WHERE key = ?',
      ),
      insert: db.prepare(
        'INSERT INTO idempotency_keys (key, fingerprint, token, lease_until, answer, expires) VALUES (?, ?, ?, ?, NULL, ?)',
      ),
      answer: db.prepare(
        'UPDATE idempotency_keys SET answer = ?, token = NULL, lease_until = NULL, expires = ? WHERE key = ? AND token = ? AND answer IS NULL',
      ),
      release: db.prepare('DELETE FROM idempotency_keys WHERE key = ? AND token = ? AND answer IS NULL'),
      drop: db.prepare('DELETE FROM idempotency_keys WHERE key = ?'),
      sweep: db.prepare(
        'DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires <= ? ORDER BY expires LIMIT ?)',
      ),
      firstExpiry: db.prepare('SELECT min(expires) FROM idempotency_keys').pluck(),
      count: db.prepare('SELECT count(*) FROM idempotency_keys').pluck(),
      // An answer or a release is written without waiting for the disk (the next claim's fsync takes it along):
      // lost to a host crash, it leaves the claim, whose retry is then "outcome unknown", never a second send.
      lazy: db.prepare('PRAGMA synchronous = NORMAL'),
      durable: db.prepare('PRAGMA synchronous = FULL'),
    };
    this.#count = Number(this.#sql.count.get());
    this.#claim = db.transaction((request: ClaimRequest) => this.#claimIn(request));
    this.#sweeper = setInterval(() => this.#guard(() => this.#sweep(SWEEP_BATCHES)), SWEEP_EVERY_MS).unref();
  }

  get size(): number {
    return this.#count;
  }

  async claim(request: ClaimRequest): Promise<Claim> {
    return this.#guard(() => {
      // A key that took the database past its bytes is rolled back; expired keys make room, and it is tried once more.
      for (let attempt = 0; ; attempt++)
        try {
          return this.#claim(request);
        } catch (error) {
          if (!(error instanceof Overflow)) throw error;
          if (attempt > 0) return this.#full();
          this.#sweep(SWEEP_BATCHES);
        }
    });
  }

  async complete(key: string, token: string, answer: StoredAnswer, retentionMs: number): Promise<void> {
    this.#held.delete(token);
    const json = JSON.stringify(answer);
    // Over the byte bound the answer is not kept, but the key stays taken: a retry is never sent again.
    const kept = this.#dataDir.usedBytes() + json.length <= this.options.maxBytes ? json : notKept;
    this.#lazily(() => this.#sql.answer.run(kept, this.#now() + retentionMs, key, token));
  }

  async release(key: string, token: string): Promise<void> {
    this.#held.delete(token);
    this.#lazily(() => {
      this.#count -= this.#sql.release.run(key, token).changes;
    });
  }

  /** The data folder is its owner's to close. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #claimIn({ key, fingerprint, leaseMs, retentionMs }: ClaimRequest): Claim {
    const now = this.#now();
    let row = this.#sql.get.get(key);
    if (row && row.expires <= now) {
      this.#count -= this.#sql.drop.run(key).changes;
      row = undefined;
    }
    if (row) {
      if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (row.answer !== null) return { kind: 'done', answer: JSON.parse(row.answer) as StoredAnswer };
      const leaseUntil = row.lease_until ?? 0;
      return row.token !== null && this.#held.has(row.token) && leaseUntil > now
        ? { kind: 'in-flight', retryAfterMs: leaseUntil - now }
        : { kind: 'abandoned' };
    }
    const bytes = key.length + fingerprint.length + ROW_OVERHEAD;
    if (!this.#fits(bytes)) {
      this.#sweep(SWEEP_BATCHES);
      if (!this.#fits(bytes)) return this.#full();
    }
    const token = randomUUID();
    // A claim lives at least as long as its call can: were it to expire first, a retry would be sent again.
    this.#sql.insert.run(key, fingerprint, token, now + leaseMs, now + Math.max(leaseMs, retentionMs));
    // The pages the key really took (a page split takes more than the row): past the bound, rolled back.
    if (this.#dataDir.usedBytes() > this.options.maxBytes) throw new Overflow();
    this.#count += 1;
    this.#hold(token, now + leaseMs);
    return { kind: 'claimed', token };
  }

  #full(): Claim {
    const first = this.#sql.firstExpiry.get() as number | null;
    return { kind: 'full', ...(first !== null && { retryAfterMs: Math.max(0, first - this.#now()) }) };
  }

  #fits(bytes: number): boolean {
    return this.#count < this.options.maxKeys && this.#dataDir.usedBytes() + bytes <= this.options.maxBytes;
  }

  /** Drops expired keys, the earliest first, at most `batches` × SWEEP_BATCH of them. */
  #sweep(batches: number): void {
    const now = this.#now();
    for (let i = 0; i < batches; i++) {
      const { changes } = this.#sql.sweep.run(now, SWEEP_BATCH);
      this.#count -= changes;
      if (changes < SWEEP_BATCH) return;
    }
  }

  #hold(token: string, leaseUntil: number): void {
    if (this.#held.size >= MAX_HELD) {
      const now = this.#now();
      for (const [other, until] of this.#held) if (until <= now) this.#held.delete(other);
    }
    this.#held.set(token, leaseUntil);
  }

  /** A write that need not reach the disk before it returns (see `lazy`); claims always do. */
  #lazily(step: () => void): void {
    this.#guard(() => {
      this.#sql.lazy.run();
      try {
        step();
      } finally {
        this.#sql.durable.run();
      }
    });
  }

  /** Runs a database step; what SQLite refuses becomes IdempotencyStoreUnavailable (503, nothing sent). */
  #guard<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      throw unavailable(error);
    }
  }
}

/** A claim that would take the database past its bytes bound (thrown to roll its transaction back). */
class Overflow extends Error {}

function unavailable(error: unknown): IdempotencyStoreUnavailable {
  const code = String((error as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_FULL') return new IdempotencyStoreUnavailable('has no room left on its disk', 'disk full');
  if (code.startsWith('SQLITE_READONLY'))
    return new IdempotencyStoreUnavailable('cannot write to its data folder (read-only)', 'refused');
  const shown = /^SQLITE_[A-Z_]{1,40}$/.test(code) ? code : 'an error';
  return new IdempotencyStoreUnavailable(`cannot write to its data folder (${shown})`, 'failed');
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

const notKept = JSON.stringify(outcomeNotKept);
