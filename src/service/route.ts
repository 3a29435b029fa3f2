import { createRoute, type RouteConfig, type z } from '@hono/zod-openapi';
import { zError405, zError408, zError413, zError417, zError431, zHttpError400 } from '../../generated/zod.gen';

type Content = Record<string, { schema: z.ZodType }>;

/** A public GET endpoint of the gateway's own (no caller key), which answers other methods 405. */
export function serviceRoute<
  P extends string,
  R extends Record<number, { description: string; content?: Content; headers?: z.ZodObject }>,
>(path: P, operationId: string, responses: R, request?: RouteConfig['request']) {
  return createRoute({
    method: 'get',
    path,
    operationId,
    tags: ['service'],
    security: [],
    ...(request && { request }),
    responses: { ...responses, ...everyPath },
  });
}

/** What any path can answer before its handler runs: the HTTP parser's refusals, an Expect header, the method, the body's size. */
const everyPath = {
  400: { description: 'Not valid HTTP/1.1', content: { 'application/json': { schema: zHttpError400 } } },
  405: { description: 'Method not allowed', content: { 'application/json': { schema: zError405 } } },
  408: { description: 'Request timeout', content: { 'application/json': { schema: zError408 } } },
  413: { description: 'Body too large', content: { 'application/json': { schema: zError413 } } },
  417: { description: 'Expectation failed', content: { 'application/json': { schema: zError417 } } },
  431: { description: 'Headers too large', content: { 'application/json': { schema: zError431 } } },
};

/** One response with one media type. */
export const answer = <S extends z.ZodType, M extends string>(description: string, mediaType: M, schema: S) =>
  ({ description, content: { [mediaType]: { schema } } }) as {
    description: string;
    content: { [K in M]: { schema: S } };
  };
