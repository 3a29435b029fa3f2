import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { gatewayError } from '../error-matrix';

export interface CallerAuthOptions {
  /** Team name for each API key. */
  keys: Map<string, string>;
  /** Let requests without an Authorization header through, as team "anonymous". */
  allowAnonymous: boolean;
}

export type CallerEnv = { Variables: { team: string } };

const realm = 'bitrix24-transfer-gateway';

/**
 * Authenticates the caller by `Authorization: Bearer <key>` (Hono's bearerAuth), and records the
 * caller's team (never the key) as `c.var.team`. Keys are compared as SHA-256 digests in constant time.
 */
export function callerAuth({ keys, allowAnonymous }: CallerAuthOptions): MiddlewareHandler<CallerEnv> {
  const digests = [...keys].map(([key, team]) => ({ digest: sha256(key), team }));
  const reject = (code: 'GATEWAY_AUTH_REQUIRED' | 'GATEWAY_AUTH_INVALID', description: string, error?: string) => {
    const { status, body } = gatewayError(code, description);
    const challenge = `Bearer realm="${realm}"${error ? `, error="${error}"` : ''}`;
    return () => Response.json(body, { status, headers: { 'WWW-Authenticate': challenge } });
  };
  const bearer = bearerAuth({
    realm,
    verifyToken: (token, c) => {
      const digest = sha256(token);
      // Compare with every key, so the time taken does not tell which one matched.
      const team = digests.reduce<string | undefined>((found, key) => (timingSafeEqual(key.digest, digest) ? key.team : found), undefined);
      if (team) (c as unknown as Context<CallerEnv>).set('team', team);
      return team !== undefined;
    },
    noAuthenticationHeader: { message: reject('GATEWAY_AUTH_REQUIRED', 'Send a gateway API key as "Authorization: Bearer <key>"') },
    invalidAuthenticationHeader: { message: reject('GATEWAY_AUTH_INVALID', 'The Authorization header must be "Bearer <key>"', 'invalid_request') },
    invalidToken: { message: reject('GATEWAY_AUTH_INVALID', 'The gateway API key is not valid', 'invalid_token') },
  });
  return async (c, next) => {
    if (allowAnonymous && c.req.header('authorization') === undefined) {
      c.set('team', 'anonymous');
      return next();
    }
    return bearer(c as unknown as Context, next);
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
