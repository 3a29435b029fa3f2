import type { DataDir, Sqlite } from '../data-dir';
import {
  checkInteger,
  checkRecord,
  checkState,
  checkText,
  checkTokens,
  domainOf,
  MAX_DOMAIN,
  MAX_SECRET,
  MAX_TEXT,
  sameSecret,
  shownMemberId,
} from './portal-bounds';
import type { PortalRecord, PortalState, PortalStore, PortalSummary, PortalTokens } from './types';
import { packSealed, type TokenVault, unpackSealed, VaultError } from './vault';

/** The tables' migrations (src/data-dir `migrate`): each step takes the previous version to the next. */
const SCHEMA = [
  `CREATE TABLE portals (
     member_id TEXT PRIMARY KEY,
     domain TEXT NOT NULL,
     client_endpoint TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('installing', 'ready', 'bot-failed', 'needs-reinstall')),
     state_reason TEXT,
     bot_id INTEGER,
     expires_at INTEGER NOT NULL,
     issued_at INTEGER NOT NULL,
     installed_at INTEGER NOT NULL,
     refreshed_at INTEGER,
     key_id TEXT NOT NULL,
     secrets BLOB NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX portals_by_domain ON portals (domain);
   CREATE INDEX portals_by_key ON portals (key_id);`,
];

/** Records sealed again per transaction by `rewrap` unless told (the event loop runs between two). */
const REWRAP_BATCH = 256;

/** `put` of a new portal when the store already holds `maxPortals`; a portal it holds is always replaced. */
export class PortalStoreFull extends Error {
  constructor(readonly maxPortals: number) {
    super(`the portal store holds its maximum of ${maxPortals} portals; a new portal is refused until one is deleted`);
    this.name = 'PortalStoreFull';
  }
}

export interface SqlitePortalStoreOptions {
  dataDir: DataDir;
  vault: TokenVault;
  /** At most this many portals (100,000 unless told). */
  maxPortals?: number;
  /** Records `rewrap` seals again per transaction (256 unless told). */
  rewrapBatch?: number;
  now?: () => number;
}

/** The three secrets of a portal, sealed together (one IV, one tag) as JSON. */
interface Secrets {
  access: string;
  refresh: string;
  application: string;
}

interface Row {
  member_id: string;
  domain: string;
  client_endpoint: string;
  state: PortalState;
  state_reason: string | null;
  bot_id: number | null;
  expires_at: number;
  issued_at: number;
  installed_at: number;
  refreshed_at: number | null;
  key_id: string;
  secrets: Buffer;
}

type SummaryRow = Omit<Row, 'client_endpoint' | 'expires_at' | 'key_id' | 'secrets'>;

export class SqlitePortalStore implements PortalStore {
  readonly #db: Sqlite;
  readonly #vault: TokenVault;
  readonly #maxPortals: number;
  readonly #rewrapBatchSize: number;
  readonly #now: () => number;
  /** The number of rows: this process alone writes the database (it holds its lock), so counting is exact. */
  #count: number;
  readonly #sql;
  readonly #put: (record: PortalRecord) => boolean;
  readonly #replace: (memberId: string, spent: string, tokens: PortalTokens, endpoint: string) => boolean;
  readonly #markLost: (memberId: string, spent: string, reason: string) => boolean;
  readonly #setApplicationToken: (memberId: string, token: string) => boolean;
  readonly #rewrapBatch: (after: string) => { rewrapped: number; seen: number; last: string };

