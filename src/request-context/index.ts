import type { Context } from 'hono';
import { challengeOf, type ErrorBody, type ErrorStatus } from '../error-matrix';
import type { TraceContext } from '../trace-context';

/** What one request carries through the gateway's middleware, for its log line and metrics. */
export type GatewayEnv = {
  Variables: {
    /** The caller's team ("anonymous" when allowed in without a key); never the key. */
    team: string;
    /** The error code of the answer, when it is an error. */
    errorCode: string;
    /** Set by Hono's requestId middleware. */
    requestId: string;
    /** The W3C trace this request belongs to (continued from its traceparent, or new). */
    trace: TraceContext;
  };
};

/**
 * Answers with an error from the matrix, remembering its code for the log and metrics. A 401 always
 * carries a `WWW-Authenticate` challenge: the one given in `headers`, or the code's own.
 */
export function respondError(
  c: Context,
  { status, body }: { status: ErrorStatus; body: ErrorBody },
  headers: Record<string, string> = {},
): Response {
  c.set('errorCode', body.error);
  if (status === 401 && headers['WWW-Authenticate'] === undefined)
    headers = { ...headers, 'WWW-Authenticate': challengeOf(body.error) };
  return c.json(body, status, headers);
}
