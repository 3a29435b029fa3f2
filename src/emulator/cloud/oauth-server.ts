// Bitrix24's authorization server (oauth.bitrix.info) as the cloud plays it: `GET|POST /oauth/token/` with
// grant_type=refresh_token, client_id, client_secret and refresh_token (query string or form body) answers a
// new pair, spending the refresh token presented (see tokens.ts). Its answers can be held (hold.ts).
// The error statuses are unconfirmed: 400 for invalid_grant and the request's own faults, 401 for
// invalid_client (OAuth 2.0's advice when the client authenticated); the texts are oauth2-php's wording.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TokenAnswer } from '../../application/types';
import { declaredTooLarge, readBounded } from './body';
import { Hold } from './hold';
import { closeServer, listen } from './listen';
import type { Pair, TokenBook } from './tokens';
import type { CloudStats } from './types';

export const SCOPE = 'imbot,imopenlines';

/** A token request's body is read up to this many bytes. */
const MAX_TOKEN_BODY = 64 * 1024;

export interface AuthorizationServerOptions {
  clientId: string;
  clientSecret: string;
  tokens: TokenBook;
  stats: CloudStats;
  host: string;
  /** The portal's `client_endpoint`, for the answer. */
  clientEndpointOf(memberId: string): string;
}

export interface AuthorizationServer {
  /** `http://host:port`. */
  url: string;
  /** `host:port`: the `domain` of its answers. */
  domain: string;
  /** `<url>/rest/`. */
  serverEndpoint: string;
  /** Holds answers from now on (one hold at a time). */
  hold(): Hold;
  /** The answer a refresh would give for this pair (the install event's pair is not answered: tests read it). */
  answerFor(pair: Pair): TokenAnswer;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: object;
}

const oauthError = (status: number, error: string, description: string): Answer => ({
  status,
  body: { error, error_description: description },
});

export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const { tokens, stats } = options;
  let current: Hold | undefined;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  const { origin, hostPort } = await listen(server, options.host);
  const serverEndpoint = `${origin}/rest/`;

  const answerFor = (pair: Pair): TokenAnswer => ({
    access_token: pair.accessToken,
    expires: Math.floor(pair.accessExpiresAt / 1000),
    expires_in: Math.round((pair.accessExpiresAt - pair.issuedAt) / 1000),
    scope: SCOPE,
    domain: hostPort,
    server_endpoint: serverEndpoint,
    status: 'L',
    client_endpoint: options.clientEndpointOf(pair.memberId),
    member_id: pair.memberId,
    user_id: 1,
    refresh_token: pair.refreshToken,
  });

  const exchange = (params: URLSearchParams): Answer => {
    const refreshToken = params.get('refresh_token') ?? '';
    if (refreshToken) tokens.present(refreshToken);
    if (params.get('grant_type') !== 'refresh_token') {
      return oauthError(400, 'unsupported_grant_type', 'The grant type is not supported by the authorization server');
    }
    if (!same(params.get('client_id'), options.clientId) || !same(params.get('client_secret'), options.clientSecret)) {
      stats.invalidClient += 1;
      return oauthError(401, 'invalid_client', 'The client credentials are invalid');
    }
    if (!refreshToken) return oauthError(400, 'invalid_request', 'No "refresh_token" parameter found');
    const redemption = tokens.redeem(refreshToken);
    if (redemption.outcome === 'invalid_grant') {
      stats.invalidGrant += 1;
      const expired = redemption.reason === 'expired';
      return oauthError(400, 'invalid_grant', expired ? 'Refresh token has expired' : 'Invalid refresh token');
    }
    stats.refreshes += 1;
    return { status: 200, body: answerFor(redemption.pair) };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://authorization.server');
    if (url.pathname !== '/oauth/token/' && url.pathname !== '/oauth/token') {
      return write(res, oauthError(404, 'not_found', 'Not found'));
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      return write(res, oauthError(405, 'invalid_request', 'The request method must be GET or POST'));
    }
    stats.tokenRequests += 1;
    if (declaredTooLarge(req.headers['content-length'], MAX_TOKEN_BODY)) {
      res.setHeader('connection', 'close');
      return write(res, oauthError(413, 'invalid_request', 'The request body is too large'));
    }
    const body = await readBounded(req, MAX_TOKEN_BODY);
    if (body === undefined) return void req.socket.destroy();
    // The query string, then the form body; a name given twice is its last value, as PHP reads it.
    const params = new URLSearchParams();
    const form = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
    for (const source of [url.searchParams, new URLSearchParams(form ? body.toString('utf8') : '')]) {
      for (const [name, value] of source) params.set(name, value);
    }
    const answer = exchange(params);
    if (current && !current.ended) {
      current.add({ send: () => write(res, answer), cut: () => req.socket.destroy() });
    } else write(res, answer);
  }

  return {
    url: origin,
    domain: hostPort,
    serverEndpoint,
    hold() {
      if (current && !current.ended) throw new Error('Token answers are already held: release or cut that hold first');
      current = new Hold((ended) => {
        if (current === ended) current = undefined;
      });
      return current;
    },
    answerFor,
    async close() {
      current?.cut();
      await closeServer(server);
    },
  };
}

function write(res: ServerResponse, answer: Answer): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(answer.body));
}

/** Compares a presented credential with the expected one in constant time. */
function same(presented: string | null, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return presented !== null && timingSafeEqual(digest(presented), digest(expected));
}
