import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { gatewayError } from '../error-matrix';
import { respondError } from '../request-context';

/**
 * 413 BODY_TOO_LARGE past the limit. Hono's bodyLimit reads `c.req.raw.body`, which makes
 * @hono/node-server build a whole WHATWG Request (an undici Request, an AbortController, a web stream over
 * the socket) for every request: the benchmark's profile found that the gateway's largest single cost.
 * With a Content-Length and no Transfer-Encoding, Node's parser already holds the body to that length, so
 * the header is enough; only chunked bodies go through bodyLimit.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const tooLarge = (c: Context) =>
    respondError(c, gatewayError('BODY_TOO_LARGE', `The body is larger than ${maxBytes} bytes`));
  const limitStreamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  // Not an async function: the request goes on with next()'s own promise (see guard).
  return (c, next) => {
    if (c.req.header('transfer-encoding') !== undefined) return limitStreamed(c, next);
    const length = c.req.header('content-length');
    return length !== undefined && Number(length) > maxBytes ? Promise.resolve(tooLarge(c)) : next();
  };
}
