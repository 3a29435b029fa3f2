// The one place that hands out a portal's access token (issue 33), and refreshes it: only when the stored
// expiry has passed or a call answered `expired_token` (never on a timer, never before every call: Bitrix24
// may block an application that does), one refresh at a time per portal (every waiter gets its result), and
// each refresh token spent at most once: the new pair is stored over the one it replaces (compare-and-set)
// before it is used. A lost answer is retried once with the same refresh token; `invalid_grant` loses the
// portal (`needs-reinstall`); an authorization server that does not answer loses nothing.
import type { Logger } from '../logger';
import { OAuthRefused, OAuthUnavailable } from './oauth-client';
import { isMemberId } from './token-answer';
import type { PortalRecord, PortalState, PortalStore, PortalTokens, TokenAnswer } from './types';

/** What a call to a portal needs. */
export interface PortalAccess {
  memberId: string;
  accessToken: string;
  /** `https://<portal>/rest/`. */
  clientEndpoint: string;
  botId?: number;
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
    readonly kind: 'timeout' | 'unreachable' | 'bad-response',
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

/** True when the portal is ready and its refresh token is older than 150 days. The caller schedules. */
export function dueForKeepAlive(record: PortalRecord, now: number): boolean {
  return record.state === 'ready' && now - record.tokens.issuedAt > KEEP_ALIVE_AFTER_MS;
}

const accessOf = (record: PortalRecord): PortalAccess => {
  const access: PortalAccess = {
    memberId: record.memberId,
    accessToken: record.tokens.accessToken,
    clientEndpoint: record.clientEndpoint,
  };
  if (record.botId !== undefined) access.botId = record.botId;
  return access;
};

export class AccessTokens {
  readonly #store: PortalStore;
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

  constructor({ store, oauth, logger, onLost = () => {}, now = Date.now }: AccessTokensOptions) {
    this.#store = store;
    this.#oauth = oauth;
    this.#logger = logger;
    this.#onLost = onLost;
    this.#now = now;
    this.#waitMs = 2 * oauth.timeoutMs + 1_000;
  }

  /** The portal's access token; refreshed first if its stored expiry has passed. */
  async accessToken(memberId: string): Promise<PortalAccess> {
    const record = await this.#ready(memberId);
    if (!this.#expired(record)) return accessOf(record);
    return this.#refreshWhile(memberId, (current) => this.#expired(current));
  }

  /** After a call with `staleAccessToken` answered `expired_token`: a newer stored token, or a refreshed one. */
  refreshAfter(memberId: string, staleAccessToken: string): Promise<PortalAccess> {
    return this.#refreshWhile(memberId, (current) => current.tokens.accessToken === staleAccessToken);
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

  /** One refresh of one portal: the only code that spends a refresh token. */
  async #fly(memberId: string, needs: (record: PortalRecord) => boolean): Promise<PortalRecord> {
    const record = await this.#ready(memberId);
    if (!needs(record)) return record;
    const spent = record.tokens.refreshToken;
    const answer = await this.#exchange(memberId, spent);
    if (typeof answer === 'string') return this.#lose(memberId, spent, answer);
    if (answer.member_id !== memberId) return this.#lose(memberId, spent, 'another-portal');

    const now = this.#now();
    const tokens: PortalTokens = {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: expiresAt(answer, now),
      issuedAt: now,
    };
    if (!(await this.#store.replaceTokens(memberId, spent, tokens, answer.client_endpoint))) {
      // A re-install or another writer came first: what it stored is the portal's now.
      this.#logger.info({ memberId }, 'portal tokens: another writer stored first; using what is stored');
      return this.#ready(memberId);
    }
    this.#remember(memberId, answer.server_endpoint);
    return { ...record, tokens, clientEndpoint: answer.client_endpoint, refreshedAt: now };
  }

  /**
   * The answer to a refresh, or why the portal is lost. A lost answer is retried once with the same token (the
   * first may never have arrived); lost twice, nothing changes and the next call tries again.
   */
  async #exchange(memberId: string, spent: string): Promise<TokenAnswer | 'invalid_grant' | 'lost-answer'> {
    const server = this.#servers.get(memberId);
    try {
      return await this.#oauth.refresh(spent, server);
    } catch (error) {
      if (isGrantRefused(error)) return 'invalid_grant';
      if (!(error instanceof OAuthUnavailable)) throw error;
      const { kind, detail } = error;
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
    const record = isMemberId(memberId) ? await this.#store.get(memberId) : undefined;
    if (record === undefined) throw new PortalNotInstalled(memberId);
    if (record.state !== 'ready') throw notReady(record);
    return record;
  }

  #expired(record: PortalRecord): boolean {
    return record.tokens.expiresAt <= this.#now();
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
