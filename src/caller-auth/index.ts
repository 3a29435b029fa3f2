import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { gatewayError, gatewayRealm as realm } from '../error-matrix';
import { respondError } from '../request-context';

/**
 * The callers' API keys, each with its team, held as SHA-256 digests and compared in constant time, so that
 * timing does not tell which matched. `replace` swaps the whole set at once (keys rotated without a restart).
 *
 * A key once matched is remembered (`#known`: presented key to team), so that the callers' every request is
 * one lookup rather than a digest and a comparison with every key. Only keys that matched are kept, so the
 * map holds at most the configured keys however many wrong ones are presented; it is emptied by `replace`.
 * A `Map` looks a string up by its hash (seeded at random in every process) and compares characters only
 * with an entry of the same hash: a wrong key takes the constant-time comparison below, as before.
 */
export class KeyRing {
  #digests: { digest: Buffer; team: string }[] = [];
  #known = new Map<string, string>();

  constructor(keys: Map<string, string> = new Map()) {
    this.replace(keys);
  }

  get size(): number {
    return this.#digests.length;
  }

  /** How many presented keys are remembered (never more than `size`). */
  get remembered(): number {
    return this.#known.size;
  }

  replace(keys: Map<string, string>): void {
    this.#digests = [...keys].map(([key, team]) => ({ digest: sha256(key), team }));
    this.#known = new Map();
  }

  /** The team of `key`: remembered, or compared with every key. */
  teamOf(key: string): string | undefined {
    const known = this.#known.get(key);
    if (known !== undefined) return known;
    const digest = sha256(key);
    let team: string | undefined;
    for (const entry of this.#digests) if (timingSafeEqual(entry.digest, digest)) team = entry.team;
    if (team !== undefined && this.#known.size < this.#digests.length) this.#known.set(key, team);
    return team;
  }
}

export interface CallerAuthOptions {
  /** Team name for each API key. */
  keys: KeyRing;
  /** Let requests without an Authorization header through, as team "anonymous". */
  allowAnonymous: boolean;
}

export type CallerEnv = { Variables: { team: string; errorCode: string } };

/**
 * Authenticates the caller by `Authorization: Bearer <key>` (Hono's bearerAuth), and records the
 * caller's team (never the key) as `c.var.team`. Keys are compared as SHA-256 digests in constant time.
 */
export function callerAuth({ keys, allowAnonymous }: CallerAuthOptions): MiddlewareHandler<CallerEnv> {
  const teamOf = (key: string) => keys.teamOf(key);
  // Answered through the request's context, so that the answer keeps the headers set before (X-Request-Id).
  const reject = (code: 'GATEWAY_AUTH_REQUIRED' | 'GATEWAY_AUTH_INVALID', description: string, error?: string) => {
    const challenge = `Bearer realm="${realm}"${error ? `, error="${error}"` : ''}`;
    return (c: Context) => respondError(c, gatewayError(code, description), { 'WWW-Authenticate': challenge });
  };
  const bearer = bearerAuth({
    realm,
    verifyToken: (token, c) => {
      const team = teamOf(token);
      if (team) (c as unknown as Context<CallerEnv>).set('team', team);
      return team !== undefined;
    },
    noAuthenticationHeader: {
      message: reject('GATEWAY_AUTH_REQUIRED', 'Send a gateway API key as "Authorization: Bearer <key>"'),
    },
    invalidAuthenticationHeader: {
      message: reject('GATEWAY_AUTH_INVALID', 'The Authorization header must be "Bearer <key>"', 'invalid_request'),
    },
    invalidToken: { message: reject('GATEWAY_AUTH_INVALID', 'The gateway API key is not valid', 'invalid_token') },
  });
  // Not an async function: the request goes on with the promise it is handed (see guard, src/request-context).
  return (c, next) => {
    if (allowAnonymous && c.req.header('authorization') === undefined) {
      c.set('team', 'anonymous');
      return next();
    }
    return bearer(c as unknown as Context, next);
  };
}

/**
 * Authenticates a caller whose key is the `secret` segment of a webhook-style URL
 * (`/rest/{userId}/{secret}/method`), as Bitrix24 clients send it. With no keys configured and anonymous
 * callers allowed, any secret is let in as team "anonymous".
 */
export function pathKeyAuth(
  { keys, allowAnonymous }: CallerAuthOptions,
  parameter = 'secret',
): MiddlewareHandler<CallerEnv> {
  const teamOf = (key: string) => keys.teamOf(key);
  return (c, next) => {
    const team = teamOf(c.req.param(parameter) ?? '') ?? (keys.size === 0 && allowAnonymous ? 'anonymous' : undefined);
    if (!team) {
      const rejection = gatewayError('GATEWAY_AUTH_INVALID', 'The gateway API key in the URL is not valid');
      return Promise.resolve(
        respondError(c, rejection, { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` }),
      );
    }
    c.set('team', team);
    return next();
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
