import { type RouteConfig, createRoute, type z } from '@hono/zod-openapi';
import { zError405 } from '../../generated/zod.gen';

type Content = Record<string, { schema: z.ZodType }>;

/** A public GET endpoint of the gateway's own (no caller key), which answers other methods 405. */
export function serviceRoute<P extends string, R extends Record<number, { description: string; content: Content }>>(
  path: P,
  operationId: string,
  responses: R,
  request?: RouteConfig['request'],
) {
  return createRoute({
    method: 'get',
    path,
    operationId,
    tags: ['service'],
    security: [],
    ...(request && { request }),
    responses: { ...responses, 405: { description: 'Method not allowed', content: { 'application/json': { schema: zError405 } } } },
  });
}

/** One response with one media type. */
export const answer = <S extends z.ZodType, M extends string>(description: string, mediaType: M, schema: S) =>
  ({ description, content: { [mediaType]: { schema } } }) as { description: string; content: { [K in M]: { schema: S } } };
