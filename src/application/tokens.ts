// The one place that hands out a portal's access token (issue 33), and refreshes it: only when the stored
// expiry has passed or a call answered `expired_token` (never on a timer, never before every call: Bitrix24
// may block an application that does), one refresh at a time per portal (every waiter gets its result), and
// each refresh token spent at most once: the new pair is stored over the one it replaces (compare-and-set)
// before it is used. A lost answer is retried once with the same refresh token; `invalid_grant` loses the
// portal (`needs-reinstall`); an authorization server that does not answer loses nothing.
//
// Across replicas (Redis, issue 34) a lease beside the portal's record excludes every other replica while
// one refreshes: the holder's own deadline for the exchange ends before its lease does, so no other replica
// can start while its answer may still come; the others wait for the new pair and read it, never spending
// the token again. A pair the store could not take is kept here (calls of this replica use it) and written
// back, over the token it replaces, as soon as the store answers; its lease is kept until then.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger';
import { OAuthRefused, OAuthUnavailable } from './oauth-client';
import { isMemberId } from './token-answer';
import {
  type PortalRecord,
  type PortalState,
  type PortalStore,
  PortalStoreUnavailable,
  type PortalTokens,
  type RefreshLeases,
  type TokenAnswer,
} from './types';

/** What a call to a portal needs. */
export interface PortalAccess {
  memberId: string;
  accessToken: string;
  /** `https://<portal>/rest/`. */
  clientEndpoint: string;
  botId?: number;
  /** When the access token dies, and when it was issued (ms): whether it is still fresh enough to send. */
  expiresAt?: number;
  issuedAt?: number;
}

/** No portal with this member_id is stored (or it is not a member_id at all). */
export class PortalNotInstalled extends Error {
  /** The member_id asked for, when it is one: a caller's text that is not is never repeated. */
  readonly memberId: string | undefined;
  constructor(memberId: string) {
    const shown = isMemberId(memberId) ? memberId : undefined;
    super(`the application is not installed on ${shown === undefined ? 'that portal' : `portal ${shown}`}`);
    this.name = 'PortalNotInstalled';
    this.memberId = shown;
  }
}

/** The portal is stored but not `ready`: calls are refused until its state changes. */
export class PortalNotReady extends Error {
  constructor(
    readonly memberId: string,
    readonly state: PortalState,
    readonly reason: string | undefined,
  ) {
    super(`portal ${memberId} is ${state}${reason === undefined ? '' : `: ${reason}`}`);
    this.name = 'PortalNotReady';
  }
}

/** The portal's tokens are lost (the authorization server answered `invalid_grant`): only a re-install repairs it. */
export class PortalNeedsReinstall extends PortalNotReady {
  constructor(memberId: string, reason: string) {
    super(memberId, 'needs-reinstall', reason);
    this.name = 'PortalNeedsReinstall';
  }
}

/** No refresh could be done now (no answer, twice, or not in time); nothing is lost, the next call tries again. */
export class AuthorizationServerUnavailable extends Error {
  constructor(
    /** `waited`: another replica held the portal's refresh lease for as long as a lease runs. */
    readonly kind: 'timeout' | 'unreachable' | 'bad-response' | 'waited',
    readonly detail: string,
  ) {
    super(`the authorization server is unavailable (${kind}): ${detail}; the portal's tokens are kept`);
    this.name = 'AuthorizationServerUnavailable';
  }
}

/** What refreshes: OAuthClient. */
export interface TokenRefresher {
  readonly timeoutMs: number;
  refresh(refreshToken: string, serverEndpoint?: string): Promise<TokenAnswer>;
}

export interface AccessTokensOptions {
  store: PortalStore;
  /** Replicas sharing the store: the lease that lets one of them refresh a portal at a time. */
  leases?: RefreshLeases;
  oauth: TokenRefresher;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** Called once for each portal lost to `invalid_grant` (a metric). */
  onLost?: (memberId: string) => void;
  now?: () => number;
}

const DAY_MS = 24 * 3600 * 1000;
/** A refresh token lives 180 days: past 150 unused, a portal is due a refresh to keep it alive. */
export const KEEP_ALIVE_AFTER_MS = 150 * DAY_MS;
/** What the answers of the server endpoints remembered may hold at most (one per portal refreshed). */
const MAX_SERVER_ENDPOINTS = 100_000;
/** What a refresh lease lasts beyond the exchange's own deadline: the store's reads and writes around it. */
const LEASE_MARGIN_MS = 5_000;
/** How often a replica waiting for another's refresh reads the portal again. */
const WAIT_POLL_MS = 100;
/** How often a pair the store did not take is tried again. */
const WRITE_BACK_MS = 250;

