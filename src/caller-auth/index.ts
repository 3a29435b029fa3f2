import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { gatewayError, gatewayRealm as realm } from '../error-matrix';
import { guard, respondError } from '../request-context';

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

/** RFC 6750's token (b64token), as Hono's bearerAuth reads it. */
const TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * Authenticates the caller by `Authorization: Bearer <key>`, read as Hono's bearerAuth reads it (the scheme
 * in any case, then a space; a property test holds the two to the same verdicts), and records the caller's
 * team (never the key) as `c.var.team`. Keys are compared as SHA-256 digests in constant time (KeyRing). A
 * check, not Hono's middleware: bearerAuth awaits the key's verdict and the rest of the request, and answers
 * a refusal by throwing it, on every request.
 */
export function callerAuth({ keys, allowAnonymous }: CallerAuthOptions): MiddlewareHandler<CallerEnv> {
  // Answered through the request's context, so that the answer keeps the headers set before (X-Request-Id).
  const reject = (code: 'GATEWAY_AUTH_REQUIRED' | 'GATEWAY_AUTH_INVALID', description: string, error?: string) => {
    const challenge = `Bearer realm="${realm}"${error ? `, error="${error}"` : ''}`;
    return (c: Context) => respondError(c, gatewayError(code, description), { 'WWW-Authenticate': challenge });
  };
  const required = reject('GATEWAY_AUTH_REQUIRED', 'Send a gateway API key as "Authorization: Bearer <key>"');
  const malformed = reject(
    'GATEWAY_AUTH_INVALID',
    'The Authorization header must be "Bearer <key>"',
    'invalid_request',
  );
  const unknown = reject('GATEWAY_AUTH_INVALID', 'The gateway API key is not valid', 'invalid_token');
  return guard<CallerEnv>((c) => {
    const header = c.req.header('authorization');
    if (header === undefined && allowAnonymous) {
      c.set('team', 'anonymous');
      return undefined;
    }
    if (!header) return required(c);
    const token = bearerToken(header);
    if (token === undefined) return malformed(c);
    const team = keys.teamOf(token);
    if (team === undefined) return unknown(c);
    c.set('team', team);
    return undefined;
  });
}

/** The token of `Bearer <token>` (the scheme in any case), when it is one. */
function bearerToken(header: string): string | undefined {
  if (header[6] !== ' ' || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = header.slice(7).trimStart();
  return TOKEN.test(token) ? token : undefined;
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
