import type { MiddlewareHandler } from 'hono';
import { gatewayError } from '../error-matrix';
import type { GatewayEnv } from '../request-context';
import { formTextProblem, jsonTextProblem } from '../strict-text';
import type { BodyFacts } from './operations';

/**
 * Reads a JSON or form body's bytes before the validators do, strictly (see src/strict-text): a body that
 * is not UTF-8, or that holds a lone surrogate, is remembered as `bodyProblem`, answered 400 INVALID_BODY at
 * the step of the body's syntax (after the URL's own checks, as the spec orders them), and nothing is sent.
 * Hono keeps the bytes read: the validators then parse the same body.
 */
export function readBodyStrictly(body: BodyFacts): MiddlewareHandler<GatewayEnv> {
  const isParameter = (name: string) => body.parameters.has(name);
  return async (c, next) => {
    const contentType = c.req.header('content-type')?.toLowerCase();
    if (contentType === undefined) return next();
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const problem = contentType.startsWith('application/json')
      ? jsonTextProblem(bytes)
      : formTextProblem(bytes, isParameter);
    if (problem) c.set('bodyProblem', gatewayError('INVALID_BODY', problem));
    return next();
  };
}