/** A refreshed pair the store did not take (it could not be reached): kept, and written back. */
interface Unwritten {
  /** The portal as it was when refreshed, with the new pair: what this replica answers while the store is away. */
  record: PortalRecord;
  spent: string;
  tokens: PortalTokens;
  clientEndpoint: string;
  /** The refresh lease, kept until the pair is written so that no other replica spends `spent`. */
  lease?: string;
}

/** True when the portal is ready and its refresh token is older than 150 days. The caller schedules. */
export function dueForKeepAlive(record: PortalRecord, now: number): boolean {
  return record.state === 'ready' && now - record.tokens.issuedAt > KEEP_ALIVE_AFTER_MS;
}

const accessOf = (record: PortalRecord): PortalAccess => {
  const access: PortalAccess = {
    memberId: record.memberId,
    accessToken: record.tokens.accessToken,
    clientEndpoint: record.clientEndpoint,
    expiresAt: record.tokens.expiresAt,
    issuedAt: record.tokens.issuedAt,
  };
  if (record.botId !== undefined) access.botId = record.botId;
  return access;
};

export class AccessTokens {
  readonly #store: PortalStore;
  readonly #leases: RefreshLeases | undefined;
  readonly #oauth: TokenRefresher;
  readonly #logger: Pick<Logger, 'warn' | 'info'>;
  readonly #onLost: (memberId: string) => void;
  readonly #now: () => number;
  /** The refresh in flight per member_id; an entry goes when its refresh is done. */
  readonly #flights = new Map<string, Promise<PortalRecord>>();
  /** Each portal's latest `server_endpoint`, where its next refresh goes if the client trusts it. */
  readonly #servers = new Map<string, string>();
  /** How long anyone waits for a refresh: two attempts (a lost answer is retried once) and the store's writes. */
  readonly #waitMs: number;
  /** How long a refresh lease excludes the other replicas: the exchange's deadline and a margin. */
  readonly #leaseMs: number;
  /** Pairs the store did not take, by member_id (at most one a portal: the next refresh needs it written). */
  readonly #unwritten = new Map<string, Unwritten>();
  #writeBack: NodeJS.Timeout | undefined;

  constructor({ store, leases, oauth, logger, onLost = () => {}, now = Date.now }: AccessTokensOptions) {
    this.#store = store;
    this.#leases = leases;
    this.#oauth = oauth;
    this.#logger = logger;
    this.#onLost = onLost;
    this.#now = now;
    // Two attempts (a lost answer is tried once more) and a second for the reads before them, then the margin.
    this.#leaseMs = 2 * oauth.timeoutMs + 1_000 + LEASE_MARGIN_MS;
    // Across replicas a wait may be for another replica's refresh: as long as its lease, no longer.
    this.#waitMs = leases ? this.#leaseMs : 2 * oauth.timeoutMs + 1_000;
  }

  /** How many refreshed pairs wait to be written back (for a metric, and tests). */
  get unwritten(): number {
    return this.#unwritten.size;
  }

