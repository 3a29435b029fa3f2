import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { TransferRequest } from '../../generated/types.gen';
import { challengeOf, gatewayError } from '../error-matrix';
import { repeatedTopLevelKey } from '../json-keys';
import type { Logger } from '../logger';
import { type Caller, RateLimitRejection, type ShapedAnswer } from '../rate-limit';
import { Redactor, relay } from '../relay';
import { type GatewayEnv, respondError } from '../request-context';
import { UpstreamError, type UpstreamParams } from '../upstream';
import { normalise, type UpstreamMode } from './normalise';
import { jsonBody, requestMediaTypes, transferRoute } from './route';
import { judge, judgeUrl } from './validation';

/** What the transfer operation needs from the rest of the gateway. */
export interface TransferDeps {
  mode: UpstreamMode;
  defaultClientId?: string;
  /** Sends normalised parameters to Bitrix24, within its limits (see rate-limit). */
  callUpstream: (params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer>;
  /** Authenticate the caller by the Authorization header, or by the key in a webhook-style path; set `c.var.team`. */
  authenticate: MiddlewareHandler;
  authenticatePathKey: MiddlewareHandler;
  /** True once the gateway has begun to stop. */
  isShuttingDown: () => boolean;
  /** Knows the gateway's own secrets (webhook code, CLIENT_ID, API keys), which are never relayed. */
  redactor?: Redactor;
  logger: Logger;
}

export const transferPaths = {
  transferSession: '/rest/imopenlines.bot.session.transfer',
  transferSessionJson: '/rest/imopenlines.bot.session.transfer.json',
  transferSessionHookPath: '/rest/{userId}/{secret}/imopenlines.bot.session.transfer',
} as const;

/** The transfer operation: request → validation → normalisation → upstream → relay. */
export function transferRoutes(deps: TransferDeps): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>();
  const refuseWhileStopping: MiddlewareHandler = async (c, next) => (deps.isShuttingDown() ? shuttingDown(c) : next());
  const hook = async (
    result: { success: boolean; data: unknown; target: string; error?: { issues: z.core.$ZodIssue[] } },
    c: Context,
  ) => {
    if (result.target === 'query' || result.target === 'param') {
      return result.success ? undefined : respondError(c, judgeUrl(result.target, result.error?.issues ?? []));
    }
    const kind = result.target === 'form' ? 'form' : 'json';
    // The body as sent (the validator has read it; Hono keeps the text cached).
    const text = await c.req.text();
    const asSent =
      kind === 'form' ? { entries: new URLSearchParams(text) } : { repeatedKey: repeatedTopLevelKey(text) };
    const rejection = judge(kind, result.data, result as never, deps.mode, asSent);
    return rejection ? respondError(c, rejection) : undefined;
  };

  const handle = async (c: Context): Promise<Response> => {
    // With no body at all the validators had nothing to check; judge it as Bitrix24 would: no CHAT_ID.
    if (!c.req.header('content-type')) return respondError(c, judge('json', {}, jsonBody.safeParse({}), deps.mode)!);
    const kind = c.req.header('content-type')!.toLowerCase().startsWith('application/json') ? 'json' : 'form';
    const request = c.req.valid(kind as never) as TransferRequest;
    const params = normalise(request, {
      mode: deps.mode,
      ...(deps.defaultClientId && { defaultClientId: deps.defaultClientId }),
    });
    return forward(c, params, deps);
  };
  for (const [operationId, path] of Object.entries(transferPaths)) {
    const authenticate = path.includes('{secret}') ? deps.authenticatePathKey : deps.authenticate;
    const middleware = [refuseWhileStopping, authenticate, requireMediaType];
    app.openapi(transferRoute(path, operationId, middleware), handle as never, hook as never);
  }
  return app;
}

async function forward(c: Context, params: UpstreamParams, deps: TransferDeps): Promise<Response> {
  let answer: ShapedAnswer;
  try {
    answer = await deps.callUpstream(params, { team: c.get('team') ?? 'anonymous', headers: c.get('trace').headers });
  } catch (error) {
    // Never sent: safe to repeat, on another instance.
    if (error instanceof RateLimitRejection && error.reason === 'shutting-down') return shuttingDown(c);
    if (error instanceof RateLimitRejection) {
      const description =
        error.code === 'OPERATION_TIME_LIMIT'
          ? 'Method is blocked due to operation time limit (the gateway holds it paused until Bitrix24 resets it)'
          : `Too many requests: the gateway's queue for the portal's rate limit is ${error.reason === 'queue-full' ? 'full' : 'too long to wait in'}`;
      return respondError(c, gatewayError(error.code, description), { 'Retry-After': String(error.retryAfterSeconds) });
    }
    if (!(error instanceof UpstreamError)) throw error;
    deps.logger.warn({ upstream: error.kind, detail: error.detail }, 'Bitrix24 gave no answer the gateway can relay');
    switch (error.kind) {
      case 'timeout':
        return respondError(
          c,
          gatewayError('UPSTREAM_TIMEOUT', `Bitrix24 did not answer within the gateway's timeout (${error.detail})`),
        );
      case 'bad-response':
        return respondError(
          c,
          gatewayError(
            'UPSTREAM_BAD_RESPONSE',
            `Bitrix24 answered with ${error.detail}, which this gateway does not relay`,
          ),
        );
      case 'unreachable':
        return respondError(c, gatewayError('UPSTREAM_UNREACHABLE', `Bitrix24 could not be reached (${error.detail})`));
    }
  }
  const relayed = relay(answer, (deps.redactor ?? new Redactor()).with([params.CLIENT_ID, params.auth]));
  if (!relayed.conforms) {
    deps.logger.error({ upstreamStatus: answer.status, reason: relayed.reason }, 'Bitrix24 answered off the contract');
    return respondError(c, relayed);
  }
  if (relayed.code) c.set('errorCode', relayed.code);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (answer.retryAfterSeconds !== undefined) headers['Retry-After'] = String(answer.retryAfterSeconds);
  if (relayed.status === 401) headers['WWW-Authenticate'] = challengeOf(relayed.code ?? '');
  return c.body(relayed.body, relayed.status, headers);
}

/** 503 GATEWAY_SHUTTING_DOWN: the request was not sent to Bitrix24 and may be repeated. */
function shuttingDown(c: Context): Response {
  const rejection = gatewayError(
    'GATEWAY_SHUTTING_DOWN',
    'The gateway is shutting down; retry, another instance will answer',
  );
  return respondError(c, rejection, { 'Retry-After': '1' });
}

const requireMediaType: MiddlewareHandler = async (c, next) => {
  const contentType = c.req.header('content-type');
  if (contentType === undefined) return next();
  const [essence, ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  if (!(requestMediaTypes as readonly string[]).includes(essence!)) {
    return respondError(
      c,
      gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${JSON.stringify(essence!.slice(0, 100))} is not accepted; send ${requestMediaTypes.join(' or ')}`,
      ),
    );
  }
  // The body is read as UTF-8: bytes in another charset would be read as other characters, silently.
  const charset = parameters
    .find((parameter) => parameter.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"|"$/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    return respondError(
      c,
      gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `charset ${JSON.stringify(charset.slice(0, 40))} is not accepted; send the body in UTF-8`,
      ),
    );
  }
  return next();
};
