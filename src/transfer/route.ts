import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import {
  zTransferRequest,
  zTransferResult,
  zTransferSessionHookPathPath,
  zTransferSessionQuery,
} from '../../generated/zod.gen';
import { errorSchemas } from '../error-matrix';

/** The spec's request schema as it is meant: unknown keys refused (the generator drops `additionalProperties: false`). */
export const jsonBody = zTransferRequest.strict();

/** The same schema for forms, whose values are all text: integer fields take canonical decimal digits. */
export const formBody = z.preprocess(decodeIntegers(jsonBody), jsonBody);

/** The query string takes only @bitrix24/b24jssdk's bookkeeping parameters. */
export const query = zTransferSessionQuery.strict();

/** The webhook-style path's parameters: a user id (not used) and the caller's API key. */
export const hookPathParams = zTransferSessionHookPathPath;

export const requestMediaTypes = ['application/json', 'application/x-www-form-urlencoded'] as const;

const errorResponses = Object.fromEntries(
  Object.entries(errorSchemas).map(([status, schema]) => [
    status,
    { description: `Error ${status}`, content: { 'application/json': { schema } } },
  ]),
) as {
  [S in keyof typeof errorSchemas]: {
    description: string;
    content: { 'application/json': { schema: (typeof errorSchemas)[S] } };
  };
};

/** The transfer operation at one of its paths, from the generated schemas. */
export function transferRoute<P extends string>(path: P, operationId: string, middleware: MiddlewareHandler[]) {
  const hookPath = path.includes('{secret}');
  return createRoute({
    method: 'post',
    path,
    operationId,
    tags: ['transfer'],
    // At the webhook-style path the caller's key is in the path, not in a security scheme.
    security: hookPath ? [] : [{ GatewayApiKey: [] }],
    middleware,
    request: {
      ...(hookPath && { params: hookPathParams }),
      query,
      body: {
        // Without a body there is no CHAT_ID: the answer is CHAT_ID_EMPTY, as from Bitrix24.
        required: false,
        content: {
          'application/json': { schema: jsonBody },
          'application/x-www-form-urlencoded': { schema: formBody },
        },
      },
    },
    responses: {
      200: { description: 'Transferred', content: { 'application/json': { schema: zTransferResult } } },
      ...errorResponses,
    },
  });
}

function decodeIntegers(schema: z.ZodObject) {
  const integers = new Set(
    Object.entries(schema.shape)
      .filter(([, field]) => baseType(field) === 'number')
      .map(([key]) => key),
  );
  return (form: unknown) => {
    if (typeof form !== 'object' || form === null) return form;
    return Object.fromEntries(
      Object.entries(form).map(([key, value]) => [
        key,
        integers.has(key) && typeof value === 'string' && /^(0|-?[1-9][0-9]{0,15})$/.test(value)
          ? Number(value)
          : value,
      ]),
    );
  };
}

function baseType(schema: unknown): string {
  let def = (schema as z.ZodType)._zod.def as { type: string; innerType?: z.ZodType };
  while ((def.type === 'optional' || def.type === 'default') && def.innerType)
    def = def.innerType._zod.def as typeof def;
  return def.type;
}
