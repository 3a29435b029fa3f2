// Which team may call which portal (GATEWAY_TEAM_PORTALS), and the step of the pipeline that says so for a
// portal-scoped path: after the caller's key, before the body is read. The portal is named by its member_id
// or its current address; a team learns nothing of a portal it may not call (403 whether or not it is
// installed), and a call it may make to a portal not installed, lost or not ready is refused with the
// documented code. Nothing is sent to Bitrix24 on any refusal here.
import type { MiddlewareHandler } from 'hono';
import { gatewayError, type Rejection } from '../error-matrix';
import { type GatewayEnv, respondError } from '../request-context';
import { isMemberId } from './token-answer';
import { type PortalRecord, type PortalStore, PortalStoreUnavailable } from './types';

export type TeamPortals = ReadonlyMap<string, '*' | ReadonlySet<string>>;

/** True when `team` may call the portal `memberId`. */
export function mayCall(teamPortals: TeamPortals, team: string, memberId: string): boolean {
  const portals = teamPortals.get(team);
  return portals === '*' || (portals?.has(memberId) ?? false);
}

/** The portal a path names: by member_id first, then by its current address. */
export async function portalNamed(store: PortalStore, named: string): Promise<PortalRecord | undefined> {
  return (isMemberId(named) ? await store.get(named) : undefined) ?? (await store.getByDomain(named.toLowerCase()));
}

/** Why a call to this portal cannot go, or undefined when it is ready. */
export function notReady(record: PortalRecord): Rejection | undefined {
  if (record.state === 'ready') return undefined;
  if (record.state === 'needs-reinstall')
    return gatewayError(
      'PORTAL_NEEDS_REINSTALL',
      `Portal ${record.memberId} lost its tokens (${record.stateReason ?? 'the authorization server refused its refresh token'}): install the application on it again; nothing was sent to Bitrix24`,
    );
  return gatewayError(
    'PORTAL_NOT_READY',
    `Portal ${record.memberId} is not ready (${record.state}${record.stateReason ? `: ${record.stateReason}` : ''}); nothing was sent to Bitrix24`,
  );
}

/** The answer while the portals' store (Redis) cannot be reached: nothing read, nothing sent. */
export function storeUnavailable(error: PortalStoreUnavailable): Rejection {
  return gatewayError(
    'PORTAL_STORE_UNAVAILABLE',
    `The store of the application's portals cannot be reached (${error.why}); nothing was sent to Bitrix24, and the request may be repeated`,
  );
}

/** The pipeline's step for a path with a portal parameter: sets `c.var.portal` or refuses. */
export function portalAccess(
  store: PortalStore,
  teamPortals: () => TeamPortals,
): (parameter: string) => MiddlewareHandler<GatewayEnv> {
  return (parameter) => async (c, next) => {
    const named = c.req.param(parameter) ?? '';
    // A name the path's pattern refuses is the validation's to answer (400 INVALID_PARAMETER); one it takes
    // holds no markup and is bounded, so errors show it as written.
    if (!NAME.test(named)) return next();
    const team = c.get('team');
    let record: PortalRecord | undefined;
    try {
      record = await portalNamed(store, named);
    } catch (error) {
      if (error instanceof PortalStoreUnavailable)
        return respondError(c, storeUnavailable(error), { 'Retry-After': '1' });
      throw error;
    }
    // A team that may not call what it named learns nothing of it, installed or not.
    const allowed = record ? mayCall(teamPortals(), team, record.memberId) : mayCall(teamPortals(), team, named);
    if (!allowed && !(record === undefined && teamPortals().get(team) === '*'))
      return respondError(
        c,
        gatewayError(
          'PORTAL_NOT_ALLOWED',
          `Team ${team} may not call portal ${named} (GATEWAY_TEAM_PORTALS); nothing was sent to Bitrix24`,
        ),
      );
    if (!record)
      return respondError(
        c,
        gatewayError(
          'PORTAL_NOT_INSTALLED',
          `The application is not installed on portal ${named}; nothing was sent to Bitrix24`,
        ),
      );
    const refusal = notReady(record);
    if (refusal) return respondError(c, refusal);
    c.set('portal', record.memberId);
    // The call reads the portal's token from this record rather than reading it again (while fresh).
    c.set('portalFound', record);
    await next();
  };
}

/** The spec's pattern of the `portal` parameter (components.parameters.Portal). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;
