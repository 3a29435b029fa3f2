// The cloud emulator: Bitrix24's authorization server and several portals, each on its own loopback
// listener, playing the world of a Bitrix24 application (issue 33's application mode) for tests and for
// `make start`. The portals answer the session methods through the existing emulator's dispatch. Thousands
// more can share one listener (`virtualPortals`, shared-host.ts), and be installed in bulk (`installAll`).
import type { TokenAnswer } from '../../application/types';
import { installInBulk } from './bulk-install';
import { type AppEvent, type AppEventName, appEvent, eventBody, postEvent } from './events';
import { type AuthorizationServer, SCOPE, startAuthorizationServer } from './oauth-server';
import { Portal, type PortalSetup } from './portal';
import { type SharedHost, startSharedHost } from './shared-host';
import { randomToken, TokenBook } from './tokens';
import type {
  BulkInstallOptions,
  Cloud,
  CloudOptions,
  CloudPortal,
  CloudStats,
  Delivery,
  InstallOptions,
  SendOptions,
  UninstallOptions,
} from './types';

/** The most portals one cloud runs on listeners of their own. */
export const MAX_PORTALS = 64;
/** The most portals one cloud runs on its shared listener. */
export const MAX_VIRTUAL_PORTALS = 100_000;
/** A member_id `memberIds` may give: what the gateway takes from a token answer. */
const MEMBER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export { type AppEvent, type AppEventName, appEvent, type EventOverrides, eventBody, eventFields } from './events';
export type * from './types';

export interface StartCloudOptions extends CloudOptions {
  /** Options of each portal's session-method emulator (its rate limit, say). */
  portalEmulator?: PortalSetup['emulator'];
}

