import type { MiddlewareHandler } from 'hono';
import { zBx24RequestId } from '../../generated/zod.gen';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { queryParam } from '../pipeline/query';
import type { GatewayEnv } from '../request-context';
import { traceContext } from '../trace-context';

/**
 * A request's trace (W3C Trace Context: `c.var.trace`, continued upstream), and one log line and one count
 * per answered request. Only the route's pattern is logged, never the path itself (a mistyped URL can hold a
 * webhook code), and the caller's team, never the key.
 */
export function accessLog(logger: Logger, metrics: Metrics | undefined): MiddlewareHandler<GatewayEnv> {
  // The line's fields are the gateway's own values, none named as the redaction's paths and none an object:
  // the redaction pass (a walk of every line) would never find anything in it.
  const lines = logger.child({}, { redact: [] });
  return async (c, next) => {
    const started = performance.now();
    c.set('trace', traceContext(c.req.header('traceparent'), c.req.header('tracestate')));
    await next();
    const routePath = c.req.routePath;
    const route = routePath === '/*' || routePath === '*' ? 'unmatched' : routePath;
    const status = c.res.status;
    const code = c.get('errorCode') ?? '';
    const team = c.get('team') ?? '-';
    metrics?.countRequest({ operation: route, status, code, team });
    // The request id @bitrix24/b24jssdk puts in the query, when it is one (the spec's pattern); read in one
    // pass (c.req.query is quadratic on some query strings).
    const sdkQuery = queryParam(c.req.url, 'bx24_request_id');
    const sdkRequestId = sdkQuery === undefined ? undefined : zBx24RequestId.safeParse(sdkQuery).data;
    const trace = c.get('trace');
    const line = {
      reqId: c.get('requestId'),
      sdkRequestId,
      traceId: trace?.traceId,
      spanId: trace?.spanId,
      parentSpanId: trace?.parentSpanId,
      method: c.req.method,
      route,
      status,
      code: code || undefined,
      team,
      ms: Math.round(performance.now() - started),
    };
    try {
      if (status >= 500) lines.warn(line, 'request');
      else lines.info(line, 'request');
    } catch {
      // A log line is never worth an answer: the request is answered whatever the logger does.
    }
  };
}
