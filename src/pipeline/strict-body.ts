import type { MiddlewareHandler } from 'hono';
import { gatewayError } from '../error-matrix';
import type { GatewayEnv } from '../request-context';
import { formTextProblem, jsonTextProblem } from '../strict-text';
import type { BodyFacts } from './operations';

/**
 * Reads a JSON or form body's bytes before the validators do, strictly (see src/strict-text): a body that
 * is not UTF-8, or that holds a lone surrogate, is remembered as `bodyProblem`, answered 400 INVALID_BODY at
 * the step of the body's syntax (after the URL's own checks, as the spec orders them), and nothing is sent.
 * The text is decoded once, here, and given to Hono's body cache: the validators and the judge then read the
 * same text (decoded as Request.text() would, a BOM dropped) without Hono rebuilding a Response to decode it.
 */
const decoder = new TextDecoder();

export function readBodyStrictly(body: BodyFacts): MiddlewareHandler<GatewayEnv> {
  const isParameter = (name: string) => body.parameters.has(name);
  return async (c, next) => {
    const contentType = c.req.header('content-type')?.toLowerCase();
    if (contentType === undefined) return next();
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const text = decoder.decode(bytes);
    // Hono keeps each body it has read as a promise of it, by the method that read it.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    const problem = contentType.startsWith('application/json')
      ? jsonTextProblem(bytes, text)
      : formTextProblem(bytes, isParameter);
    if (problem) c.set('bodyProblem', gatewayError('INVALID_BODY', problem));
    return next();
  };
}
