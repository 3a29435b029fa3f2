// The cloud emulator: Bitrix24's authorization server and several portals, each on its own loopback
// listener, playing the world of a Bitrix24 application (issue 33's application mode) for tests and for
// `make start`. The portals answer the session methods through the existing emulator's dispatch.
import type { TokenAnswer } from '../../application/types';
import { type AppEvent, type AppEventName, appEvent, eventBody, postEvent } from './events';
import { type AuthorizationServer, SCOPE, startAuthorizationServer } from './oauth-server';
import { Portal, type PortalSetup } from './portal';
import { randomToken, TokenBook } from './tokens';
import type {
  Cloud,
  CloudOptions,
  CloudPortal,
  CloudStats,
  Delivery,
  InstallOptions,
  SendOptions,
  UninstallOptions,
} from './types';

/** The most portals one cloud runs. */
export const MAX_PORTALS = 64;
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
  const { clientId, clientSecret, portals: count = 2, accessTtlMs = 3_600_000, host = '127.0.0.1' } = options;
  const { refreshTtlMs = 180 * 24 * 3_600_000, now = Date.now } = options;
  if (!clientId || !clientSecret) throw new TypeError('startCloud needs a clientId and a clientSecret');
  if (!Number.isInteger(count) || count < 1 || count > MAX_PORTALS) {
    throw new RangeError(`portals: ${count} is not from 1 to ${MAX_PORTALS}`);
  }
  if (!(accessTtlMs > 0) || !(refreshTtlMs > 0)) throw new RangeError('Token lifetimes must be positive');
  const memberIds = options.memberIds ?? [];
  if (memberIds.length > count) throw new RangeError(`memberIds: ${memberIds.length} for ${count} portals`);
  if (!memberIds.every((id) => MEMBER_ID.test(id)) || new Set(memberIds).size < memberIds.length)
    throw new RangeError('memberIds: each must be unique, 1 to 64 of A-Z a-z 0-9 _ -');

  const tokens = new TokenBook({ accessTtlMs, refreshTtlMs }, now);
  const stats: CloudStats = { tokenRequests: 0, refreshes: 0, invalidGrant: 0, invalidClient: 0 };
  const portals: Portal[] = [];
  let oauth: AuthorizationServer | undefined;
  try {
    oauth = await startAuthorizationServer({
      clientId,
      clientSecret,
      tokens,
      stats,
      host,
      clientEndpointOf: (memberId) => portals.find((portal) => portal.memberId === memberId)?.clientEndpoint ?? '',
    });
    for (let i = 0; i < count; i++) {
      const memberId = memberIds[i];
      portals.push(await new Portal({ tokens, host, now, emulator: options.portalEmulator, memberId }).start());
    }
  } catch (error) {
    await Promise.allSettled([oauth?.close(), ...portals.map((portal) => portal.close())]);
    throw error;
  }
  const server = oauth;

  const own = (portal: CloudPortal): Portal => {
    const found = portals.find((candidate) => candidate === portal);
    if (!found) throw new Error('That portal is not one of this cloud');
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

  return {
    oauthUrl: server.url,
    serverEndpoint: server.serverEndpoint,
    portals,
    stats,
    presented: (refreshToken) => tokens.presented(refreshToken),
    issuedTokens: () => tokens.issued(),
    async install(portal, handlerUrl, installOptions: InstallOptions = {}) {
      const target = own(portal);
      renewApplicationToken(target, installOptions.newApplicationToken);
      target.installed = true;
      return send(handlerUrl, eventOf('ONAPPINSTALL', target, true), installOptions);
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
      await Promise.all([server.close(), ...portals.map((portal) => portal.close())]);
    },
  };
}

/** The token answer the authorization server gives (its shape, for tests that compare). */
export type { TokenAnswer };
