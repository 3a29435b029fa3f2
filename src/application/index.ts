// Application mode (issue 33): the gateway is the bot's Bitrix24 application, installed on any number of
// portals. This folder is the capability; its one seam to the rest of the gateway is `Application`: the
// upstream call the pipeline makes (the portal's token added, refreshed on `expired_token`, within the
// portal's own limits), the pipeline's portal step (team → portal, installed, ready), and its own routes
// (`GET /portals`, `POST /bitrix24/events`). The portals live in the data folder's database, or in Redis
// when replicas share them (shared.ts), their secrets sealed (vault.ts).

import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { type Config, plans } from '../config';
import { type ApplicationUpstream, defaultInstallLimits } from '../config/application';
import type { DataDir } from '../data-dir';
import { gatewayError } from '../error-matrix';
import type { Logger } from '../logger';
import { type CallUpstream, RefusedBeforeSending } from '../pipeline';
import type { Caller, ShapedAnswer } from '../rate-limit';
import type { RedisConnection } from '../redis';
import type { GatewayEnv } from '../request-context';
import { bodyJson, type UpstreamAnswer, type UpstreamParams } from '../upstream';
import { mayCall, notReady, portalAccess, storeUnavailable } from './access';
import { registerBot } from './bot';
import { CachedPortals } from './cached-store';
import { EventHandler } from './events';
import { keepPortalsAlive } from './keep-alive';
import { OAuthClient } from './oauth-client';
import { PortalCallers, type PortalCallersOptions } from './portal-callers';
import { applicationRoutes } from './routes';
import type { SharedPortals } from './shared';
import { SqlitePortalStore } from './sqlite-portal-store';
import {
  AccessTokens,
  AuthorizationServerUnavailable,
  type PortalAccess,
  PortalNotInstalled,
  PortalNotReady,
} from './tokens';
import { type PortalRecord, type PortalStore, PortalStoreUnavailable } from './types';
import { TokenVault } from './vault';

export interface Application {
  callUpstream: CallUpstream;
  /** The pipeline's step for a path with a portal parameter (src/pipeline `portalAccess`). */
  portalAccess: (parameter: string) => MiddlewareHandler<GatewayEnv>;
  routes: (authenticate: MiddlewareHandler<GatewayEnv>) => OpenAPIHono<GatewayEnv>;
  /** The calls waiting in every portal's queue. */
  readonly depth: number;
  /** How many portals are in each state (read from the store: for a metric, now and then). */
  portalStates(): Promise<Record<string, number>>;
  /** Refreshed pairs this replica holds that the store did not take yet. */
  readonly unwritten: number;
  /** Refuses waiting calls and gives up on calls in flight (the shutdown timeout ran out). */
  abort(): void;
  close(): Promise<void>;
}

export interface ApplicationOptions {
  config: Config;
  upstream: ApplicationUpstream;
  /** The data folder, where the portals live without Redis. */
  dataDir?: DataDir;
  /** Redis, shared by the replicas: the portals, their limits and their refresh leases live there. */
  shared?: SharedSettings;
  logger: Logger;
  isShuttingDown: () => boolean;
  observe?: PortalCallersOptions['observe'];
  events?: PortalCallersOptions['events'];
  /** Portals lost: to `invalid_grant`, or with an emptied Redis (for a metric). */
  onLost?: (count: number) => void;
  /** An event judged, with its outcome (for a metric). */
  onEvent?: (event: string, outcome: string) => void;
}

export interface SharedSettings {
  connection: RedisConnection;
  prefix: string;
  replicas: number;
  sharedBucket: boolean;
}

/** How many times a call refused for its token (never executed) goes again with a newer one. */
const MAX_RESENDS = 2;

/** The team the gateway's own calls (the bot's registration) wait in the queue as. */
const APPLICATION_TEAM = 'gateway-application';

