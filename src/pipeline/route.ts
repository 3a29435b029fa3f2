import { createRoute, type z } from '@hono/zod-openapi';
import { formSchema } from './form';
import type { MethodOperation } from './operations';

/** The schemas a request of the operation is validated with: the ones its route registers, too. */
export interface RequestSchemas {
  query: z.ZodType;
  params?: z.ZodType;
  /** Keyed in lower case, as Hono reads headers; other headers pass (the object is not strict). */
  headers?: z.ZodObject;
  json: z.ZodType;
  form: z.ZodType;
}

/**
 * The operation's request schemas, from its generated ones. The generator drops `additionalProperties:
 * false`, so the objects are made strict here: unknown keys are refused.
 */
export function requestSchemas(operation: MethodOperation): RequestSchemas {
  const { schemas } = operation;
  const json = schemas.body.strict();
  return {
    query: schemas.query.strict(),
    ...(schemas.path && { params: schemas.path }),
    ...(schemas.headers && { headers: schemas.headers }),
    json,
    form: formSchema(json, operation.body),
  };
}

/**
 * The operation as a route of @hono/zod-openapi, with the schemas it is validated with: registered, so that
 * the document the routes derive can be compared with the spec (src/server/spec-drift.test.ts).
 */
export function methodRoute(operation: MethodOperation, request: RequestSchemas) {
  const { schemas } = operation;
  const bodies = { 'application/json': request.json, 'application/x-www-form-urlencoded': request.form };
  return createRoute({
    method: 'post',
    path: operation.path,
    operationId: operation.operationId,
    tags: operation.tags,
    security: operation.security,
    request: {
      ...(request.params && { params: request.params as z.ZodObject }),
      ...(request.headers && { headers: request.headers }),
      query: request.query as z.ZodObject,
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
