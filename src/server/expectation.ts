import type { MiddlewareHandler } from 'hono';
import { gatewayError } from '../error-matrix';
import { type GatewayEnv, guard, respondError } from '../request-context';

/**
 * 417 EXPECTATION_FAILED for an `Expect` header other than `100-continue` (RFC 9110 defines no other), on
 * every path, before the method, the body or the caller's key is looked at. Node's server hands such a
 * request to its 'checkExpectation' listener rather than to 'request' (and answers a bare 417 without one):
 * the gateway's server gives it the app's listener, so that the answer is this one, logged and counted as any
 * other. The connection closes after it: the body the caller may send next is not read.
 */
export function refuseExpectation(): MiddlewareHandler<GatewayEnv> {
  return guard<GatewayEnv>((c) => {
    const expect = c.req.header('expect');
    if (expect === undefined || expect.trim().toLowerCase() === '100-continue') return undefined;
    const rejection = gatewayError(
      'EXPECTATION_FAILED',
      `Expect ${JSON.stringify(expect.slice(0, 40))} cannot be met: only 100-continue is supported`,
    );
    return respondError(c, rejection, { Connection: 'close' });
  });
}
