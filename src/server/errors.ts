import type { Context, ErrorHandler, Hono, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TrieRouter } from 'hono/router/trie-router';
import { type ErrorCode, gatewayError, type Rejection } from '../error-matrix';
import type { Logger } from '../logger';
import { type GatewayEnv, respondError } from '../request-context';

/**
 * What no route answered: 405 METHOD_NOT_ALLOWED with `Allow` for a path served with other HTTP methods (as
 * Hono's methodNotAllowed middleware decides it, a GET route allowing HEAD too), else 404
 * ERROR_METHOD_NOT_FOUND, as Bitrix24 answers an unknown method. Decided here, once nothing answered,
 * rather than by a middleware that every request would pass through.
 */
export function unrouted(app: Hono<GatewayEnv>): NotFoundHandler<GatewayEnv> {
  let methodsOf: TrieRouter<string[]> | undefined;
  return (c) => {
    methodsOf ??= pathMethods(app);
    const allowed = new Set(methodsOf.match('ALL', c.req.path)[0].flatMap(([methods]) => methods));
    if (allowed.size === 0 || allowed.has(c.req.method)) {
      return respondError(c, gatewayError('ERROR_METHOD_NOT_FOUND', 'Method not found!'));
    }
    const methods = [...allowed];
    const rejection = gatewayError(
      'METHOD_NOT_ALLOWED',
      `Method ${c.req.method} is not allowed here; use ${methods.filter((m) => m !== 'HEAD').join(' or ')}`,
    );
    return respondError(c, rejection, { Allow: methods.join(', ') });
  };
}

/** Each route's path with the HTTP methods it is served with (a GET route with HEAD too). */
function pathMethods(app: Hono<GatewayEnv>): TrieRouter<string[]> {
  const byPath = new Map<string, Set<string>>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || route.method === 'HEAD') continue;
    const methods = byPath.get(route.path) ?? new Set<string>();
    methods.add(route.method);
    if (route.method === 'GET') methods.add('HEAD');
    byPath.set(route.path, methods);
  }
  const router = new TrieRouter<string[]>();
  for (const [path, methods] of byPath) router.add('ALL', path, [...methods]);
  return router;
}

/** Any error a handler or middleware throws, answered in the envelope; an unexpected one is logged. */
export function onError(logger: Logger, mediaTypes: readonly string[]): ErrorHandler<GatewayEnv> {
  return (error, c: Context) => {
    // A body that did not parse because it is not UTF-8 says so rather than "could not be parsed".
    const problem = c.get('bodyProblem') as Rejection | undefined;
    if (problem && error instanceof HTTPException && error.status === 400) return respondError(c, problem);
    const known = error instanceof HTTPException ? fromHttpException(error, mediaTypes) : undefined;
    if (known) return respondError(c, gatewayError(known.code, known.description));
    // Another middleware's own answer, through the context so that it keeps X-Request-Id.
    if (error instanceof HTTPException && error.status < 500) {
      const response = error.getResponse();
      return c.newResponse(response.body, response);
    }
    logger.error({ err: error, reqId: c.get('requestId') }, 'unexpected error');
    return respondError(c, gatewayError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  };
}

/** Hono's and zod-openapi's own rejections, as the spec's codes. */
function fromHttpException(
  error: HTTPException,
  mediaTypes: readonly string[],
): { code: ErrorCode; description: string } | undefined {
  switch (error.status) {
    case 400:
      return { code: 'INVALID_BODY', description: `The body could not be parsed: ${error.message}` };
    case 413:
      return { code: 'BODY_TOO_LARGE', description: error.message };
    case 415:
      return { code: 'UNSUPPORTED_MEDIA_TYPE', description: `A body needs a Content-Type: ${mediaTypes.join(' or ')}` };
    default:
      return undefined;
  }
}
