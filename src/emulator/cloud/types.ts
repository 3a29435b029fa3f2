// The shapes of the cloud emulator (startCloud): Bitrix24's authorization server and several portals, each on
// its own loopback listener, for tests and `make start` in application mode (issue 33).
import type { Emulator } from '../types';
import type { AppEvent, EventOverrides } from './events';

export interface CloudOptions {
  /** The application's client id and secret, which the authorization server checks. */
  clientId: string;
  clientSecret: string;
  /**
   * How many portals listen on ports of their own (default 2, or 0 with `virtualPortals`; at most
   * `MAX_PORTALS`).
   */
  portals?: number;
  /**
   * How many portals more share one listener (default 0, at most `MAX_VIRTUAL_PORTALS`): thousands of portals
   * without a server each. They share its address, and a call goes to the portal whose token it carries
   * (shared-host.ts); they come after the listening ones in `Cloud.portals`.
   */
  virtualPortals?: number;
  /**
   * The member_ids of the first portals, in order (the rest random): each unique, 1 to 64 of A-Z a-z 0-9 _ -,
   * at most as many as the portals. For a demo whose calls name its portals the same at every start.
   */
  memberIds?: readonly string[];
  /** How long an access token lives, ms (default 3,600,000: Bitrix24's hour). */
  accessTtlMs?: number;
  /** How long a refresh token lives, ms (default 180 days). */
  refreshTtlMs?: number;
  /** Where every listener binds (default 127.0.0.1). */
  host?: string;
  /** The clock, ms (default `Date.now`). */
  now?: () => number;
}

/** What an application's event handler answered. */
export interface Delivery {
  status: number;
  /** Its body as text ('' when longer than 64 KiB). */
  body: string;
  /** The event as it was sent, before the overrides (its tokens too: tests read the refresh token sent). */
  event: AppEvent;
}

export interface SendOptions {
  /** Per flat field (`auth[application_token]`): a new value, or null to leave the field out. */
  overrides?: EventOverrides;
  /** How long to wait for the handler's answer, ms (default 10,000). */
  timeoutMs?: number;
}

export interface InstallOptions extends SendOptions {
  /** A new `application_token` for the portal: true for a random one, or the value (default: keep it). */
  newApplicationToken?: boolean | string;
}

export interface BulkInstallOptions {
  /** Events in flight at once (default 16, at most 256). */
  concurrency?: number;
  /** The portals to install (default: every portal of the cloud not installed now). */
  portals?: readonly CloudPortal[];
  /** How long to wait for each answer, ms (default 10,000). */
  timeoutMs?: number;
}

/** What a bulk install got: counts, and the first failures. */
export interface BulkInstall {
  /** Events sent. */
  sent: number;
  /** Answers by status (`'200'`, `'429'` …; `'failed'` when none came). */
  statuses: Record<string, number>;
  /** The first 10 events not answered 200: the portal, the status (0: no answer) and the body or the error. */
  failures: { memberId: string; status: number; body: string }[];
}

export interface UninstallOptions extends SendOptions {
  /** `data[CLEAN]`: the user asked to delete the application's data (default false). */
  clean?: boolean;
}

/** A bot on a portal, as `imbot.bot.list` shows it (and whose application registered it). */
export interface PortalBot {
  id: number;
  code: string;
  name: string;
  type: string;
  openline: 'Y' | 'N';
  /** The event handler URLs it was registered with. */
  handlers: Readonly<Record<string, string>>;
  /** Registered by the application under test (false: another application's, `addOtherBot`). */
  ours: boolean;
}

