// Application mode (issue 33): the gateway is the bot's Bitrix24 application, installed on any number of
// portals. These are the shapes its parts share: the stored portal, the store behind one seam (the data
// folder's SQLite now, Redis when replicas share it), and the authorization server's token answer.
// Tokens are plain text only in memory: every store keeps them encrypted (vault.ts).

/** A portal's OAuth pair, as the authorization server issued it. */
export interface PortalTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token dies (ms since the epoch), from the answer's `expires` (seconds). */
  expiresAt: number;
  /** When this refresh token was issued (ms): a refresh token lives 180 days. */
  issuedAt: number;
}

/**
 * - `installing`: the install was confirmed by the authorization server; the bot is being registered.
 * - `ready`: tokens and the bot's id held; calls go.
 * - `bot-failed`: installed, but the bot could not be registered (`stateReason` says why); calls are refused
 *   with the documented error until a re-install (or update) registers it.
 * - `needs-reinstall`: the authorization server answered `invalid_grant`: the tokens are lost; only a
 *   re-install repairs the portal.
 */
export type PortalState = 'installing' | 'ready' | 'bot-failed' | 'needs-reinstall';

/** A portal the application is installed on. `memberId` never changes; the address may. */
export interface PortalRecord {
  memberId: string;
  /** `https://<portal>/rest/`, from the authorization server's latest answer (portals are renamed). */
  clientEndpoint: string;
  /** The portal's address: the host (and port, when not the scheme's) of `clientEndpoint`, lower case. */
  domain: string;
  state: PortalState;
  /** Why the state is not `ready`, in words; never a secret. */
  stateReason?: string;
  /** The bot's id on this portal (`imbot.register`'s answer), once registered or found. */
  botId?: number;
  /** The proof that later events come from this portal (compared in constant time). A secret. */
  applicationToken: string;
  tokens: PortalTokens;
  installedAt: number;
  /** When the last refresh succeeded (ms), or undefined if none since the install. */
  refreshedAt?: number;
}

/** What may be shown of a portal (operators, `GET /portals`): never a token. */
export interface PortalSummary {
  memberId: string;
  domain: string;
  state: PortalState;
  stateReason?: string;
  botId?: number;
  installedAt: number;
  refreshedAt?: number;
  /** When the refresh token held was issued (ms). */
  refreshTokenIssuedAt: number;
}

/**
 * Where portals live. Every write is durable when its promise resolves (the data folder: fsynced), so that
 * a new pair is stored before the new access token is used.
 */
export interface PortalStore {
  get(memberId: string): Promise<PortalRecord | undefined>;
  /** The portal at this address (`PortalRecord.domain`, compared in lower case), if exactly one is. */
  getByDomain(domain: string): Promise<PortalRecord | undefined>;
  /** Every portal, without tokens, in `memberId` order. */
  list(): Promise<PortalSummary[]>;
  /** Stores a portal whole: an install, or a re-install that replaces what was there. */
  put(record: PortalRecord): Promise<void>;
  /**
   * Writes a refreshed pair (and the client endpoint the same answer gave) only over the refresh token it
   * replaces: false, and nothing written, when the stored refresh token is no longer `spent` (another refresh
   * or a re-install came first) or the portal is gone.
   */
  replaceTokens(memberId: string, spent: string, tokens: PortalTokens, clientEndpoint: string): Promise<boolean>;
  /**
   * Marks the portal `needs-reinstall` (with why) only while its refresh token is still `spent`: false, and
   * nothing written, when a re-install or another refresh replaced it meanwhile, or the portal is gone.
   */
  markLost(memberId: string, spent: string, reason: string): Promise<boolean>;
  /** Changes the portal's state (and its reason and bot id when given); false when the portal is gone. */
  setState(memberId: string, state: PortalState, details?: { reason?: string; botId?: number }): Promise<boolean>;
  /** Replaces the `application_token` (an update brought a new one); false when the portal is gone. */
  setApplicationToken(memberId: string, applicationToken: string): Promise<boolean>;
  /** Deletes the portal and its tokens (an uninstall); false when there was none. */
  delete(memberId: string): Promise<boolean>;
  close?(): Promise<void> | void;
}

/**
 * The portals' store cannot be reached now (Redis down, stalled, refusing): nothing is read, written or
 * renewed, and what asked is answered 503 `PORTAL_STORE_UNAVAILABLE`, nothing sent. `why` is in words,
 * never a secret.
 */
export class PortalStoreUnavailable extends Error {
  constructor(readonly why: string) {
    super(`the store of the application's portals cannot be reached (${why})`);
    this.name = 'PortalStoreUnavailable';
  }
}

/**
 * What keeps every other replica from refreshing a portal while one does (in Redis, beside the portal's
 * record). One process needs none: its refreshes are single-flight in memory.
 */
export interface RefreshLeases {
  /**
   * A lease on the portal's refresh for `ms` (a token to end it with), or undefined while another holder's
   * lease runs. Throws when the store cannot be reached: no refresh then.
   */
  acquire(memberId: string, ms: number): Promise<string | undefined>;
  /** Ends the lease, only while it is still `token`'s. */
  release(memberId: string, token: string): Promise<void>;
  /** Whether a lease on the portal's refresh runs now (some replica is refreshing it). */
  held(memberId: string): Promise<boolean>;
}

/**
 * The authorization server's answer to `grant_type=refresh_token` (`…/oauth/token/`), checked: every field
 * the gateway reads, typed. `domain` is the authorization server's, not the portal's.
 */
export interface TokenAnswer {
  access_token: string;
  refresh_token: string;
  /** When the access token dies, in seconds since the epoch. */
  expires: number;
  expires_in: number;
  scope: string;
  domain: string;
  server_endpoint: string;
  client_endpoint: string;
  member_id: string;
  user_id?: number;
  status?: string;
}
