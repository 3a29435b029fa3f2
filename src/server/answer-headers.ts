import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../request-context';

/** What Hono's `secureHeaders()` sends by default (answer-headers.test.ts checks it against Hono's own). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};
const securityHeaders = Object.entries(SECURITY_HEADERS);

/** The caller's X-Request-Id is kept when it is 1 to 255 of these, as Hono's `requestId()` keeps it. */
const REQUEST_ID = /^[\w\-=]{1,255}$/;

/**
 * Every answer's X-Request-Id (the caller's when valid, else a new UUID, also `c.var.requestId`) and security
 * headers. They go on Node's response before the request is handled, and the answer's own headers, written
 * with it, win over them. Set through Hono (`c.header`, `secureHeaders()`), they made every answer build a
 * WHATWG Headers object and read it back to write it (a few % of a rejected request: bench/results.md).
 * Without Node's response (`app.request` in tests), they go through Hono's context.
 */
export function answerHeaders(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && REQUEST_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', id);
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing) {
      outgoing.setHeader('x-request-id', id);
      for (const [name, value] of securityHeaders) outgoing.setHeader(name, value);
      return next();
    }
    c.header('x-request-id', id);
    await next();
    for (const [name, value] of securityHeaders) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  };
}
