import type { Context, Env, MiddlewareHandler } from 'hono';
import { challengeOf, type Rejection } from '../error-matrix';
import type { TraceContext } from '../trace-context';

/** What one request carries through the gateway's middleware, for its log line and metrics. */
export type GatewayEnv = {
  Variables: {
    /** The caller's team ("anonymous" when allowed in without a key); never the key. */
    team: string;
    /** The error code of the answer, when it is an error. */
    errorCode: string;
    /** The answer's X-Request-Id (src/server/answer-headers.ts). */
    requestId: string;
    /** The W3C trace this request belongs to (continued from its traceparent, or new). */
    trace: TraceContext;
    /** Why the body cannot be read as the caller's text (not UTF-8, a lone surrogate): its 400 INVALID_BODY. */
    bodyProblem?: Rejection;
    /** The portal the call is for, by its `member_id` (application mode, once the caller may call it). */
    portal?: string;
    /** What the portal step read of that portal, opaque to the pipeline: handed to the upstream call (one read a call). */
    portalFound?: unknown;
  };
};

/**
 * The one way the gateway answers an error (the HTTP parser's refusals, answered before any request exists,
 * aside): an error of the matrix, its code remembered for the log and metrics. A 401 always carries a
 * `WWW-Authenticate` challenge: the one given in `headers`, or the code's own.
 */
export function respondError(
  c: Context,
  { status, body, text }: Rejection,
  headers: Record<string, string> = {},
): Response {
  c.set('errorCode', body.error);
  if (status === 401 && headers['WWW-Authenticate'] === undefined)
    headers = { ...headers, 'WWW-Authenticate': challengeOf(body.error) };
  return c.body(text ?? JSON.stringify(body), status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
  });
}

/**
 * A middleware that answers with `check`'s Response when it gives one, and otherwise hands the request on.
 * Not an async function: the request goes on with `next()`'s own promise, without one of the middleware's
 * wrapped around it (an async function returning a promise takes three turns of the microtask queue more).
 */
export function guard<E extends Env = GatewayEnv>(
  check: (c: Context<E>) => Response | undefined,
): MiddlewareHandler<E> {
  return (c, next) => {
    const answer = check(c);
    return answer === undefined ? next() : Promise.resolve(answer);
  };
}
