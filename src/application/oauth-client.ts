// The application's client of the Bitrix24 authorization server (issue 33): exchanges a portal's refresh
// token for a new pair at `<server>/oauth/token/`. The server is the configured one (BITRIX24_OAUTH_URL), or
// the origin of a `server_endpoint` Bitrix24 gave, only when its host is one the configuration trusts: a
// caller or an event's sender never chooses where the application's secret goes. The secret and the token
// travel in a form body, never in the URL (access logs). Errors say what happened, never a secret, and tell
// a refusal (the server answered) from an answer that never came (the token may have been spent).
import { isUtf8 } from 'node:buffer';
import { Agent, type Dispatcher, errors } from 'undici';
import { checkTokenAnswer, isLoopback } from './token-answer';
import type { TokenAnswer } from './types';

/** The authorization server answered an error: `invalid_grant` (the refresh token is bad, expired or used), `invalid_client` (the application's id or secret, or it is not installed), or another. */
export class OAuthRefused extends Error {
  constructor(
    readonly code: 'invalid_grant' | 'invalid_client' | 'other',
    /** The answer's HTTP status. */
    readonly status: number,
    /** The server's own `error`, when it is a short plain code (never its description, which may quote input). */
    readonly serverCode: string | undefined,
  ) {
    super(`the authorization server refused the refresh: ${serverCode ?? code} (HTTP ${status})`);
    this.name = 'OAuthRefused';
  }
}

/** No usable answer came. The request may have reached the server: the refresh token may have been spent. */
export class OAuthUnavailable extends Error {
  constructor(
    /** No answer in time; no connection or no answer; an answer that is not HTTP, too large, not UTF-8 JSON, not a token answer, or a server failure (5xx, 429). */
    readonly kind: 'timeout' | 'unreachable' | 'bad-response',
    /** Safe to log: no URL, no secret. */
    readonly detail: string,
  ) {
    super(`the authorization server is unavailable (${kind}): ${detail}`);
    this.name = 'OAuthUnavailable';
  }
}

export interface OAuthClientOptions {
  /** The configured authorization server (BITRIX24_OAUTH_URL): its origin and path lead `oauth/token/`. */
  oauthUrl: URL;
  /** Hosts (`host` or `host:port`, as a URL's `host`) whose `server_endpoint` may be followed. */
  trustedHosts: readonly string[];
  clientId: string;
  clientSecret: string;
  /** The deadline of one refresh, connection to last byte. */
  timeoutMs: number;
  /** The answer is read up to this many bytes; past it the refresh fails as 'bad-response'. */
  maxBodyBytes?: number;
}

const SERVER_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

export class OAuthClient {
  readonly timeoutMs: number;
  readonly #agent: Agent;
  readonly #configured: URL;
  readonly #trusted: ReadonlySet<string>;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #maxBodyBytes: number;

  constructor({
    oauthUrl,
    trustedHosts,
    clientId,
    clientSecret,
    timeoutMs,
    maxBodyBytes = 16_384,
  }: OAuthClientOptions) {
    this.#configured = new URL(`${oauthUrl.pathname.replace(/\/+$/, '')}/oauth/token/`, oauthUrl.origin);
    this.#trusted = new Set(trustedHosts.map((host) => host.toLowerCase()));
    this.#clientId = clientId;
    this.#clientSecret = clientSecret;
    this.timeoutMs = timeoutMs;
    this.#maxBodyBytes = maxBodyBytes;
    this.#agent = new Agent({
      connections: 4,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connect: { timeout: Math.min(timeoutMs, 10_000) },
    });
  }

  /**
   * Where a refresh goes: the origin of `serverEndpoint` when it parses, its host is trusted and it is https
   * (or loopback); otherwise the configured server.
   */
  tokenUrl(serverEndpoint?: string): URL {
    if (typeof serverEndpoint !== 'string' || serverEndpoint.length > 2048) return this.#configured;
    let url: URL;
    try {
      url = new URL(serverEndpoint);
    } catch {
      return this.#configured;
    }
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
    if (!secure || url.username !== '' || url.password !== '' || !this.#trusted.has(url.host)) return this.#configured;
    return new URL('/oauth/token/', url.origin);
  }

  /** Exchanges `refreshToken` for a new pair. Rejects only with OAuthRefused or OAuthUnavailable. */
  async refresh(refreshToken: string, serverEndpoint?: string): Promise<TokenAnswer> {
    const url = this.tokenUrl(serverEndpoint);
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: this.#clientId,
      client_secret: this.#clientSecret,
      refresh_token: refreshToken,
    });
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), this.timeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await this.#agent.request({
        origin: url.origin,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: controller.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = response.statusCode;
      text = await readBody(response, this.#maxBodyBytes);
    } catch (error) {
      throw error instanceof OAuthUnavailable ? error : classify(error, controller.signal, this.timeoutMs);
    } finally {
      clearTimeout(deadline);
    }
    return judge(status, text);
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** The answer read: a token answer, a refusal, or no usable answer. */
function judge(status: number, text: string): TokenAnswer {
  // A server failing or shedding load has not answered the refresh: like a lost answer, it may be retried.
  if (status >= 500 || status === 429) throw new OAuthUnavailable('bad-response', `HTTP ${status}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OAuthUnavailable('bad-response', `an answer that is not JSON (HTTP ${status})`);
  }
  const error =
    typeof body === 'object' && body !== null && Object.hasOwn(body, 'error')
      ? (body as { error: unknown }).error
      : undefined;
  if (error !== undefined) {
    const serverCode = typeof error === 'string' && SERVER_CODE.test(error) ? error : undefined;
    const code = serverCode === 'invalid_grant' || serverCode === 'invalid_client' ? serverCode : 'other';
    throw new OAuthRefused(code, status, serverCode);
  }
  if (status < 200 || status > 299) throw new OAuthUnavailable('bad-response', `HTTP ${status} without an error`);
  const checked = checkTokenAnswer(body);
  if ('problem' in checked) throw new OAuthUnavailable('bad-response', `not a token answer: ${checked.problem}`);
  return checked.answer;
}

/** The body as text, read no further than `maxBytes`, strictly UTF-8 (as src/upstream reads Bitrix24's). */
async function readBody({ headers, body }: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  const declared = Number(headers['content-length'] ?? Number.NaN);
  if (Number.isInteger(declared) && declared > maxBytes) throw tooLarge(body, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge(body, maxBytes);
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks, size);
  if (!isUtf8(bytes)) throw new OAuthUnavailable('bad-response', 'an answer that is not valid UTF-8');
  return bytes.toString('utf8');
}

function tooLarge(body: Dispatcher.ResponseData['body'], maxBytes: number): OAuthUnavailable {
  body.destroy();
  return new OAuthUnavailable('bad-response', `an answer larger than ${maxBytes} bytes`);
}

function classify(error: unknown, signal: AbortSignal, timeoutMs: number): OAuthUnavailable {
  if (signal.aborted || error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
    return new OAuthUnavailable('timeout', `no answer within ${timeoutMs} ms`);
  }
  if (error instanceof errors.HTTPParserError)
    return new OAuthUnavailable('bad-response', 'an answer that is not valid HTTP');
  // Only the error's code or class name: a message could quote the request.
  const code = (error as { code?: unknown })?.code;
  return new OAuthUnavailable(
    'unreachable',
    typeof code === 'string' && SERVER_CODE.test(code) ? code : ((error as Error)?.name ?? 'unknown error'),
  );
}
