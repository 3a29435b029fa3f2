import { randomUUID } from 'node:crypto';
import { type OutgoingHttpHeader, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
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
const securityFlat = securityHeaders.flat();
/** The headers the gateway adds to every answer, which an answer's own header of the same name replaces. */
const GATEWAY_HEADERS = new Set(['x-request-id', ...Object.keys(SECURITY_HEADERS)]);

/** The caller's X-Request-Id is kept when it is 1 to 255 of these, as Hono's `requestId()` keeps it. */
const REQUEST_ID = /^[\w\-=]{1,255}$/;

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[];

/**
 * Node's response of the gateway's server: every answer it writes carries the security headers and its
 * X-Request-Id beside the answer's own headers, which win over them. They are written with the answer's
 * as one flat list, Node's fastest way (each `setHeader` first stores and lower-cases the header in the
 * response's own table: a few µs per answer, bench/results.md). An answer written before the app saw the
 * request (the adapter's refusal of a URL it cannot read) gets a new id.
 */
export class AnswerResponse extends ServerResponse {
  /** This answer's X-Request-Id, set by answerHeaders(). */
  requestId: string | undefined;

  override writeHead(status: number, reason?: string | Headers, headers?: Headers): this {
    const own = typeof reason === 'string' ? headers : reason;
    const list = this.#withGatewayHeaders(own);
    return typeof reason === 'string' ? super.writeHead(status, reason, list) : super.writeHead(status, list);
  }

  #withGatewayHeaders(own: Headers | undefined): OutgoingHttpHeader[] {
    const list: OutgoingHttpHeader[] = [];
    // The gateway's headers that this answer names itself: usually none.
    const named = new Set<string>();
    const note = (lower: string) => {
      if (GATEWAY_HEADERS.has(lower)) named.add(lower);
    };
    const add = (name: string | number, value: OutgoingHttpHeader) => {
      list.push(name as string, value);
      note(String(name).toLowerCase());
    };
    if (Array.isArray(own)) {
      // Node's flat list: name, value, name, value…
      for (let i = 0; i < own.length; i += 2) add(own[i] as string, own[i + 1]!);
    } else if (own) {
      for (const name in own) {
        const value = own[name];
        if (value !== undefined) add(name, value);
      }
    }
    for (const name of this.getHeaderNames()) note(name);
    const id = this.requestId ?? randomUUID();
    if (named.size === 0) {
      list.push('x-request-id', id, ...securityFlat);
      return list;
    }
    if (!named.has('x-request-id')) list.push('x-request-id', id);
    for (const [name, value] of securityHeaders) if (!named.has(name)) list.push(name, value);
    return list;
  }
}

/**
 * Every answer's X-Request-Id (the caller's when valid, else a new UUID, also `c.var.requestId`) and security
 * headers: written by AnswerResponse on the gateway's server; without it (`app.request` in tests), through
 * Hono's context.
 */
export function answerHeaders(): MiddlewareHandler<GatewayEnv> {
  // Not an async function: the request goes on with next()'s own promise (see guard, src/request-context).
  return (c, next) => {
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && REQUEST_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', id);
    const outgoing: unknown = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
    if (outgoing instanceof AnswerResponse) {
      outgoing.requestId = id;
      return next();
    }
    c.header('x-request-id', id);
    return next().then(() => {
      for (const [name, value] of securityHeaders) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    });
  };
}