export async function startApplication(options: ApplicationOptions): Promise<Application> {
  const { config, upstream, dataDir, logger } = options;
  const vault = new TokenVault(upstream.tokenKeys);
  const shared: SharedPortals | undefined = options.shared
    ? (await import('./shared')).sharedPortals({
        ...options.shared,
        vault,
        logger,
        ...(options.onLost && { onLost: options.onLost }),
      })
    : undefined;
  // One process's portals are read from memory once read (cached-store.ts); the replicas' are read from Redis.
  const local = shared ? undefined : new CachedPortals(new SqlitePortalStore({ dataDir: dataDir!, vault }));
  const store: PortalStore = shared?.store ?? local!;
  const rewrapStore = shared?.store ?? local!.inner;
  // A key rotation finishes at start (with Redis, once it is first reached): every record sealed under an
  // older key is sealed again under the first.
  const rewrap = async () => {
    const rewrapped = await rewrapStore.rewrap();
    if (rewrapped > 0)
      logger.info({ rewrapped, keyId: vault.currentKeyId }, 'Portals sealed again under the first GATEWAY_TOKEN_KEY');
  };
  if (options.shared) {
    const stop = options.shared.connection.onChange((up) => {
      if (!up) return;
      stop();
      rewrap().catch((error: unknown) =>
        logger.warn(
          { err: error instanceof Error ? error.message : 'error' },
          'Portals not sealed again: will try at the next start',
        ),
      );
    });
  } else await rewrap();
  const oauth = new OAuthClient({
    oauthUrl: upstream.oauthUrl,
    trustedHosts: upstream.oauthHosts,
    clientId: upstream.clientId,
    clientSecret: upstream.clientSecret,
    timeoutMs: config.upstreamTimeoutMs,
  });
  const tokens = new AccessTokens({
    store,
    ...(shared && { leases: shared.store }),
    oauth,
    logger,
    ...(options.onLost && { onLost: () => options.onLost!(1) }),
  });
  const callers = new PortalCallers({
    config,
    // A portal with a plan of its own (BITRIX24_PORTAL_PLANS) gets that plan's bucket; the others the default.
    bucketOf: (memberId) => {
      const plan = upstream.portalPlans?.get(memberId);
      return plan === undefined ? undefined : plans[plan];
    },
    // A portal with a queue bound of its own (BITRIX24_PORTAL_QUEUES) gets it; the others QUEUE_MAX_LENGTH.
    queueOf: (memberId) => upstream.portalQueues?.get(memberId),
    ...(shared && { limitOf: shared.limitOf }),
    ...(options.observe && { observe: options.observe }),
    ...(options.events && { events: options.events }),
  });

  /** Calls `method` on a portal with its token; once more with a new one if Bitrix24 says it expired. */
  const callPortal = async (
    memberId: string,
    method: string,
    params: UpstreamParams,
    caller: Caller,
    access?: PortalAccess,
    /** True: `access` is the one to send (the install's token, the portal not ready yet); false: renewable. */
    fixed = access !== undefined,
  ): Promise<ShapedAnswer> => {
    let current = access ?? (await granted(() => tokens.accessToken(memberId)));
    // The token is added once the call's slot is granted: one read before a long wait in the portal's queue
    // may have died meanwhile (renewed by another call, or another replica). A fixed token (the install's)
    // is the one to send.
    const prepare = async (sent: UpstreamParams): Promise<UpstreamParams> => {
      if (!fixed && !tokens.fresh(current)) {
        try {
          current = await tokens.accessToken(memberId);
        } catch (error) {
          // The store is away: a token still alive goes (nothing is renewed without the store); a dead one
          // would only be refused.
          const alive = (current.expiresAt ?? Number.POSITIVE_INFINITY) > Date.now();
          if (!(error instanceof PortalStoreUnavailable && alive)) refuse(error);
        }
      }
      return { ...sent, auth: current.accessToken };
    };
    const send = (token: PortalAccess) => {
      current = token;
      return callers.call(memberId, token.clientEndpoint, method, params, { ...caller, prepare });
    };
    let answer = await send(current);
    // Bitrix24 did not execute the call: `expired_token`, or `NO_AUTH_FOUND` for a token a refresh (another
    // call's, maybe another replica's) replaced while this one was on its way. It goes again with the new
    // token; twice at most, as replicas renew one another's tokens under it.
    for (let resends = 0; resends < MAX_RESENDS; resends++) {
      const refused = authRefusal(answer);
      const stale = current.accessToken;
      let next: PortalAccess | undefined;
      if (refused === 'expired_token') next = await granted(() => tokens.refreshAfter(memberId, stale));
      else if (refused === 'NO_AUTH_FOUND') next = await granted(() => tokens.replacedAfter(memberId, stale));
      if (next === undefined) break;
      current = next;
      answer = await send(current);
    }
    return redacted(answer, current.accessToken);
  };

  const events = new EventHandler({
    store,
    oauth,
    logger,
    limits: {
      installsPerSourcePerMinute: (upstream.installLimits ?? defaultInstallLimits).perSourcePerMinute,
      installsPerMinute: (upstream.installLimits ?? defaultInstallLimits).perMinute,
    },
    registerBot: (record: PortalRecord) =>
      registerBot(
        (method, params) =>
          callPortal(
            record.memberId,
            method,
            params,
            { team: APPLICATION_TEAM },
            {
              memberId: record.memberId,
              accessToken: record.tokens.accessToken,
              clientEndpoint: record.clientEndpoint,
            },
          ),
        { code: upstream.bot.code, name: upstream.bot.name, eventsUrl: upstream.bot.eventsUrl.href },
      ),
    ...(options.onEvent && { onEvent: options.onEvent }),
    ...(shared && { storeProblem: shared.problem }),
  });

  const stopKeepAlive = keepPortalsAlive({ store, tokens, logger });

  return {
    callUpstream: async (method, params, caller) => {
      if (caller.portal === undefined) throw new Error('application mode: a call without its portal');
      // The record the portal step read for this request, when it is this portal's: no second read.
      const found = caller.portalFound as PortalRecord | undefined;
      const access = found?.memberId === caller.portal ? await granted(() => tokens.accessFrom(found)) : undefined;
      return callPortal(caller.portal, method, params, caller, access, false);
    },
    portalAccess: portalAccess(store, () => upstream.teamPortals),
    routes: (authenticate) =>
      applicationRoutes({
        authenticate,
        isShuttingDown: options.isShuttingDown,
        portalsOf: async (team) =>
          (await store.list()).filter((portal) => mayCall(upstream.teamPortals, team, portal.memberId)),
        operatorPortals: async (team) => (upstream.operatorTeams?.has(team) ? store.list() : undefined),
        handleEvent: async (formText, source) => {
          const answer = await events.handle(formText, source);
          // An uninstall: the portal's connections go; calls already in flight finish.
          const body = answer.body as { event?: string; member_id?: string; state?: string };
          if (answer.status === 200 && body.state === 'uninstalled' && body.member_id) callers.forget(body.member_id);
          return answer;
        },
      }),
    get depth() {
      return callers.depth;
    },
    portalStates: async () => {
      const counts: Record<string, number> = {};
      for (const portal of await store.list()) counts[portal.state] = (counts[portal.state] ?? 0) + 1;
      return counts;
    },
    get unwritten() {
      return tokens.unwritten;
    },
    abort: () => callers.abort(),
    close: async () => {
      stopKeepAlive();
      await callers.close();
      await tokens.close();
      await oauth.close?.();
    },
  };
}

