import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { formSchema } from './form';
import type { MethodOperation } from './operations';

/**
 * The operation as a route of @hono/zod-openapi, from its generated schemas. The generator drops
 * `additionalProperties: false`, so the objects are made strict here: unknown keys are refused.
 */
export function methodRoute(operation: MethodOperation, middleware: MiddlewareHandler[]) {
  const { schemas } = operation;
  const json = schemas.body.strict();
  const bodies = { 'application/json': json, 'application/x-www-form-urlencoded': formSchema(json, operation.body) };
  return createRoute({
    method: 'post',
    path: operation.path,
    operationId: operation.operationId,
    tags: operation.tags,
    security: operation.security,
    middleware,
    request: {
      ...(schemas.path && { params: schemas.path }),
      ...(schemas.headers && { headers: schemas.headers }),
      query: schemas.query.strict(),
      body: {
        // Without a body there are no parameters: the method's own checks answer it, as Bitrix24 does.
        required: false,
        content: Object.fromEntries(
          operation.body.mediaTypes.map((type) => {
            const schema = bodies[type as keyof typeof bodies];
            if (!schema) throw new Error(`${operation.operationId}: the pipeline reads no ${type} body`);
            return [type, { schema }];
          }),
        ),
      },
    },
    responses: {
      200: { description: 'Done', content: { 'application/json': { schema: schemas.result } } },
      ...Object.fromEntries(
        [...schemas.errors].map(([status, schema]) => [
          status,
          { description: `Error ${status}`, content: { 'application/json': { schema } } },
        ]),
      ),
    },
  });
}
