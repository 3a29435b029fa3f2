import { OpenAPIHono } from '@hono/zod-openapi';
import {
  zGetMetricsResponse,
  zGetOpenApiJsonResponse,
  zGetOpenApiYamlResponse,
  zHealth,
  zReadiness,
} from '../../generated/zod.gen';
import type { Metrics } from '../metrics';
import type { LimiterState } from '../rate-limit';
import type { RedisReadiness } from '../redis';
import type { ServedSpec } from '../spec/served';
import type { UpstreamReport } from '../upstream-health';
import { answer, serviceRoute } from './route';

export { answer, serviceRoute } from './route';

const health = serviceRoute('/healthz', 'getHealth', { 200: answer('Alive', 'application/json', zHealth) });
const readiness = serviceRoute('/readyz', 'getReadiness', {
  200: answer('Ready', 'application/json', zReadiness),
  503: answer(
    "Stopping, its Redis can evict keys or keeps no append-only file, or Bitrix24 refuses the gateway's own webhook",
    'application/json',
    zReadiness,
  ),
});
const metricsRoute = serviceRoute('/metrics', 'getMetrics', {
  200: answer('Metrics', 'text/plain', zGetMetricsResponse),
});
const openApiJson = serviceRoute('/openapi.json', 'getOpenApiJson', {
  200: answer('The spec', 'application/json', zGetOpenApiJsonResponse),
});
const openApiYaml = serviceRoute('/openapi.yaml', 'getOpenApiYaml', {
  200: answer('The spec', 'application/yaml', zGetOpenApiYamlResponse),
});

export interface ServiceDeps {
  isShuttingDown: () => boolean;
  metrics?: Metrics;
  /** The document this gateway serves: the hand-written one, for its configuration. */
  served: ServedSpec;
  /** How the portal's limits are held now. */
  limiterState?: () => LimiterState;
  /** How the gateway's Redis is, when it uses one. */
  redisReadiness?: () => RedisReadiness;
  /** Nothing is served without Redis (application mode: the portals live there): unreachable is not ready. */
  redisRequired?: boolean;
  /** How Bitrix24 is, as the gateway last learnt it (its calls and its probe). */
  upstreamReadiness?: () => UpstreamReport;
}

/** The gateway's own endpoints: liveness, readiness, metrics, and the spec as this gateway serves it. */
export function serviceRoutes({
  isShuttingDown,
  metrics,
  served,
  limiterState = () => 'in-process',
  redisReadiness,
  redisRequired = false,
  upstreamReadiness,
}: ServiceDeps): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  // A replica whose Redis is away still serves (on its share of the bucket): it stays ready, and says so.
  // One whose Redis can evict keys is misconfigured: not ready, so that the deployment shows it. So is one
  // whose own webhook Bitrix24 refuses (every call fails); a portal that cannot be reached is the same for
  // every replica, and leaves it ready: taking them all out would only hide the callers' 502 and 504. In
  // application mode the portals live in Redis: a replica that cannot reach it serves nothing, not ready.
  app.openapi(readiness, (c) => {
    const redis = redisReadiness?.();
    const upstream = upstreamReadiness?.();
    const body = { limiter: limiterState(), ...(redis && { redis }), ...(upstream && { upstream }) };
    if (isShuttingDown()) return c.json({ status: 'shutting-down' as const, ...body }, 503);
    if (
      redis?.state === 'refused' ||
      upstream?.state === 'refused' ||
      (redisRequired && redis?.state === 'unreachable')
    )
      return c.json({ status: 'not-ready' as const, ...body }, 503);
    return c.json({ status: 'ready' as const, ...body }, 200);
  });
  app.openapi(metricsRoute, async (c) => {
    const text = metrics ? await metrics.registry.metrics() : '';
    return c.body(text, 200, {
      'content-type': metrics?.registry.contentType ?? 'text/plain; version=0.0.4; charset=utf-8',
    }) as never;
  });
  app.openapi(openApiJson, (c) => c.json(served.document, 200));
  app.openapi(
    openApiYaml,
    (c) => c.body(served.yaml, 200, { 'content-type': 'application/yaml; charset=utf-8' }) as never,
  );
  return app;
}
