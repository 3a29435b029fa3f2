import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { callerAuth, KeyRing, pathKeyAuth } from '../caller-auth';
import type { Config } from '../config';
import { docsRoutes } from '../docs';
import type { IdempotencySettings } from '../idempotency';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { GatewayMode } from '../pipeline';
import { type CallUpstream, methodOperations, methodRoutes } from '../pipeline';
import type { LimiterState } from '../rate-limit';
import type { RedisReadiness } from '../redis';
import { Redactor } from '../relay';
import type { GatewayEnv } from '../request-context';
import { serviceRoutes } from '../service';
import { lazyServedSpec } from '../spec/served';
import type { UpstreamReport } from '../upstream-health';
import { accessLog } from './access-log';
import { answerHeaders } from './answer-headers';
import { limitBody } from './body-limit';
import { onError, unrouted } from './errors';
import { refuseExpectation } from './expectation';
import { Lifecycle } from './lifecycle';
import { GatewayRouter } from './router';

export { Lifecycle } from './lifecycle';

export interface AppDeps {
  config: Pick<Config, 'apiKeys' | 'allowAnonymous' | 'bodyLimitBytes'>;
  mode: GatewayMode;
  /** The gateway's settings that fill parameters a request leaves out (BITRIX24_CLIENT_ID in webhook mode). */
  settings?: Readonly<Record<string, string | undefined>>;
  callUpstream: CallUpstream;
  logger: Logger;
  metrics?: Metrics;
  /** Requests being answered, and whether the gateway has begun to stop. */
  lifecycle?: Lifecycle;
  /** Knows the gateway's own secrets (webhook code, CLIENT_ID, API keys), which are never relayed. */
  redactor?: Redactor;
  /** The callers' keys, when they can change while the gateway runs; default: config.apiKeys, fixed. */
  keyRing?: KeyRing;
  /** How the portal's limits are held now (for /readyz). */
  limiterState?: () => LimiterState;
  /** What /readyz says of Redis, when the gateway uses it. */
  redisReadiness?: () => RedisReadiness;
  /** What /readyz says of Bitrix24 (src/upstream-health). */
  upstreamReadiness?: () => UpstreamReport;
  /** Where Idempotency-Key claims and answers are kept (startGateway always gives one). */
  idempotency?: IdempotencySettings;
  /** Application mode's seam (src/application): its pipeline step for a portal's paths, and its own routes. */
  application?: {
    portalAccess: (parameter: string) => MiddlewareHandler<GatewayEnv>;
    routes: (authenticate: MiddlewareHandler<GatewayEnv>) => OpenAPIHono<GatewayEnv>;
  };
}

/** The gateway as a Hono app: every answer, success or error, is one the spec documents. */
export function gatewayApp(deps: AppDeps): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>({ router: new GatewayRouter() });
  const lifecycle = deps.lifecycle ?? new Lifecycle();
  // The operations of this gateway's mode (`x-upstream-modes`): the `/rest/…` paths, or the `/portals/…` ones.
  const operations = methodOperations().filter((operation) => operation.modes?.includes(deps.mode) ?? true);

  app.use(lifecycle.track);
  app.use(answerHeaders());
  app.use(accessLog(deps.logger, deps.metrics));
  app.use(refuseExpectation());
  app.use(limitBody(deps.config.bodyLimitBytes));

  const callers = {
    keys: deps.keyRing ?? new KeyRing(deps.config.apiKeys),
    allowAnonymous: deps.config.allowAnonymous,
  };
  const authenticate = callerAuth(callers) as MiddlewareHandler;
  app.route(
    '/',
    methodRoutes({
      mode: deps.mode,
      settings: deps.settings ?? {},
      callUpstream: deps.callUpstream,
      authenticate,
      authenticatePathKey: (parameter) => pathKeyAuth(callers, parameter) as MiddlewareHandler,
      isShuttingDown: () => lifecycle.shuttingDown,
      redactor: deps.redactor ?? new Redactor(),
      logger: deps.logger,
      operations,
      ...(deps.idempotency && { idempotency: deps.idempotency }),
      ...(deps.application && {
        portalAccess: deps.application.portalAccess as (parameter: string) => MiddlewareHandler,
      }),
    }),
  );
  if (deps.application) app.route('/', deps.application.routes(authenticate));
  app.route('/', docsRoutes());
  app.route(
    '/',
    serviceRoutes({
      isShuttingDown: () => lifecycle.shuttingDown,
      served: lazyServedSpec({
        upstream: deps.mode,
        anonymous: deps.config.allowAnonymous,
        settings: deps.idempotency?.required ? ['IDEMPOTENCY_KEY=required'] : [],
      }),
      ...(deps.metrics && { metrics: deps.metrics }),
      ...(deps.limiterState && { limiterState: deps.limiterState }),
      ...(deps.redisReadiness && { redisReadiness: deps.redisReadiness }),
      ...(deps.redisReadiness && deps.mode === 'application' && { redisRequired: true }),
      ...(deps.upstreamReadiness && { upstreamReadiness: deps.upstreamReadiness }),
    }),
  );

  app.notFound(unrouted(app));
  const mediaTypes = [...new Set(operations.flatMap((operation) => operation.body.mediaTypes))];
  app.onError(onError(deps.logger, mediaTypes));
  return app;
}
