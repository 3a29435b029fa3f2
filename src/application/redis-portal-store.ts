// The portals the application is installed on, in the gateway's Redis (issue 34: replicas share them), over
// its one connection (src/redis: a deadline on every command, fail-fast while Redis is away). The same
// semantics as the SQLite store: secrets sealed by the token vault (AES-256-GCM, the member_id bound), a
// refresh token replaced only over the one spent (a compare-and-set in one script), bounded in portals.
//
// Keys (redis-portal-scripts.ts): a portal's record is one hash, `{<prefix>:portal:<member_id>}`, alone in
// its slot's tag; the indexes (`{<prefix>:portals}:members`, `:domains`, `:by-member`, `:settled`) share a
// slot of their own. A record and the indexes are never written by one command (Redis Cluster), so the
// order of the writes keeps reads right:
// 1. Before a record is written, its member_id and address are indexed (ADMIT): the indexes hold at least
//    every record, so a record is never missing from `list` or `getByDomain`. A failure here rejects, and
//    nothing of the record was written.
// 2. The record is written, in one script (PUT, REPLACE_TOKENS …): this write decides; if it fails, the
//    promise rejects (an index entry from step 1 may be left: reads skip it).
// 3. Then the indexes are tidied (SETTLE: the portal's other addresses go; on delete, REMOVE: its entries
//    go). Best effort: the record is written, and what a failed tidy leaves, reads skip.
// Reads tolerate an index ahead or behind: a listed member_id without a record is skipped, and an address
// answers only records that hold that address. What a crash between two steps leaves is such an entry; it
// counts toward `maxPortals` until that member_id is written or deleted again.
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../redis';
import {
  checkInteger,
  checkRecord,
  checkState,
  checkText,
  checkTokens,
  domainOf,
  MAX_DOMAIN,
  MAX_MEMBER_ID,
  MAX_SECRET,
  MAX_TEXT,
  shownMemberId,
} from './portal-bounds';
import {
  ADMIT,
  END_LEASE,
  MARK_LOST,
  PUT,
  portalKeys,
  RECORD_FIELDS,
  REMOVE,
  REPLACE_TOKENS,
  RESEAL,
  refreshDigest,
  SEP,
  SET_APPLICATION_TOKEN,
  SET_STATE,
  SETTLE,
  SUMMARY_FIELDS,
} from './redis-portal-scripts';
import { PortalStoreFull } from './sqlite-portal-store';
import type { PortalRecord, PortalState, PortalStore, PortalSummary, PortalTokens, RefreshLeases } from './types';
import { packSealed, type TokenVault, unpackSealed, VaultError } from './vault';

export interface RedisPortalStoreOptions {
  /** The gateway's connection (its owner starts and closes it). */
  connection: RedisConnection;
  vault: TokenVault;
  /** REDIS_KEY_PREFIX: 1 to 64 of A-Z a-z 0-9 : _ . - */
  prefix: string;
  /** At most this many portals (100,000 unless told). */
  maxPortals?: number;
  /** member_ids read per command by `list`, `rewrap` and `keyIds` (500 unless told). */
  pageSize?: number;
  now?: () => number;
}

/** member_ids `getByDomain` reads per page of candidates (stale entries included). */
const CANDIDATES = 16;
const PREFIX = /^[A-Za-z0-9:_.-]{1,64}$/;
/** NUL separates index entries; an unpaired surrogate would not survive UTF-8 (two ids, one key). */
const UNSTORABLE = /[\0\p{Cs}]/u;

type Row = Record<(typeof RECORD_FIELDS)[number], string | null>;

export class RedisPortalStore implements PortalStore, RefreshLeases {
  readonly #connection: RedisConnection;
  readonly #vault: TokenVault;
  readonly #keys: ReturnType<typeof portalKeys>;
  readonly #maxPortals: number;
  readonly #pageSize: number;
  readonly #now: () => number;
  readonly #scripts;

