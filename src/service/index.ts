import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { zError405, zGetMetricsResponse, zGetOpenApiJsonResponse, zGetOpenApiYamlResponse, zHealth, zReadiness } from '../../generated/zod.gen';
import type { Metrics } from '../metrics';
import { spec, specYaml } from '../spec';

const methodNotAllowed = { 405: { description: 'Method not allowed', content: { 'application/json': { schema: zError405 } } } };

const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  tags: ['service'],
  security: [],
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: zHealth } } }, ...methodNotAllowed },
});

const readiness = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  tags: ['service'],
  security: [],
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: zReadiness } } },
    ...methodNotAllowed,
    503: { description: 'Stopping', content: { 'application/json': { schema: zReadiness } } },
  },
});

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  tags: ['service'],
  security: [],
  responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: zGetMetricsResponse } } }, ...methodNotAllowed },
});

const openApiJson = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiJson',
  tags: ['service'],
  security: [],
  responses: { 200: { description: 'The spec', content: { 'application/json': { schema: zGetOpenApiJsonResponse } } }, ...methodNotAllowed },
});

const openApiYaml = createRoute({
  method: 'get',
  path: '/openapi.yaml',
  operationId: 'getOpenApiYaml',
  tags: ['service'],
  security: [],
  responses: { 200: { description: 'The spec', content: { 'application/yaml': { schema: zGetOpenApiYamlResponse } } }, ...methodNotAllowed },
});

export interface ServiceDeps {
  isShuttingDown: () => boolean;
  metrics?: Metrics;
}

/** The gateway's own endpoints: liveness, readiness, metrics, and the hand-written spec, served unchanged. */
export function serviceRoutes({ isShuttingDown, metrics }: ServiceDeps): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readiness, (c) =>
    isShuttingDown() ? c.json({ status: 'shutting-down' as const }, 503) : c.json({ status: 'ready' as const }, 200),
  );
  app.openapi(metricsRoute, async (c) => {
    const text = metrics ? await metrics.registry.metrics() : '';
    return c.body(text, 200, { 'content-type': metrics?.registry.contentType ?? 'text/plain; version=0.0.4; charset=utf-8' }) as never;
  });
  app.openapi(openApiJson, (c) => c.json(spec, 200));
  app.openapi(openApiYaml, (c) => c.body(specYaml, 200, { 'content-type': 'application/yaml; charset=utf-8' }) as never);
  return app;
}
