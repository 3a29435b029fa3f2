import type { Context } from 'hono';
import { challengeOf, gatewayError, type Rejection } from '../error-matrix';
import type { Logger } from '../logger';
import { type Caller, RateLimitRejection, type ShapedAnswer } from '../rate-limit';
import { documentedAnswer, type Redactor } from '../relay';
import { bodyJson, UpstreamError, type UpstreamParams } from '../upstream';
import { webhookRefusal, webhookRefusedDescription } from '../upstream-health';
import type { GatewayMode, MethodOperation } from './operations';

/**
 * A call a capability's upstream (application mode: the portal's token) refused before sending anything,
 * with the documented answer: the portal not installed or lost, the authorization server away.
 */
export class RefusedBeforeSending extends Error {
  constructor(
    readonly rejection: Rejection,
    readonly headers?: Record<string, string>,
  ) {
    super(rejection.body.error_description);
    this.name = 'RefusedBeforeSending';
  }
}

/** Sends normalised parameters to a Bitrix24 method, within the portal's limits (see rate-limit). */
export type CallUpstream = (method: string, params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer>;

export interface ForwardDeps {
  callUpstream: CallUpstream;
  /** Knows the gateway's own secrets (webhook code, CLIENT_ID, API keys), which are never relayed. */
  redactor: Redactor;
  logger: Logger;
  /** The one way the pipeline answers an error. */
  refuse: (c: Context, rejection: Rejection, headers?: Record<string, string>) => Response;
  /** In webhook mode Bitrix24's refusals of the webhook refuse the gateway's own, and the answer says so. */
  mode?: GatewayMode;
}

/** The answer to the caller, and whether Bitrix24 may have executed the call (`no`: certainly not). */
export interface Forwarded {
  response: Response;
  executed: 'no' | 'maybe';
}

/**
 * Calls Bitrix24 and relays its answer when the spec documents it; every failure to get one is answered with
 * the spec's code for it. Nothing here repeats a call that may have reached Bitrix24.
 */
export async function forward(
  c: Context,
  operation: MethodOperation,
  params: UpstreamParams,
  { callUpstream, redactor, logger, refuse, mode }: ForwardDeps,
): Promise<Forwarded> {
  let answer: ShapedAnswer;
  try {
    const portal = c.get('portal');
    const portalFound = c.get('portalFound');
    answer = await callUpstream(operation.method.name, params, {
      team: c.get('team') ?? 'anonymous',
      headers: c.get('trace').headers,
      ...(portal !== undefined && { portal }),
      ...(portalFound !== undefined && { portalFound }),
    });
  } catch (error) {
    if (error instanceof RefusedBeforeSending)
      return { response: refuse(c, error.rejection, error.headers), executed: 'no' };
    const failure = failed(error, logger, c.get('requestId'));
    // A rate-limit refusal (or a stop) came before the call was sent.
    const executed = error instanceof RateLimitRejection ? 'no' : 'maybe';
    return { response: refuse(c, failure.rejection, failure.headers), executed };
  }
  return {
    response: relay(c, operation, params, answer, { redactor, logger, refuse, ...(mode && { mode }) }),
    executed: executedBy(answer, operation),
  };
}

/**
 * Whether Bitrix24 may have executed the call, by the code of its answer: a code the spec marks
 * `x-not-executed` (its limits, a failed authentication) says it refused the call before executing it,
 * whatever the status it came with (an undocumented status is relayed as 502, but the refusal stands). An
 * answer that carries a `result` is never read so.
 */
function executedBy(answer: ShapedAnswer, operation: MethodOperation): Forwarded['executed'] {
  const body = bodyJson(answer)?.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || 'result' in body) return 'maybe';
  const { error } = body as { error?: unknown };
  return typeof error === 'string' && operation.notExecuted.has(error) ? 'no' : 'maybe';
}

function relay(
  c: Context,
  operation: MethodOperation,
  params: UpstreamParams,
  answer: ShapedAnswer,
  { redactor, logger, refuse, mode }: Omit<ForwardDeps, 'callUpstream'>,
): Response {
  const secrets = [...operation.body.parameters.values()].filter((p) => p.secret).map((p) => params[p.name]);
  const relayed = documentedAnswer(answer, operation, redactor.with(secrets.filter((s) => typeof s === 'string')));
  if (!relayed.conforms) {
    logger.error(
      { reqId: c.get('requestId'), upstreamStatus: answer.status, reason: relayed.reason },
      'Bitrix24 answered off the contract',
    );
    return refuse(c, relayed);
  }
  const headers: Record<string, string> = {};
  if (answer.retryAfterSeconds !== undefined) headers['Retry-After'] = String(answer.retryAfterSeconds);
  if (relayed.status === 200) {
    return c.body(relayed.body, 200, { ...headers, 'content-type': 'application/json; charset=utf-8' });
  }
  if (relayed.status === 401) headers['WWW-Authenticate'] = challengeOf(relayed.error.error);
  // Bitrix24's status and code stay (existing handling keeps working); the description says whose it is.
  if (mode === 'webhook' && webhookRefusal(answer)) {
    const body = { ...relayed.error, error_description: webhookRefusedDescription(relayed.error.error_description) };
    return refuse(c, { status: relayed.status, body, text: JSON.stringify(body) }, headers);
  }
  return refuse(c, { status: relayed.status, body: relayed.error, text: relayed.body }, headers);
}

/**
 * Why no answer of Bitrix24's can be relayed, as the spec's error. The log line carries the request's id
 * (`reqId`, as the access log and X-Request-Id name it), so that it can be matched to the call.
 */
function failed(
  error: unknown,
  logger: Logger,
  reqId: string,
): { rejection: Rejection; headers?: Record<string, string> } {
  // Never sent: safe to repeat, on another instance.
  if (error instanceof RateLimitRejection) {
    if (error.reason === 'shutting-down') return shuttingDown();
    const description =
      error.code === 'OPERATION_TIME_LIMIT'
        ? 'Method is blocked due to operation time limit (the gateway holds it paused until Bitrix24 resets it)'
        : `Too many requests: the gateway's queue for the portal's rate limit is ${error.reason === 'queue-full' ? 'full' : 'too long to wait in'}`;
    return {
      rejection: gatewayError(error.code, description),
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    };
  }
  if (!(error instanceof UpstreamError)) throw error;
  logger.warn({ reqId, upstream: error.kind, detail: error.detail }, 'Bitrix24 gave no answer the gateway can relay');
  switch (error.kind) {
    case 'timeout':
      return {
        rejection: gatewayError(
          'UPSTREAM_TIMEOUT',
          `Bitrix24 did not answer within the gateway's timeout (${error.detail})`,
        ),
      };
    case 'bad-response':
      return {
        rejection: gatewayError(
          'UPSTREAM_BAD_RESPONSE',
          `Bitrix24 answered with ${error.detail}, which this gateway does not relay`,
        ),
      };
    case 'unreachable':
      return { rejection: gatewayError('UPSTREAM_UNREACHABLE', `Bitrix24 could not be reached (${error.detail})`) };
  }
}

/** 503 GATEWAY_SHUTTING_DOWN: the request was not sent to Bitrix24 and may be repeated. */
export function shuttingDown(): { rejection: Rejection; headers: Record<string, string> } {
  return {
    rejection: gatewayError(
      'GATEWAY_SHUTTING_DOWN',
      'The gateway is shutting down; retry, another instance will answer',
    ),
    headers: { 'Retry-After': '1' },
  };
}