/** The portal's access, or the documented refusal (nothing sent) when there is none to give. */
async function granted<T extends PortalAccess | undefined>(get: () => Promise<T>): Promise<T> {
  try {
    return await get();
  } catch (error) {
    refuse(error);
  }
}

/** Throws the documented refusal (nothing sent) for why a portal's access could not be given. */
function refuse(error: unknown): never {
  if (error instanceof PortalNotInstalled)
    throw new RefusedBeforeSending(
      gatewayError(
        'PORTAL_NOT_INSTALLED',
        `The application is not installed on portal ${error.memberId}; nothing was sent to Bitrix24`,
      ),
    );
  if (error instanceof PortalNotReady) {
    const rejection = notReady({
      memberId: error.memberId,
      state: error.state,
      stateReason: error.reason,
    } as PortalRecord);
    if (rejection) throw new RefusedBeforeSending(rejection);
  }
  if (error instanceof PortalStoreUnavailable)
    throw new RefusedBeforeSending(storeUnavailable(error), { 'Retry-After': '1' });
  if (error instanceof AuthorizationServerUnavailable)
    throw new RefusedBeforeSending(
      gatewayError(
        'AUTHORIZATION_SERVER_UNAVAILABLE',
        error.kind === 'waited'
          ? "Another replica's renewal of the portal's token did not finish in time; nothing was sent to Bitrix24, and the request may be repeated"
          : `The authorization server did not answer the renewal of the portal's token (${error.kind}); nothing was sent to Bitrix24, and the request may be repeated`,
      ),
      { 'Retry-After': '1' },
    );
  throw error;
}

/** Bitrix24's refusal of the token a call carried, if that is what it answered. */
function authRefusal(answer: UpstreamAnswer): 'expired_token' | 'NO_AUTH_FOUND' | undefined {
  if (answer.status !== 401) return undefined;
  const body = bodyJson(answer)?.value as { error?: unknown } | undefined;
  const code = typeof body === 'object' && body !== null ? body.error : undefined;
  return code === 'expired_token' || code === 'NO_AUTH_FOUND' ? code : undefined;
}

/** The portal's access token never leaves in an answer, even if Bitrix24 echoed it. */
function redacted(answer: ShapedAnswer, token: string): ShapedAnswer {
  return answer.body.includes(token) ? { ...answer, body: answer.body.split(token).join('[redacted]') } : answer;
}