  constructor(options: SqlitePortalStoreOptions) {
    const maxPortals = options.maxPortals ?? 100_000;
    if (!Number.isSafeInteger(maxPortals) || maxPortals < 1)
      throw new RangeError('SqlitePortalStore: maxPortals must be a positive integer');
    this.#vault = options.vault;
    this.#maxPortals = maxPortals;
    this.#rewrapBatchSize = options.rewrapBatch ?? REWRAP_BATCH;
    if (!Number.isSafeInteger(this.#rewrapBatchSize) || this.#rewrapBatchSize < 1)
      throw new RangeError('SqlitePortalStore: rewrapBatch must be a positive integer');
    this.#now = options.now ?? Date.now;
    options.dataDir.migrate('portals', SCHEMA);
    const db: Sqlite = options.dataDir.database;
    this.#db = db;
    const columns =
      'member_id, domain, client_endpoint, state, state_reason, bot_id, expires_at, issued_at, installed_at, refreshed_at, key_id, secrets';
    this.#sql = {
      get: db.prepare<[string], Row>(`SELECT ${columns} FROM portals WHERE member_id = ?`),
      byDomain: db.prepare<[string], Row>(`SELECT ${columns} FROM portals WHERE domain = ? LIMIT 2`),
      list: db.prepare<[], SummaryRow>(
        'SELECT member_id, domain, state, state_reason, bot_id, issued_at, installed_at, refreshed_at FROM portals ORDER BY member_id',
      ),
      exists: db.prepare<[string]>('SELECT 1 FROM portals WHERE member_id = ?').pluck(),
      upsert: db.prepare(
        `INSERT INTO portals (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (member_id) DO UPDATE SET domain = excluded.domain, client_endpoint = excluded.client_endpoint,
           state = excluded.state, state_reason = excluded.state_reason, bot_id = excluded.bot_id,
           expires_at = excluded.expires_at, issued_at = excluded.issued_at, installed_at = excluded.installed_at,
           refreshed_at = excluded.refreshed_at, key_id = excluded.key_id, secrets = excluded.secrets`,
      ),
      tokens: db.prepare(
        `UPDATE portals SET key_id = ?, secrets = ?, expires_at = ?, issued_at = ?, refreshed_at = ?,
           client_endpoint = ?, domain = coalesce(?, domain) WHERE member_id = ?`,
      ),
      reseal: db.prepare('UPDATE portals SET key_id = ?, secrets = ? WHERE member_id = ?'),
      state: db.prepare(
        'UPDATE portals SET state = ?, state_reason = ?, bot_id = coalesce(?, bot_id) WHERE member_id = ?',
      ),
      delete: db.prepare('DELETE FROM portals WHERE member_id = ?'),
      notUnder: db.prepare<[string, string, number], Pick<Row, 'member_id' | 'key_id' | 'secrets'>>(
        'SELECT member_id, key_id, secrets FROM portals WHERE member_id > ? AND key_id <> ? ORDER BY member_id LIMIT ?',
      ),
      keyIds: db.prepare<[], { key_id: string; n: number }>(
        'SELECT key_id, count(*) AS n FROM portals GROUP BY key_id ORDER BY key_id',
      ),
      count: db.prepare('SELECT count(*) FROM portals').pluck(),
    };
    this.#count = Number(this.#sql.count.get());
    this.#put = db.transaction((record: PortalRecord) => this.#putIn(record));
    this.#replace = db.transaction((memberId: string, spent: string, tokens: PortalTokens, endpoint: string) =>
      this.#replaceIn(memberId, spent, tokens, endpoint),
    );
    this.#markLost = db.transaction((memberId: string, spent: string, reason: string) => {
      const row = this.#sql.get.get(memberId);
      if (!row || !sameSecret(this.#open(row).refresh, spent)) return false;
      return this.#sql.state.run('needs-reinstall', reason, null, memberId).changes > 0;
    });
    this.#setApplicationToken = db.transaction((memberId: string, token: string) => {
      const row = this.#sql.get.get(memberId);
      if (!row) return false;
      this.#reseal(memberId, { ...this.#open(row), application: token });
      return true;
    });
    this.#rewrapBatch = db.transaction((after: string) => this.#rewrapIn(after));
  }

  /** The number of portals held. */
  get size(): number {
    return this.#count;
  }

  async get(memberId: string): Promise<PortalRecord | undefined> {
    const row = this.#sql.get.get(memberId);
    return row && this.#record(row);
  }

  async getByDomain(domain: string): Promise<PortalRecord | undefined> {
    if (typeof domain !== 'string' || domain.length > MAX_DOMAIN) return undefined;
    const rows = this.#sql.byDomain.all(domain.toLowerCase());
    return rows.length === 1 ? this.#record(rows[0]!) : undefined;
  }

  async list(): Promise<PortalSummary[]> {
    return this.#sql.list.all().map((row) => ({
      memberId: row.member_id,
      domain: row.domain,
      state: row.state,
      ...(row.state_reason !== null && { stateReason: row.state_reason }),
      ...(row.bot_id !== null && { botId: row.bot_id }),
      installedAt: row.installed_at,
      ...(row.refreshed_at !== null && { refreshedAt: row.refreshed_at }),
      refreshTokenIssuedAt: row.issued_at,
    }));
  }

  /** Throws PortalStoreFull for a new portal past `maxPortals`, and TypeError for a record out of bounds. */
  async put(record: PortalRecord): Promise<void> {
    checkRecord(record);
    this.#durably(() => {
      if (this.#put(record)) this.#count += 1;
    });
  }

  async replaceTokens(memberId: string, spent: string, tokens: PortalTokens, clientEndpoint: string): Promise<boolean> {
    checkTokens(tokens);
    checkText('clientEndpoint', clientEndpoint, MAX_TEXT);
    if (typeof spent !== 'string') return false;
    return this.#durably(() => this.#replace(memberId, spent, tokens, clientEndpoint));
  }

  async markLost(memberId: string, spent: string, reason: string): Promise<boolean> {
    checkText('stateReason', reason, MAX_TEXT);
    if (typeof spent !== 'string') return false;
    return this.#durably(() => this.#markLost(memberId, spent, reason));
  }

  /** Without a reason the stored one is cleared (a reason is the state's); the bot id is kept unless given. */
  async setState(
    memberId: string,
    state: PortalState,
    details?: { reason?: string; botId?: number },
  ): Promise<boolean> {
    checkState(state);
    if (details?.reason !== undefined) checkText('stateReason', details.reason, MAX_TEXT);
    if (details?.botId !== undefined) checkInteger('botId', details.botId);
    return this.#durably(
      () => this.#sql.state.run(state, details?.reason ?? null, details?.botId ?? null, memberId).changes > 0,
    );
  }

  async setApplicationToken(memberId: string, applicationToken: string): Promise<boolean> {
    checkText('applicationToken', applicationToken, MAX_SECRET);
    return this.#durably(() => this.#setApplicationToken(memberId, applicationToken));
  }

  async delete(memberId: string): Promise<boolean> {
    return this.#durably(() => {
      const { changes } = this.#sql.delete.run(memberId);
      this.#count -= changes;
      return changes > 0;
    });
  }

  /**
   * Seals again, under the vault's first key, every record sealed under another, a batch per transaction;
   * resolves with how many it sealed again. A record it cannot open (its key not held, or altered) is left
   * as it is: `keyIds()` still counts it under its key.
   */
  async rewrap(): Promise<number> {
    let rewrapped = 0;
    for (let after = ''; ; ) {
      const batch = this.#durably(() => this.#rewrapBatch(after));
      rewrapped += batch.rewrapped;
      if (batch.seen < this.#rewrapBatchSize) return rewrapped;
      after = batch.last;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** How many records each key id seals (for the operator: a key may go once it seals none). */
  keyIds(): Map<string, number> {
    return new Map(this.#sql.keyIds.all().map((row) => [row.key_id, row.n]));
  }

  /** The data folder is its owner's to close. */
  async close(): Promise<void> {}

  /** Whether the portal is new (counted once the transaction committed). */
  #putIn(record: PortalRecord): boolean {
    const isNew = this.#sql.exists.get(record.memberId) === undefined;
    if (isNew && this.#count >= this.#maxPortals) throw new PortalStoreFull(this.#maxPortals);
    const sealed = this.#vault.seal(
      record.memberId,
      JSON.stringify({
        access: record.tokens.accessToken,
        refresh: record.tokens.refreshToken,
        application: record.applicationToken,
      } satisfies Secrets),
    );
    this.#sql.upsert.run(
      record.memberId,
      record.domain.toLowerCase(),
      record.clientEndpoint,
      record.state,
      record.stateReason ?? null,
      record.botId ?? null,
      record.tokens.expiresAt,
      record.tokens.issuedAt,
      record.installedAt,
      record.refreshedAt ?? null,
      sealed.keyId,
      packSealed(sealed),
    );
    return isNew;
  }

  #replaceIn(memberId: string, spent: string, tokens: PortalTokens, endpoint: string): boolean {
    const row = this.#sql.get.get(memberId);
    if (!row) return false;
    const secrets = this.#open(row);
    if (!sameSecret(secrets.refresh, spent)) return false;
    const next: Secrets = { ...secrets, access: tokens.accessToken, refresh: tokens.refreshToken };
    const sealed = this.#vault.seal(memberId, JSON.stringify(next));
    this.#sql.tokens.run(
      sealed.keyId,
      packSealed(sealed),
      tokens.expiresAt,
      tokens.issuedAt,
      this.#now(),
      endpoint,
      domainOf(endpoint) ?? null,
      memberId,
    );
    return true;
  }

  #rewrapIn(after: string): { rewrapped: number; seen: number; last: string } {
    const rows = this.#sql.notUnder.all(after, this.#vault.currentKeyId, this.#rewrapBatchSize);
    let rewrapped = 0;
    for (const row of rows) {
      if (!this.#vault.holds(row.key_id)) continue;
      let secrets: Secrets;
      try {
        secrets = this.#open(row);
      } catch (error) {
        if (error instanceof VaultError) continue;
        throw error;
      }
      this.#reseal(row.member_id, secrets);
      rewrapped += 1;
    }
    return { rewrapped, seen: rows.length, last: rows.at(-1)?.member_id ?? after };
  }

  #reseal(memberId: string, secrets: Secrets): void {
    const sealed = this.#vault.seal(memberId, JSON.stringify(secrets));
    this.#sql.reseal.run(sealed.keyId, packSealed(sealed), memberId);
  }

  /** The row's secrets; VaultError (naming the portal and the key id, nothing secret) when they do not open. */
  #open(row: Pick<Row, 'member_id' | 'key_id' | 'secrets'>): Secrets {
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.#vault.open(row.member_id, unpackSealed(row.key_id, row.secrets)));
    } catch (error) {
      if (!(error instanceof VaultError))
        throw new VaultError(`portal ${shownMemberId(row.member_id)}: its secrets are not readable`, row.key_id);
      throw new VaultError(`portal ${shownMemberId(row.member_id)}: ${error.message}`, error.keyId);
    }
    const secrets = parsed as Partial<Secrets> | null;
    if (
      typeof secrets?.access !== 'string' ||
      typeof secrets.refresh !== 'string' ||
      typeof secrets.application !== 'string'
    )
      throw new VaultError(`portal ${shownMemberId(row.member_id)}: its secrets are not readable`, row.key_id);
    return { access: secrets.access, refresh: secrets.refresh, application: secrets.application };
  }

  #record(row: Row): PortalRecord {
    const secrets = this.#open(row);
    return {
      memberId: row.member_id,
      clientEndpoint: row.client_endpoint,
      domain: row.domain,
      state: row.state,
      ...(row.state_reason !== null && { stateReason: row.state_reason }),
      ...(row.bot_id !== null && { botId: row.bot_id }),
      applicationToken: secrets.application,
      tokens: {
        accessToken: secrets.access,
        refreshToken: secrets.refresh,
        expiresAt: row.expires_at,
        issuedAt: row.issued_at,
      },
      installedAt: row.installed_at,
      ...(row.refreshed_at !== null && { refreshedAt: row.refreshed_at }),
    };
  }

  /**
   * A write, fsynced before it returns. synchronous=FULL is the data folder's setting, but the idempotency
   * store lowers it around its own lazy writes: it is set again before every write here, by a statement
   * prepared afresh, because SQLite applies this pragma when the statement is prepared (a prepared one run
   * again applies it only from its second run on).
   */
  #durably<T>(step: () => T): T {
    this.#db.pragma('synchronous = FULL');
    return step();
  }
}
