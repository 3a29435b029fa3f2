import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { TransferRequest } from '../../generated/types.gen';
import { type CallerEnv } from '../caller-auth';
import { gatewayError } from '../error-matrix';
import type { Logger } from '../logger';
import { relay } from '../relay';
import { type UpstreamAnswer, UpstreamError, type UpstreamParams } from '../upstream';
import { type UpstreamMode, normalise } from './normalise';
import { jsonBody, requestMediaTypes, transferRoute } from './route';
import { type Rejection, judge } from './validation';

/** What the transfer operation needs from the rest of the gateway. */
export interface TransferDeps {
  mode: UpstreamMode;
  defaultClientId?: string;
  /** Sends normalised parameters to Bitrix24. */
  callUpstream: (params: UpstreamParams) => Promise<UpstreamAnswer>;
  /** Authenticates the caller and sets `c.var.team`. */
  authenticate: MiddlewareHandler<CallerEnv>;
  logger: Logger;
}

export const transferPaths = {
  transferSession: '/rest/imopenlines.bot.session.transfer',
  transferSessionJson: '/rest/imopenlines.bot.session.transfer.json',
} as const;

/** The transfer operation: request → validation → normalisation → upstream → relay. */
export function transferRoutes(deps: TransferDeps): OpenAPIHono<CallerEnv> {
  const app = new OpenAPIHono<CallerEnv>();
  const middleware = [deps.authenticate, refuseQueryString, requireMediaType] as MiddlewareHandler[];
  const hook = (result: { success: boolean; data: unknown; target: string }, c: Context) => {
    const rejection = judge(result.target === 'form' ? 'form' : 'json', result.data, result as never, deps.mode);
    if (rejection) return reject(c, rejection);
  };

  const handle = async (c: Context): Promise<Response> => {
    // With no body at all the validators had nothing to check; judge it as Bitrix24 would: no CHAT_ID.
    if (!c.req.header('content-type')) return reject(c, judge('json', {}, jsonBody.safeParse({}), deps.mode)!);
    const kind = c.req.header('content-type')!.toLowerCase().startsWith('application/json') ? 'json' : 'form';
    const request = c.req.valid(kind as never) as TransferRequest;
    const params = normalise(request, { mode: deps.mode, ...(deps.defaultClientId && { defaultClientId: deps.defaultClientId }) });
    return forward(c, params, deps);
  };
  for (const [operationId, path] of Object.entries(transferPaths)) {
    app.openapi(transferRoute(path, operationId, middleware), handle as never, hook as never);
  }
  return app;
}

async function forward(c: Context, params: UpstreamParams, deps: TransferDeps): Promise<Response> {
  let answer: UpstreamAnswer;
  try {
    answer = await deps.callUpstream(params);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    deps.logger.warn({ upstream: error.kind, detail: error.detail }, 'Bitrix24 gave no answer');
    return error.kind === 'timeout'
      ? reject(c, gatewayError('UPSTREAM_TIMEOUT', `Bitrix24 did not answer within the gateway's timeout (${error.detail})`))
      : reject(c, gatewayError('UPSTREAM_UNREACHABLE', `Bitrix24 could not be reached (${error.detail})`));
  }
  const relayed = relay(answer);
  if (!relayed.conforms) {
    deps.logger.error({ upstreamStatus: answer.status, reason: relayed.reason }, 'Bitrix24 answered off the contract');
    return reject(c, relayed);
  }
  return c.body(relayed.body, relayed.status, { 'content-type': 'application/json; charset=utf-8' });
}

function reject(c: Context, { status, body }: Rejection): Response {
  return c.json(body, status);
}

const refuseQueryString: MiddlewareHandler = async (c, next) => {
  const query = new URL(c.req.url).search;
  if (query.length > 1) {
    const names = [...new URLSearchParams(query).keys()].map((key) => JSON.stringify(key.slice(0, 64))).join(', ');
    return reject(c, gatewayError('UNKNOWN_PARAMETER', `The method takes its parameters in the body, not the query string (got ${names || 'a query string'})`));
  }
  return next();
};

const requireMediaType: MiddlewareHandler = async (c, next) => {
  const contentType = c.req.header('content-type');
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  if (essence !== undefined && !(requestMediaTypes as readonly string[]).includes(essence)) {
    return reject(
      c,
      gatewayError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(essence.slice(0, 100))} is not accepted; send ${requestMediaTypes.join(' or ')}`),
    );
  }
  return next();
};