  constructor(options: RedisPortalStoreOptions) {
    if (!PREFIX.test(options.prefix))
      throw new RangeError('RedisPortalStore: prefix must be 1 to 64 of A-Z a-z 0-9 : _ . -');
    const maxPortals = options.maxPortals ?? 100_000;
    const pageSize = options.pageSize ?? 500;
    for (const [name, value] of [
      ['maxPortals', maxPortals],
      ['pageSize', pageSize],
    ] as const)
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`RedisPortalStore: ${name} must be a positive integer`);
    this.#connection = options.connection;
    this.#vault = options.vault;
    this.#keys = portalKeys(options.prefix);
    this.#maxPortals = maxPortals;
    this.#pageSize = pageSize;
    this.#now = options.now ?? Date.now;
    const { connection } = options;
    this.#scripts = {
      put: connection.script(PUT),
      replace: connection.script(REPLACE_TOKENS),
      markLost: connection.script(MARK_LOST),
      setState: connection.script(SET_STATE),
      setApplicationToken: connection.script(SET_APPLICATION_TOKEN),
      reseal: connection.script(RESEAL),
      endLease: connection.script(END_LEASE),
      admit: connection.script(ADMIT, 4),
      settle: connection.script(SETTLE, 4),
      remove: connection.script(REMOVE, 4),
    };
  }

  async get(memberId: string): Promise<PortalRecord | undefined> {
    if (!storable(memberId, MAX_MEMBER_ID)) return undefined;
    const values = await this.#hmget(memberId, RECORD_FIELDS);
    return values && this.#record(memberId, values);
  }

  async getByDomain(domain: string): Promise<PortalRecord | undefined> {
    if (!storable(domain, MAX_DOMAIN)) return undefined;
    const address = domain.toLowerCase();
    const found: [string, Row][] = [];
    for (let from = `[${address}${SEP}`; ; ) {
      const entries = await this.#range(this.#keys.index[1]!, from, `(${address}\x01`, CANDIDATES);
      const members = entries.map((entry) => entry.slice(address.length + 1));
      const rows = await this.#connection.run((client) =>
        Promise.all(members.map((member) => hmget(client, this.#keys.record(member), RECORD_FIELDS))),
      );
      members.forEach((member, i) => {
        const row = rowOf(RECORD_FIELDS, rows[i]!);
        // An entry ahead of its record, or left by a rename, answers nothing.
        if (row?.domain === address) found.push([member, row]);
      });
      if (found.length > 1) return undefined;
      if (entries.length < CANDIDATES) break;
      from = `(${entries.at(-1)}`;
    }
    return found.length === 1 ? this.#record(...found[0]!) : undefined;
  }

  /** Every portal, in member_id byte order: a page of member_ids per command, their records pipelined. */
  async list(): Promise<PortalSummary[]> {
    const summaries: PortalSummary[] = [];
    await this.#pages(SUMMARY_FIELDS, (memberId, row) => {
      summaries.push({
        memberId,
        domain: required(memberId, row.domain),
        state: stateOf(memberId, row.state),
        ...(row.state_reason !== null && { stateReason: row.state_reason }),
        ...(row.bot_id !== null && { botId: integer(memberId, row.bot_id) }),
        installedAt: integer(memberId, row.installed_at),
        ...(row.refreshed_at !== null && { refreshedAt: integer(memberId, row.refreshed_at) }),
        refreshTokenIssuedAt: integer(memberId, row.issued_at),
      });
    });
    return summaries;
  }

  /** Throws PortalStoreFull for a new portal past `maxPortals`, and TypeError for a record out of bounds. */
  async put(record: PortalRecord): Promise<void> {
    checkRecord(record);
    const { memberId } = record;
    if (!storable(memberId, MAX_MEMBER_ID) || !storable(record.domain, MAX_DOMAIN))
      throw new TypeError('portal record: memberId and domain must hold no NUL and no unpaired surrogate');
    const domain = record.domain.toLowerCase();
    const tokens = this.#seal(memberId, { access: record.tokens.accessToken, refresh: record.tokens.refreshToken });
    const application = this.#seal(memberId, { application: record.applicationToken });
    if (!(await this.#admit(memberId, domain, 'new'))) {
      // A portal held is always replaced, even one whose index entry a race took away.
      const held = await this.#connection.run((client) =>
        client.sendCommand<number>(['EXISTS', this.#keys.record(memberId)]),
      );
      if (held !== 1) throw new PortalStoreFull(this.#maxPortals);
      await this.#admit(memberId, domain, 'force');
    }
    const fields: string[] = [
      'domain',
      domain,
      'client_endpoint',
      record.clientEndpoint,
      'state',
      record.state,
      'expires_at',
      String(record.tokens.expiresAt),
      'issued_at',
      String(record.tokens.issuedAt),
      'installed_at',
      String(record.installedAt),
      'refresh_digest',
      refreshDigest(memberId, record.tokens.refreshToken),
      'tokens_key',
      tokens.keyId,
      'tokens',
      tokens.sealed,
      'app_key',
      application.keyId,
      'app',
      application.sealed,
    ];
    if (record.stateReason !== undefined) fields.push('state_reason', record.stateReason);
    if (record.botId !== undefined) fields.push('bot_id', String(record.botId));
    if (record.refreshedAt !== undefined) fields.push('refreshed_at', String(record.refreshedAt));
    const version = String(await this.#scripts.put(this.#keys.record(memberId), ...fields));
    await this.#settle(memberId, domain, version);
  }

  async replaceTokens(memberId: string, spent: string, tokens: PortalTokens, clientEndpoint: string): Promise<boolean> {
    checkTokens(tokens);
    checkText('clientEndpoint', clientEndpoint, MAX_TEXT);
    if (typeof spent !== 'string' || !storable(memberId, MAX_MEMBER_ID)) return false;
    const domain = domainOf(clientEndpoint);
    // A renamed portal's new address is indexed before the record holds it.
    if (domain !== undefined) await this.#admit(memberId, domain, 'address');
    const sealed = this.#seal(memberId, { access: tokens.accessToken, refresh: tokens.refreshToken });
    const [outcome, version, stored, previous] = (await this.#scripts.replace(
      this.#keys.record(memberId),
      refreshDigest(memberId, spent),
      refreshDigest(memberId, tokens.refreshToken),
      sealed.keyId,
      sealed.sealed,
      String(tokens.expiresAt),
      String(tokens.issuedAt),
      String(this.#now()),
      clientEndpoint,
      domain ?? '',
    )) as [number, string?, string?, string?];
    if (outcome === 0) return false;
    // Renamed (or a retry whose first write may not have tidied): the old address goes.
    if (domain !== undefined && (outcome === 2 || previous !== stored)) await this.#settle(memberId, stored!, version!);
    return true;
  }

  async markLost(memberId: string, spent: string, reason: string): Promise<boolean> {
    checkText('stateReason', reason, MAX_TEXT);
    if (typeof spent !== 'string' || !storable(memberId, MAX_MEMBER_ID)) return false;
    return (await this.#scripts.markLost(this.#keys.record(memberId), refreshDigest(memberId, spent), reason)) === 1;
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
    if (!storable(memberId, MAX_MEMBER_ID)) return false;
    const reason = details?.reason;
    const written = await this.#scripts.setState(
      this.#keys.record(memberId),
      state,
      reason === undefined ? '0' : '1',
      reason ?? '',
      details?.botId === undefined ? '' : String(details.botId),
    );
    return written === 1;
  }

  async setApplicationToken(memberId: string, applicationToken: string): Promise<boolean> {
    checkText('applicationToken', applicationToken, MAX_SECRET);
    if (!storable(memberId, MAX_MEMBER_ID)) return false;
    const sealed = this.#seal(memberId, { application: applicationToken });
    return (await this.#scripts.setApplicationToken(this.#keys.record(memberId), sealed.keyId, sealed.sealed)) === 1;
  }

  /** The record first, then its index entries (a failure of those leaves entries that reads skip). */
  async delete(memberId: string): Promise<boolean> {
    if (!storable(memberId, MAX_MEMBER_ID)) return false;
    const key = this.#keys.record(memberId);
    const deleted = (await this.#connection.run((client) => client.sendCommand<number>(['DEL', key]))) === 1;
    await this.#tidy(async () => {
      await this.#scripts.remove(...this.#keys.index, memberId);
      // A put that raced this delete wrote its record after the DEL: it is indexed again.
      const [domain, version] = await this.#hmget(memberId, ['domain', 'v'] as const).then((row) => [
        row?.domain,
        row?.v,
      ]);
      if (domain && version) await this.#settle(memberId, domain, version);
    });
    return deleted;
  }

  /**
   * Seals again, under the vault's first key, every secret sealed under another (a page at a time); each
   * only over what was read, so that a write meanwhile wins. Resolves with how many records it sealed
   * again. A secret it cannot open (its key not held, or altered) is left as it is.
   */
  async rewrap(): Promise<number> {
    let rewrapped = 0;
    const current = this.#vault.currentKeyId;
    await this.#pages(['tokens_key', 'tokens', 'app_key', 'app'] as const, async (memberId, row) => {
      const writes: Promise<unknown>[] = [];
      for (const field of ['tokens', 'app'] as const) {
        const keyId = row[`${field}_key`];
        const sealed = row[field];
        if (keyId === null || sealed === null || keyId === current || !this.#vault.holds(keyId)) continue;
        let clear: string;
        try {
          clear = this.#vault.open(memberId, unpackSealed(keyId, Buffer.from(sealed, 'base64')));
        } catch (error) {
          if (error instanceof VaultError) continue;
          throw error;
        }
        const next = packSealed(this.#vault.seal(memberId, clear)).toString('base64');
        writes.push(this.#scripts.reseal(this.#keys.record(memberId), field, sealed, current, next));
      }
      if ((await Promise.all(writes)).includes(1)) rewrapped += 1;
    });
    return rewrapped;
  }

  /** How many records each key id seals (a record under two keys, mid-rotation, counts under both). */
  async keyIds(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    await this.#pages(['tokens_key', 'app_key'] as const, (_memberId, row) => {
      for (const keyId of new Set([row.tokens_key, row.app_key]))
        if (keyId !== null) counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
    });
    return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** The portals counted against `maxPortals` (the member_ids listed, a leftover entry included). */
  async count(): Promise<number> {
    return await this.#connection.run((client) => client.sendCommand<number>(['ZCARD', this.#keys.index[0]!]));
  }

  /** SET NX PX: the lease, on Redis's clock, unless another holder's runs. */
  async acquire(memberId: string, ms: number): Promise<string | undefined> {
    if (!storable(memberId, MAX_MEMBER_ID)) return undefined;
    const token = randomUUID();
    const set = await this.#connection.run((client) =>
      client.sendCommand<string | null>(['SET', this.#keys.lease(memberId), token, 'NX', 'PX', String(Math.ceil(ms))]),
    );
    return set === 'OK' ? token : undefined;
  }

  async release(memberId: string, token: string): Promise<void> {
    if (!storable(memberId, MAX_MEMBER_ID)) return;
    await this.#scripts.endLease(this.#keys.lease(memberId), token);
  }

  async held(memberId: string): Promise<boolean> {
    if (!storable(memberId, MAX_MEMBER_ID)) return false;
    const key = this.#keys.lease(memberId);
    return (await this.#connection.run((client) => client.sendCommand<number>(['EXISTS', key]))) === 1;
  }

  /** The connection is its owner's to close. */
  async close(): Promise<void> {}

  /** Indexes before a write (step 1): false when the store is full (mode `new`). */
  async #admit(memberId: string, domain: string, mode: 'new' | 'force' | 'address'): Promise<boolean> {
    const answer = await this.#scripts.admit(...this.#keys.index, memberId, domain, String(this.#maxPortals), mode);
    return answer === 1;
  }

  /** Tidies the index after a write at `version` (step 3). */
  #settle(memberId: string, domain: string, version: string): Promise<void> {
    return this.#tidy(() => this.#scripts.settle(...this.#keys.index, memberId, domain, version));
  }

  /** Step 3 is best effort: the record's write decided; what a failure leaves, reads skip. */
  async #tidy(step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch {
      // The connection logged the cause.
    }
  }

  /** Calls `each` with every listed portal's fields, a page of member_ids per command; unlisted records skipped. */
  async #pages<F extends string>(
    fields: readonly F[],
    each: (memberId: string, row: Record<F, string | null>) => void | Promise<void>,
  ): Promise<void> {
    for (let from = '-'; ; ) {
      const members = await this.#range(this.#keys.index[0]!, from, '+', this.#pageSize);
      const rows = await this.#connection.run((client) =>
        Promise.all(members.map((member) => hmget(client, this.#keys.record(member), fields))),
      );
      const done: (void | Promise<void>)[] = [];
      members.forEach((member, i) => {
        const row = rowOf(fields, rows[i]!);
        if (row) done.push(each(member, row));
      });
      await Promise.all(done);
      if (members.length < this.#pageSize) return;
      from = `(${members.at(-1)}`;
    }
  }

  async #range(key: string, from: string, to: string, count: number): Promise<string[]> {
    return (await this.#connection.run((client) =>
      client.sendCommand<string[]>(['ZRANGEBYLEX', key, from, to, 'LIMIT', '0', String(count)]),
    )) as string[];
  }

  async #hmget<F extends string>(
    memberId: string,
    fields: readonly F[],
  ): Promise<Record<F, string | null> | undefined> {
    const values = await this.#connection.run((client) => hmget(client, this.#keys.record(memberId), fields));
    return rowOf(fields, values);
  }

  #seal(memberId: string, secrets: Record<string, string>): { keyId: string; sealed: string } {
    const sealed = this.#vault.seal(memberId, JSON.stringify(secrets));
    return { keyId: sealed.keyId, sealed: packSealed(sealed).toString('base64') };
  }

  /** A secret's fields; VaultError (naming the portal and the key id, nothing secret) when they do not open. */
  #open<F extends string>(
    memberId: string,
    keyId: string | null,
    sealed: string | null,
    names: F[],
  ): Record<F, string> {
    const unreadable = () =>
      new VaultError(`portal ${shownMemberId(memberId)}: its secrets are not readable`, keyId ?? undefined);
    if (keyId === null || sealed === null) throw unreadable();
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.#vault.open(memberId, unpackSealed(keyId, Buffer.from(sealed, 'base64'))));
    } catch (error) {
      if (!(error instanceof VaultError)) throw unreadable();
      throw new VaultError(`portal ${shownMemberId(memberId)}: ${error.message}`, error.keyId);
    }
    const secrets = parsed as Record<string, unknown> | null;
    const out = Object.create(null) as Record<F, string>;
    for (const name of names) {
      const value = secrets?.[name];
      if (typeof value !== 'string') throw unreadable();
      out[name] = value;
    }
    return out;
  }

  #record(memberId: string, row: Row): PortalRecord {
    const tokens = this.#open(memberId, row.tokens_key, row.tokens, ['access', 'refresh']);
    const { application } = this.#open(memberId, row.app_key, row.app, ['application']);
    return {
      memberId,
      clientEndpoint: required(memberId, row.client_endpoint),
      domain: required(memberId, row.domain),
      state: stateOf(memberId, row.state),
      ...(row.state_reason !== null && { stateReason: row.state_reason }),
      ...(row.bot_id !== null && { botId: integer(memberId, row.bot_id) }),
      applicationToken: application,
      tokens: {
        accessToken: tokens.access,
        refreshToken: tokens.refresh,
        expiresAt: integer(memberId, row.expires_at),
        issuedAt: integer(memberId, row.issued_at),
      },
      installedAt: integer(memberId, row.installed_at),
      ...(row.refreshed_at !== null && { refreshedAt: integer(memberId, row.refreshed_at) }),
    };
  }
}