/** Starts the authorization server and `portals` portals; `close()` stops them all. */
export async function startCloud(options: StartCloudOptions): Promise<Cloud> {
  const { clientId, clientSecret, virtualPortals = 0, accessTtlMs = 3_600_000, host = '127.0.0.1' } = options;
  const { portals: listening = virtualPortals > 0 ? 0 : 2, refreshTtlMs = 180 * 24 * 3_600_000 } = options;
  const { now = Date.now } = options;
  if (!clientId || !clientSecret) throw new TypeError('startCloud needs a clientId and a clientSecret');
  if (!Number.isInteger(virtualPortals) || virtualPortals < 0 || virtualPortals > MAX_VIRTUAL_PORTALS)
    throw new RangeError(`virtualPortals: ${virtualPortals} is not from 0 to ${MAX_VIRTUAL_PORTALS}`);
  const least = virtualPortals > 0 ? 0 : 1;
  if (!Number.isInteger(listening) || listening < least || listening > MAX_PORTALS) {
    throw new RangeError(`portals: ${listening} is not from ${least} to ${MAX_PORTALS}`);
  }
  if (!(accessTtlMs > 0) || !(refreshTtlMs > 0)) throw new RangeError('Token lifetimes must be positive');
  const count = listening + virtualPortals;
  const memberIds = options.memberIds ?? [];
  if (memberIds.length > count) throw new RangeError(`memberIds: ${memberIds.length} for ${count} portals`);
  if (!memberIds.every((id) => MEMBER_ID.test(id)) || new Set(memberIds).size < memberIds.length)
    throw new RangeError('memberIds: each must be unique, 1 to 64 of A-Z a-z 0-9 _ -');

  const tokens = new TokenBook({ accessTtlMs, refreshTtlMs }, now);
  const stats: CloudStats = { tokenRequests: 0, refreshes: 0, invalidGrant: 0, invalidClient: 0 };
  const portals: Portal[] = [];
  /** Every portal by member_id: the authorization server's answers and the shared listener find them here. */
  const byMember = new Map<string, Portal>();
  const setup: PortalSetup = { tokens, host, now, emulator: options.portalEmulator };
  let oauth: AuthorizationServer | undefined;
  let shared: SharedHost | undefined;
  const add = (portal: Portal) => {
    if (byMember.has(portal.memberId)) throw new Error('Two portals drew the same member_id');
    portals.push(portal);
    byMember.set(portal.memberId, portal);
  };
  try {
    oauth = await startAuthorizationServer({
      clientId,
      clientSecret,
      tokens,
      stats,
      host,
      clientEndpointOf: (memberId) => byMember.get(memberId)?.clientEndpoint ?? '',
    });
    for (let i = 0; i < listening; i++) add(await new Portal(setup, memberIds[i]).start());
    if (virtualPortals > 0) {
      shared = await startSharedHost(
        host,
        (accessToken) => {
          const memberId = tokens.holderOf(accessToken);
          return memberId === undefined ? undefined : byMember.get(memberId);
        },
        now,
      );
      for (let i = listening; i < count; i++) add(new Portal(setup, memberIds[i]).at(shared.address));
    }
  } catch (error) {
    await Promise.allSettled([oauth?.close(), shared?.close(), ...portals.map((portal) => portal.close())]);
    throw error;
  }
  const server = oauth;

  const own = (portal: CloudPortal): Portal => {
    const found = byMember.get(portal.memberId);
    if (found !== portal) throw new Error('That portal is not one of this cloud');
    return found;
  };
  const eventOf = (name: AppEventName, portal: Portal, withPair: boolean, clean?: boolean): AppEvent =>
    appEvent(
      name,
      {
        memberId: portal.memberId,
        domain: portal.domain,
        clientEndpoint: portal.clientEndpoint,
        serverEndpoint: server.serverEndpoint,
        applicationToken: portal.applicationToken,
        scope: SCOPE,
        now: now(),
      },
      withPair ? tokens.mint(portal.memberId) : undefined,
      clean,
    );
  const send = async (handlerUrl: string, event: AppEvent, sendOptions: SendOptions = {}): Promise<Delivery> => {
    const answer = await postEvent(handlerUrl, eventBody(event, sendOptions.overrides), sendOptions.timeoutMs);
    return { ...answer, event };
  };
  const renewApplicationToken = (portal: Portal, renew: InstallOptions['newApplicationToken']) => {
    if (renew) portal.applicationToken = typeof renew === 'string' ? renew : randomToken(16);
  };
  const install = async (portal: CloudPortal, handlerUrl: string, installOptions: InstallOptions = {}) => {
    const target = own(portal);
    renewApplicationToken(target, installOptions.newApplicationToken);
    target.installed = true;
    return send(handlerUrl, eventOf('ONAPPINSTALL', target, true), installOptions);
  };

  return {
    oauthUrl: server.url,
    serverEndpoint: server.serverEndpoint,
    portals,
    stats,
    presented: (refreshToken) => tokens.presented(refreshToken),
    issuedTokens: () => tokens.issued(),
    install,
    async installAll(handlerUrl, { concurrency = 16, portals: chosen, timeoutMs }: BulkInstallOptions = {}) {
      const targets = chosen ? chosen.map(own) : portals.filter((portal) => !portal.installed);
      return installInBulk(
        targets,
        (portal) => install(portal, handlerUrl, timeoutMs === undefined ? {} : { timeoutMs }),
        concurrency,
      );
    },
    preinstall(portal, bot) {
      const target = own(portal);
      target.installed = true;
      const pair = tokens.mint(target.memberId);
      const botId = target.registerApplicationBot(bot.code, bot.name, bot.handlerUrl);
      const { accessToken, refreshToken, accessExpiresAt: expiresAt, issuedAt } = pair;
      return { accessToken, refreshToken, expiresAt, issuedAt, botId };
    },
    async update(portal, handlerUrl, updateOptions: InstallOptions = {}) {
      const target = own(portal);
      renewApplicationToken(target, updateOptions.newApplicationToken);
      return send(handlerUrl, eventOf('ONAPPUPDATE', target, true), updateOptions);
    },
    async uninstall(portal, handlerUrl, uninstallOptions: UninstallOptions = {}) {
      const target = own(portal);
      const event = eventOf('ONAPPUNINSTALL', target, false, uninstallOptions.clean);
      target.uninstalled();
      return send(handlerUrl, event, uninstallOptions);
    },
    send,
    holdTokenAnswers: () => server.hold(),
    async close() {
      await Promise.all([server.close(), shared?.close(), ...portals.map((portal) => portal.close())]);
    },
  };
}

/** The token answer the authorization server gives (its shape, for tests that compare). */
export type { TokenAnswer };
