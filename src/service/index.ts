import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { zError405, zGetOpenApiJsonResponse, zGetOpenApiYamlResponse, zHealth } from '../../generated/zod.gen';
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

/** The gateway's own endpoints: liveness and the hand-written spec, served unchanged. */
export function serviceRoutes(): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(openApiJson, (c) => c.json(spec, 200));
  app.openapi(openApiYaml, (c) => c.body(specYaml, 200, { 'content-type': 'application/yaml; charset=utf-8' }) as never);
  return app;
}