/** A record in Redis that is not what this store writes (another program's key, or altered). */
export class PortalRecordMalformed extends Error {
  constructor(memberId: string) {
    super(`portal ${shownMemberId(memberId)}: its record in Redis is malformed (altered, or another program's key)`);
    this.name = 'PortalRecordMalformed';
  }
}

type Client = Parameters<Parameters<RedisConnection['run']>[0]>[0];

function hmget(client: Client, key: string, fields: readonly string[]): Promise<(string | null)[]> {
  return client.sendCommand<(string | null)[]>(['HMGET', key, ...fields]);
}

/** The fields by name; undefined when the record is not there (every field missing). */
function rowOf<F extends string>(
  fields: readonly F[],
  values: (string | null)[],
): Record<F, string | null> | undefined {
  if (values.every((value) => value === null)) return undefined;
  const row = Object.create(null) as Record<F, string | null>;
  fields.forEach((field, i) => {
    row[field] = values[i] ?? null;
  });
  return row;
}

function storable(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max && !UNSTORABLE.test(value);
}

function required(memberId: string, value: string | null): string {
  if (value === null) throw new PortalRecordMalformed(memberId);
  return value;
}

function integer(memberId: string, value: string | null): number {
  const number = Number(value);
  if (value === null || !/^-?\d+$/.test(value) || !Number.isSafeInteger(number))
    throw new PortalRecordMalformed(memberId);
  return number;
}

const STATES: ReadonlySet<string> = new Set<PortalState>(['installing', 'ready', 'bot-failed', 'needs-reinstall']);

function stateOf(memberId: string, value: string | null): PortalState {
  if (value === null || !STATES.has(value)) throw new PortalRecordMalformed(memberId);
  return value as PortalState;
}