  /** Tries once more to write back what the store did not take; says what still is not (those portals are lost). */
  async close(): Promise<void> {
    clearInterval(this.#writeBack);
    this.#writeBack = undefined;
    await this.#writeBackAll();
    for (const memberId of this.#unwritten.keys())
      this.#logger.warn(
        { memberId },
        "portal tokens: stopping with a refreshed pair the store never took; the portal's stored refresh token is spent, so it will need a re-install",
      );
  }

  /** The portal's access token; refreshed first if its stored expiry has passed. */
  async accessToken(memberId: string): Promise<PortalAccess> {
    const record = await this.#ready(memberId);
    if (!this.#expired(record)) return accessOf(record);
    return this.#refreshWhile(memberId, (current) => this.#expired(current));
  }

  /**
   * The portal's access from a record read moments ago (the portal step's, in the same request) while it is
   * ready and its token fresh, and no pair refreshed here waits to be written; otherwise as accessToken.
   */
  accessFrom(record: PortalRecord): Promise<PortalAccess> {
    if (record.state === 'ready' && !this.#unwritten.has(record.memberId) && this.fresh(record.tokens))
      return Promise.resolve(accessOf(record));
    return this.accessToken(record.memberId);
  }

  /** After a call with `staleAccessToken` answered `expired_token`: a newer stored token, or a refreshed one. */
  refreshAfter(memberId: string, staleAccessToken: string): Promise<PortalAccess> {
    return this.#refreshWhile(memberId, (current) => current.tokens.accessToken === staleAccessToken);
  }

  /**
   * After a call with `staleAccessToken` answered NO_AUTH_FOUND: the token that replaced it, when another
   * refresh did (here, or on another replica: waited for while its lease runs), or a renewal of it when a
   * lease on it ran and ended with nothing stored; undefined when it is still the stored one and no renewal
   * of it was seen (then the refusal is the portal's answer, relayed).
   */
  async replacedAfter(memberId: string, staleAccessToken: string): Promise<PortalAccess | undefined> {
    const flight = this.#flights.get(memberId);
    if (flight) {
      const record = await this.#within(flight);
      if (record.tokens.accessToken !== staleAccessToken) return accessOf(record);
    }
    const giveUpAt = Date.now() + this.#waitMs;
    let sawLease = false;
    for (let lastLook = false; ; ) {
      const record = await this.#ready(memberId);
      if (record.tokens.accessToken !== staleAccessToken) return accessOf(record);
      // A renewal of this very token began and stored nothing (its replica died, or gave up): the token is
      // dead, as Bitrix24 said; it is renewed here (a refresh token its holder spent is then reported lost).
      if (lastLook && sawLease) return this.refreshAfter(memberId, staleAccessToken);
      if (!this.#leases || lastLook || Date.now() + WAIT_POLL_MS >= giveUpAt) return undefined;
      // No lease: none runs, or one ended between the read and this look (its pair stored just before it
      // ended): one more read tells.
      if (!(await this.#leases.held(memberId))) lastLook = true;
      else {
        sawLease = true;
        await sleep(WAIT_POLL_MS);
      }
    }
  }

  /** Refreshes a portal whose refresh token is due (`dueForKeepAlive`); answers it as it is otherwise. */
  keepAlive(memberId: string): Promise<PortalAccess> {
    return this.#refreshWhile(memberId, (current) => dueForKeepAlive(current, this.#now()));
  }

  /**
   * Joins the portal's refresh in flight, or starts one, while the stored record still `needs` it: a flight
   * started for another reason may have left it as it was. Every wait ends within #waitMs.
   */
  async #refreshWhile(memberId: string, needs: (record: PortalRecord) => boolean): Promise<PortalAccess> {
    if (!isMemberId(memberId)) throw new PortalNotInstalled(memberId);
    let record: PortalRecord | undefined;
    for (let round = 0; round < 3; round++) {
      let flight = this.#flights.get(memberId);
      const own = flight === undefined;
      if (flight === undefined) {
        const started = this.#fly(memberId, needs);
        flight = started;
        this.#flights.set(memberId, started);
        const done = () => {
          if (this.#flights.get(memberId) === started) this.#flights.delete(memberId);
        };
        started.then(done, done);
      }
      record = await this.#within(flight);
      if (own || !needs(record)) return accessOf(record);
    }
    // Three flights of others in a row left it so: answer what is stored; the call will say if it is stale.
    return accessOf(record!);
  }

  async #within(flight: Promise<PortalRecord>): Promise<PortalRecord> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AuthorizationServerUnavailable('timeout', `no refresh finished within ${this.#waitMs} ms`)),
        this.#waitMs,
      );
    });
    try {
      return await Promise.race([flight, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One refresh of one portal, or, across replicas, the wait for another replica's. */
  async #fly(memberId: string, needs: (record: PortalRecord) => boolean): Promise<PortalRecord> {
    let record = await this.#ready(memberId);
    if (!needs(record)) return record;
    if (!this.#leases) return this.#spend(memberId, record, Number.POSITIVE_INFINITY);
    const leases = this.#leases;
    const giveUpAt = Date.now() + this.#waitMs;
    for (;;) {
      const started = Date.now();
      const lease = await leases.acquire(memberId, this.#leaseMs);
      if (lease !== undefined) {
        let keep = false;
        try {
          // Another replica may have stored its pair between the read and the lease.
          record = await this.#ready(memberId);
          if (!needs(record)) return record;
          const renewed = await this.#spend(memberId, record, started + this.#leaseMs - LEASE_MARGIN_MS, lease);
          keep = this.#unwritten.get(memberId)?.lease === lease;
          return renewed;
        } finally {
          // A pair not yet written keeps its lease: no other replica may spend the token it replaces.
          if (!keep) await leases.release(memberId, lease).catch(() => undefined);
        }
      }
      // Another replica holds the lease: its new pair is read here, never refreshed again.
      if (Date.now() + WAIT_POLL_MS >= giveUpAt)
        throw new AuthorizationServerUnavailable(
          'waited',
          `another replica's renewal of the portal's token did not finish within ${this.#waitMs} ms`,
        );
      await sleep(WAIT_POLL_MS);
      record = await this.#ready(memberId);
      if (!needs(record)) return record;
    }
  }

  /**
   * Spends the portal's refresh token: the only code that does. Nothing is sent that could still be answered
   * after `mustEndBy` (the lease's end, less its margin, across replicas).
   */
  async #spend(memberId: string, record: PortalRecord, mustEndBy: number, lease?: string): Promise<PortalRecord> {
    const spent = record.tokens.refreshToken;
    const answer = await this.#exchange(memberId, spent, mustEndBy);
    if (typeof answer === 'string') return this.#lose(memberId, spent, answer);
    if (answer.member_id !== memberId) return this.#lose(memberId, spent, 'another-portal');

    const now = this.#now();
    const tokens: PortalTokens = {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: expiresAt(answer, now),
      issuedAt: now,
    };
    this.#remember(memberId, answer.server_endpoint);
    let written: boolean;
    try {
      written = await this.#store.replaceTokens(memberId, spent, tokens, answer.client_endpoint);
    } catch (error) {
      // The new pair is the portal's only valid one now: kept, used by this replica, and written back.
      const renewed = { ...record, tokens, clientEndpoint: answer.client_endpoint, refreshedAt: now };
      this.#keepUnwritten(memberId, {
        record: renewed,
        spent,
        tokens,
        clientEndpoint: answer.client_endpoint,
        ...(lease && { lease }),
      });
      this.#logger.warn(
        { memberId, err: error instanceof Error ? error.message : 'error' },
        'portal tokens: the store did not take a refreshed pair; it is kept in memory and written back when the store answers',
      );
      return renewed;
    }
    if (!written) {
      // A re-install or another writer came first: what it stored is the portal's now.
      this.#logger.info({ memberId }, 'portal tokens: another writer stored first; using what is stored');
      return this.#ready(memberId);
    }
    return { ...record, tokens, clientEndpoint: answer.client_endpoint, refreshedAt: now };
  }

  #keepUnwritten(memberId: string, pair: Unwritten): void {
    this.#unwritten.set(memberId, pair);
    this.#writeBack ??= setInterval(() => void this.#writeBackAll(), WRITE_BACK_MS).unref();
  }

  /** Writes back each pair the store did not take, over the token it replaces; stops at the first failure. */
  #writing: Promise<void> | undefined;
  #writeBackAll(): Promise<void> {
    this.#writing ??= (async () => {
      for (const [memberId, pair] of this.#unwritten) {
        let written: boolean;
        try {
          written = await this.#store.replaceTokens(memberId, pair.spent, pair.tokens, pair.clientEndpoint);
        } catch {
          return;
        }
        // Not written: the write that failed did land (its answer was lost), or a re-install replaced the portal.
        this.#unwritten.delete(memberId);
        this.#logger.info(
          { memberId, written },
          written
            ? 'portal tokens: a refreshed pair the store had not taken is written back'
            : 'portal tokens: a refreshed pair the store had not taken was already stored, or replaced by a re-install',
        );
        if (pair.lease) await this.#leases?.release(memberId, pair.lease).catch(() => undefined);
      }
      if (this.#unwritten.size === 0) {
        clearInterval(this.#writeBack);
        this.#writeBack = undefined;
      }
    })().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  /**
   * The answer to a refresh, or why the portal is lost. A lost answer is retried once with the same token (the
   * first may never have arrived); lost twice, nothing changes and the next call tries again.
   */
  async #exchange(
    memberId: string,
    spent: string,
    mustEndBy: number,
  ): Promise<TokenAnswer | 'invalid_grant' | 'lost-answer'> {
    const server = this.#servers.get(memberId);
    const late = () => Date.now() + this.#oauth.timeoutMs > mustEndBy;
    if (late())
      throw new AuthorizationServerUnavailable('timeout', 'no time was left to renew the token before the lease ended');
    try {
      return await this.#oauth.refresh(spent, server);
    } catch (error) {
      if (isGrantRefused(error)) return 'invalid_grant';
      if (!(error instanceof OAuthUnavailable)) throw error;
      const { kind, detail } = error;
      if (late()) throw new AuthorizationServerUnavailable(kind, detail);
      this.#logger.warn({ memberId, kind, detail }, 'portal tokens: the answer to a refresh was lost; retrying once');
    }
    try {
      return await this.#oauth.refresh(spent, server);
    } catch (error) {
      // The first attempt may have spent the token: the retry's refusal says no more than that.
      if (isGrantRefused(error)) return 'lost-answer';
      if (error instanceof OAuthUnavailable) throw new AuthorizationServerUnavailable(error.kind, error.detail);
      throw error;
    }
  }

  /**
   * Marks the portal `needs-reinstall` and throws PortalNeedsReinstall, unless its refresh token changed
   * meanwhile (a re-install came first): then the portal as it is stored now is answered.
   */
  async #lose(memberId: string, spent: string, why: keyof typeof LOSS_REASONS): Promise<PortalRecord> {
    const current = await this.#store.get(memberId);
    if (current === undefined) throw new PortalNotInstalled(memberId);
    if (current.tokens.refreshToken !== spent) {
      if (current.state !== 'ready') throw notReady(current);
      return current;
    }
    const reason = LOSS_REASONS[why];
    // Marked only over the token that was refused: a re-install stored since then is not lost.
    if (!(await this.#store.markLost(memberId, spent, reason))) {
      const now = await this.#store.get(memberId);
      if (now === undefined) throw new PortalNotInstalled(memberId);
      if (now.state !== 'ready') throw notReady(now);
      return now;
    }
    this.#logger.warn({ memberId, reason }, 'portal tokens lost: the portal needs a re-install');
    this.#onLost(memberId);
    throw new PortalNeedsReinstall(memberId, reason);
  }

  async #ready(memberId: string): Promise<PortalRecord> {
    const unwritten = this.#unwritten.get(memberId);
    let record: PortalRecord | undefined;
    try {
      record = isMemberId(memberId) ? await this.#store.get(memberId) : undefined;
    } catch (error) {
      // The store is away, but this replica holds the portal's newest pair: it answers with it.
      if (unwritten && error instanceof PortalStoreUnavailable) return unwritten.record;
      throw error;
    }
    if (record === undefined) throw new PortalNotInstalled(memberId);
    // A pair refreshed here that the store has not taken yet is newer than the one it holds.
    if (unwritten && record.tokens.refreshToken === unwritten.spent)
      record = { ...record, tokens: unwritten.tokens, clientEndpoint: unwritten.clientEndpoint };
    if (record.state !== 'ready') throw notReady(record);
    return record;
  }

  /**
   * Expired, or about to: a quarter of its life before its end (at most a minute: an hour's token is renewed
   * at 59 minutes), so that a token read now is still alive when its call, queued, reaches the portal.
   * Replicas read one another's tokens at any age, and one read at the very end would die on its way.
   */
  #expired(record: PortalRecord): boolean {
    return !this.fresh(record.tokens);
  }

  /** Whether a token is still fresh enough to send (see #expired); one whose times are unknown is. */
  fresh({ expiresAt, issuedAt }: { expiresAt?: number | undefined; issuedAt?: number | undefined }): boolean {
    if (expiresAt === undefined || issuedAt === undefined) return true;
    const early = Math.min(60_000, Math.max(0, (expiresAt - issuedAt) / 4));
    return expiresAt - early > this.#now();
  }

  #remember(memberId: string, serverEndpoint: string): void {
    this.#servers.delete(memberId);
    if (this.#servers.size >= MAX_SERVER_ENDPOINTS) this.#servers.delete(this.#servers.keys().next().value!);
    this.#servers.set(memberId, serverEndpoint);
  }
}

const LOSS_REASONS = {
  invalid_grant:
    'the authorization server refused the refresh token (invalid_grant): it is invalid, expired or already used; re-install the application on the portal',
  'lost-answer':
    'the answer to a refresh was lost and the retry was refused (invalid_grant): the first attempt may have spent the refresh token; re-install the application on the portal',
  'another-portal':
    "the authorization server answered a refresh with another portal's tokens; re-install the application on the portal",
} as const;

const isGrantRefused = (error: unknown) => error instanceof OAuthRefused && error.code === 'invalid_grant';

const notReady = (record: PortalRecord) =>
  record.state === 'needs-reinstall'
    ? new PortalNeedsReinstall(record.memberId, record.stateReason ?? 'its tokens are lost')
    : new PortalNotReady(record.memberId, record.state, record.stateReason);

/**
 * When the new access token dies: the answer's `expires`, unless this machine's clock already says it has
 * passed (clocks differ): then its lifetime from now, at least a minute, so that a clock ahead does not make
 * every call refresh.
 */
function expiresAt(answer: TokenAnswer, now: number): number {
  const stated = answer.expires * 1000;
  return stated > now ? stated : now + Math.max(answer.expires_in, 60) * 1000;
}
