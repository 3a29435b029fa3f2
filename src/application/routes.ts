// Application mode's own paths: `GET /portals` (the caller's portals, never a token) and `POST
// /bitrix24/events` (Bitrix24's installs, updates and uninstalls: the one public path). Registered with
// their spec schemas, so that src/server/spec-drift.test.ts compares them with the spec. The event's body is
// read here (its media type, coding and UTF-8 checked) and judged by the event handler.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import {
  zBitrix24Event,
  zError401,
  zError405,
  zError408,
  zError413,
  zError415,
  zError417,
  zError431,
  zError500,
  zError503,
  zEventApplied,
  zEventError400,
  zEventError403,
  zEventError404,
  zEventError429,
  zEventError503,
  zHttpError400,
  zOperatorOnlyError403,
  zPortalList,
  zPortalStatusList,
} from '../../generated/zod.gen';
import { gatewayError, type Rejection } from '../error-matrix';
import { contentEncodingProblem, mediaTypeProblem } from '../pipeline';
import { type GatewayEnv, respondError } from '../request-context';
import { formTextProblem } from '../strict-text';
import { storeUnavailable } from './access';
import { PortalStoreUnavailable, type PortalSummary } from './types';

/** What the routes need of the application. */
export interface ApplicationRoutesDeps {
  /** Authenticates the caller by its API key; sets `c.var.team`. */
  authenticate: MiddlewareHandler<GatewayEnv>;
  /** The portals the team may call. */
  portalsOf(team: string): Promise<PortalSummary[]>;
  /** Every portal, for a team of GATEWAY_OPERATOR_TEAMS; undefined for any other team. */
  operatorPortals(team: string): Promise<PortalSummary[] | undefined>;
  now?: () => number;
  /** Judges one event: the answer's status, body and headers (src/application/events). */
  handleEvent(
    formText: string,
    source: string,
  ): Promise<{ status: number; body: object; headers?: Record<string, string> }>;
  isShuttingDown: () => boolean;
}

const json = <S>(schema: S) => ({ 'application/json': { schema } });
const everyPath = {
  405: { description: 'Method not allowed', content: json(zError405) },
  408: { description: 'Request timeout', content: json(zError408) },
  413: { description: 'Body too large', content: json(zError413) },
  417: { description: 'Expectation failed', content: json(zError417) },
  431: { description: 'Headers too large', content: json(zError431) },
};

const listPortals = createRoute({
  method: 'get',
  path: '/portals',
  operationId: 'listPortals',
  tags: ['application'],
  responses: {
    200: { description: "The caller's portals", content: json(zPortalList) },
    400: { description: 'Not valid HTTP/1.1', content: json(zHttpError400) },
    401: { description: 'No or a wrong API key', content: json(zError401) },
    503: { description: "Stopping, or the portals' store away", content: json(zError503) },
    ...everyPath,
  },
});

const listPortalsForOperator = createRoute({
  method: 'get',
  path: '/operator/portals',
  operationId: 'listPortalsForOperator',
  tags: ['application'],
  responses: {
    200: { description: 'Every installed portal', content: json(zPortalStatusList) },
    400: { description: 'Not valid HTTP/1.1', content: json(zHttpError400) },
    401: { description: 'No or a wrong API key', content: json(zError401) },
    403: { description: "Not an operator's key", content: json(zOperatorOnlyError403) },
    503: { description: "Stopping, or the portals' store away", content: json(zError503) },
    ...everyPath,
  },
});

const receiveEvent = createRoute({
  method: 'post',
  path: '/bitrix24/events',
  operationId: 'receiveBitrix24Event',
  tags: ['application'],
  security: [],
  request: {
    body: {
      required: true,
      content: {
        'application/x-www-form-urlencoded': {
          schema: zBitrix24Event,
          encoding: { data: { style: 'deepObject', explode: true }, auth: { style: 'deepObject', explode: true } },
        },
      },
    },
  },
  responses: {
    200: { description: 'Applied', content: json(zEventApplied) },
    400: { description: 'Not an event', content: json(zEventError400) },
    403: { description: 'Not believed', content: json(zEventError403) },
    404: { description: 'No such portal', content: json(zEventError404) },
    415: { description: 'Not a form', content: json(zError415) },
    429: { description: 'Too many installs', content: json(zEventError429) },
    500: { description: 'Internal error', content: json(zError500) },
    503: { description: "Authorization server or portals' store away, or stopping", content: json(zEventError503) },
    ...everyPath,
  },
});

