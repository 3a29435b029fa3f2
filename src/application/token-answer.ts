// The authorization server's answer to a refresh, checked strictly before anything is stored or used: every
// TokenAnswer field with its type and bound, the portal's `client_endpoint` an https URL ending in `/rest/`
// (http only on loopback, for tests), `member_id` a short token. Problems are named by field, never by value:
// the answer holds tokens.
import type { TokenAnswer } from './types';

/** A portal's `member_id`: a bounded token (Bitrix24's are 32 hex digits). */
const MEMBER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** An access or refresh token: visible ASCII without spaces, bounded (Bitrix24's are about 70 characters). */
const TOKEN = /^[\x21-\x7e]{1,2048}$/;
const MAX_TEXT = 2048;
/** Ten years, in seconds: a lifetime past it is not a token's. */
const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;

export function isMemberId(value: unknown): value is string {
  return typeof value === 'string' && MEMBER_ID.test(value);
}

/** A host that never leaves the machine: http is allowed to it (tests, the emulator). */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** `https://<portal>/rest/` (http only on loopback), with nothing else in it; its normalised text, or undefined. */
export function clientEndpointOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_TEXT) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const schemeOk = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
  if (!schemeOk || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  if (url.hostname === '' || !url.pathname.endsWith('/rest/')) return undefined;
  return url.href;
}

/** The answer as a TokenAnswer, or the name of its first field that is not what it must be. */
export function checkTokenAnswer(value: unknown): { answer: TokenAnswer } | { problem: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not a JSON object' };
  const body = value as Record<string, unknown>;
  const own = (key: string): unknown => (Object.hasOwn(body, key) ? body[key] : undefined);
  const problem = (field: string, what: string) => ({ problem: `its ${field} is not ${what}` });

  const [access, refresh] = [own('access_token'), own('refresh_token')];
  if (typeof access !== 'string' || !TOKEN.test(access)) return problem('access_token', 'a token');
  if (typeof refresh !== 'string' || !TOKEN.test(refresh)) return problem('refresh_token', 'a token');
  const expires = own('expires');
  if (!isCount(expires) || expires === 0) return problem('expires', 'a positive integer');
  const expiresIn = own('expires_in');
  if (!isCount(expiresIn) || expiresIn > MAX_EXPIRES_IN) return problem('expires_in', 'a lifetime in seconds');
  const texts: Record<string, string> = Object.create(null);
  for (const field of ['scope', 'domain', 'server_endpoint'] as const) {
    const text = own(field);
    if (typeof text !== 'string' || text.length > MAX_TEXT) return problem(field, 'a string');
    texts[field] = text;
  }
  const clientEndpoint = clientEndpointOf(own('client_endpoint'));
  if (clientEndpoint === undefined) return problem('client_endpoint', "a portal's https URL ending in /rest/");
  const memberId = own('member_id');
  if (!isMemberId(memberId)) return problem('member_id', 'a member id');
  const userId = own('user_id');
  if (userId !== undefined && !isCount(userId)) return problem('user_id', 'an integer');
  const status = own('status');
  if (status !== undefined && (typeof status !== 'string' || status.length > 64)) return problem('status', 'a string');

  const answer: TokenAnswer = {
    access_token: access,
    refresh_token: refresh,
    expires,
    expires_in: expiresIn,
    scope: texts.scope!,
    domain: texts.domain!,
    server_endpoint: texts.server_endpoint!,
    client_endpoint: clientEndpoint,
    member_id: memberId,
  };
  if (userId !== undefined) answer.user_id = userId;
  if (status !== undefined) answer.status = status;
  return { answer };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
