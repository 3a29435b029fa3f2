import type { Context, ErrorHandler, Hono, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { type ErrorCode, gatewayError, type Rejection } from '../error-matrix';
import type { Logger } from '../logger';
import { type GatewayEnv, respondError } from '../request-context';

/** 404 ERROR_METHOD_NOT_FOUND, as Bitrix24 answers an unknown method. */
export const notFound: NotFoundHandler = (c) =>
  respondError(c, gatewayError('ERROR_METHOD_NOT_FOUND', 'Method not found!'));

/** 405 METHOD_NOT_ALLOWED with `Allow`, for a path served with other HTTP methods. */
export function refuseOtherMethods(app: Hono<GatewayEnv>) {
  return methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) => {
      const allowed = methods.filter((m) => m !== 'HEAD');
      const rejection = gatewayError(
        'METHOD_NOT_ALLOWED',
        `Method ${c.req.method} is not allowed here; use ${allowed.join(' or ')}`,
      );
      return respondError(c, rejection, { Allow: methods.join(', ') });
    },
  });
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