const FORM = 'application/x-www-form-urlencoded';
const formOnly = mediaTypeProblem([FORM]);

export function applicationRoutes(deps: ApplicationRoutesDeps): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>();
  app.openAPIRegistry.registerPath(listPortals);
  app.openAPIRegistry.registerPath(listPortalsForOperator);
  app.openAPIRegistry.registerPath(receiveEvent);

  app.get('/portals', deps.authenticate, async (c) => {
    if (deps.isShuttingDown()) return respondError(c, shuttingDown());
    const portals = await unlessStoreAway(() => deps.portalsOf(c.get('team')));
    if ('rejection' in portals) return respondError(c, portals.rejection, { 'Retry-After': '1' });
    return c.json({ portals: portals.value.map(shown) }, 200);
  });

  app.get('/operator/portals', deps.authenticate, async (c) => {
    if (deps.isShuttingDown()) return respondError(c, shuttingDown());
    const team = c.get('team');
    const read = await unlessStoreAway(() => deps.operatorPortals(team));
    if ('rejection' in read) return respondError(c, read.rejection, { 'Retry-After': '1' });
    const portals = read.value;
    if (portals === undefined)
      return respondError(
        c,
        gatewayError(
          'OPERATOR_ONLY',
          `Team ${team} is not one of GATEWAY_OPERATOR_TEAMS: only an operator sees every portal`,
        ),
      );
    const now = (deps.now ?? Date.now)();
    return c.json({ portals: portals.map((portal) => status(portal, now)) }, 200);
  });

  app.post('/bitrix24/events', async (c) => {
    if (deps.isShuttingDown()) return respondError(c, shuttingDown(), { 'Retry-After': '1' });
    const contentType = c.req.header('content-type');
    const problem =
      contentEncodingProblem(c.req.header('content-encoding'), c.req.header('transfer-encoding')) ??
      (contentType === undefined
        ? gatewayError('UNSUPPORTED_MEDIA_TYPE', `An event is a form: send Content-Type ${FORM}`)
        : formOnly(contentType));
    if (problem) return respondError(c, problem);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const textProblem = formTextProblem(bytes, () => false);
    if (textProblem !== undefined) return respondError(c, gatewayError('INVALID_BODY', textProblem));
    const source = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
      ?.remoteAddress;
    const answer = await deps.handleEvent(Buffer.from(bytes).toString('utf8'), source ?? 'unknown');
    if (answer.status >= 400) {
      const body = answer.body as Rejection['body'];
      return respondError(c, { status: answer.status as Rejection['status'], body }, answer.headers);
    }
    return c.json(answer.body, 200, answer.headers);
  });
  return app;
}

/** What the store answered, or the documented 503 while it cannot be reached (Redis away). */
async function unlessStoreAway<T>(read: () => Promise<T>): Promise<{ value: T } | { rejection: Rejection }> {
  try {
    return { value: await read() };
  } catch (error) {
    if (error instanceof PortalStoreUnavailable) return { rejection: storeUnavailable(error) };
    throw error;
  }
}

function shuttingDown() {
  return gatewayError('GATEWAY_SHUTTING_DOWN', 'The gateway is shutting down; retry, another instance will answer');
}

/** What `GET /operator/portals` shows of a portal: its spec's fields only, never a token. */
function status(portal: PortalSummary, now: number) {
  return {
    member_id: portal.memberId,
    domain: portal.domain,
    state: portal.state,
    ...(portal.stateReason !== undefined && { state_reason: portal.stateReason }),
    ...(portal.botId !== undefined && { bot_id: portal.botId }),
    installed_at: new Date(portal.installedAt).toISOString(),
    ...(portal.refreshedAt !== undefined && { refreshed_at: new Date(portal.refreshedAt).toISOString() }),
    refresh_token_age_seconds: Math.max(0, Math.floor((now - portal.refreshTokenIssuedAt) / 1000)),
  };
}

/** What `GET /portals` shows of a portal: its spec's fields only. */
function shown(portal: PortalSummary) {
  return { member_id: portal.memberId, domain: portal.domain, state: portal.state };
}