export interface CloudPortal {
  /** Random, 32 hex digits (or as `memberIds` gave it); never changes. */
  readonly memberId: string;
  /** `127.0.0.1:<port>` (a virtual portal's is its shared listener's). */
  readonly domain: string;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>/rest/`. */
  readonly clientEndpoint: string;
  /** The `application_token` events of this portal carry. A secret: tests only. */
  readonly applicationToken: string;
  /** Whether the application is installed (an install event was sent and no uninstall since). */
  readonly installed: boolean;
  /** When set, `imbot.register` answers this error (e.g. 'ACCESS_DENIED') and registers nothing. */
  failBotRegistration: string | undefined;
  /** Every bot on the portal, in the order registered: a copy. */
  readonly bots: PortalBot[];
  /** The session methods' emulator behind this portal: the calls it received, its stats. */
  readonly emulator: Emulator;
  /** Requests to `/rest/<method>` (refused ones too), of `method` (lower case, no `.json`), or of all. */
  calls(method?: string): number;
  /** Every live access token of this portal expires now (their refresh tokens stay good). */
  expireAccessTokens(): void;
  /** Adds a bot registered by another application (its id); the application's lookup does not find it. */
  addOtherBot(code: string, name?: string): number;
}

/** Token answers held back (`holdTokenAnswers`): the requests were processed, their answers not sent. */
export interface TokenHold {
  /** How many answers are held now. */
  readonly held: number;
  /** Resolves once `count` answers (default 1) are held; rejects after `timeoutMs` (default 5,000). */
  waiting(count?: number, timeoutMs?: number): Promise<void>;
  /** Sends the held answers, and ends the hold. */
  release(): void;
  /** Destroys the held requests' sockets without an answer, and ends the hold. */
  cut(): void;
}

/** What `preinstall` made: the pair (tokens: a test's secrets) and the bot's id. */
export interface Preinstalled {
  accessToken: string;
  refreshToken: string;
  /** When the access token dies, and when the pair was issued (ms). */
  expiresAt: number;
  issuedAt: number;
  botId: number;
}

export interface CloudStats {
  /** Requests to the authorization server's token path, whatever they were answered. */
  tokenRequests: number;
  /** Refreshes that minted a new pair. */
  refreshes: number;
  invalidGrant: number;
  invalidClient: number;
}

export interface Cloud {
  /** The authorization server's origin, `http://127.0.0.1:<port>` (BITRIX24_OAUTH_URL). */
  readonly oauthUrl: string;
  /** `<oauthUrl>/rest/`, as every token answer and event gives it. */
  readonly serverEndpoint: string;
  readonly portals: readonly CloudPortal[];
  readonly stats: CloudStats;
  /** How many times this refresh token was presented to the authorization server (one it issued). */
  presented(refreshToken: string): number;
  /** The tokens of the pairs held now, and the refresh tokens remembered as spent: tests look for them. */
  issuedTokens(): string[];
  /** Mints a pair for the portal and POSTs ONAPPINSTALL to `handlerUrl`. */
  install(portal: CloudPortal, handlerUrl: string, options?: InstallOptions): Promise<Delivery>;
  /**
   * Installs many portals as `install` does each (ONAPPINSTALL with a new pair), `concurrency` at once;
   * resolves once every event is answered or failed. The deliveries are not kept (counts only).
   */
  installAll(handlerUrl: string, options?: BulkInstallOptions): Promise<BulkInstall>;
  /**
   * The portal as an install the application confirmed leaves it, with no event sent: a pair minted and the
   * application's bot registered. For tests that write thousands of portals into a store themselves.
   */
  preinstall(portal: CloudPortal, bot: { code: string; name: string; handlerUrl: string }): Preinstalled;
  /** Mints a pair and POSTs ONAPPUPDATE (with a new `application_token` if asked). */
  update(portal: CloudPortal, handlerUrl: string, options?: InstallOptions): Promise<Delivery>;
  /** POSTs ONAPPUNINSTALL (no tokens); the portal's tokens and the application's bots die. */
  uninstall(portal: CloudPortal, handlerUrl: string, options?: UninstallOptions): Promise<Delivery>;
  /** POSTs any event (forged, variant) as Bitrix24 would, through the same form encoding. */
  send(handlerUrl: string, event: AppEvent, options?: SendOptions): Promise<Delivery>;
  /** Holds the authorization server's answers from now until the hold is released or cut. */
  holdTokenAnswers(): TokenHold;
  /** Closes every listener (held token requests are cut). */
  close(): Promise<void>;
}
