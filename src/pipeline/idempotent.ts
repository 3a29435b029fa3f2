// The Idempotency-Key step, between normalisation and the rate limit, for every method: a retry with the same
// key and parameters gets the first answer replayed and never reaches Bitrix24 again (see "Safe retries" in
// the spec). The parameters compared leave out the caller's access token, so that a retry with a refreshed
// one is the same call. The key is released only when Bitrix24 certainly did not execute the call.
import type { Context } from 'hono';
import { gatewayError } from '../error-matrix';
import {
  fingerprintOf,
  type IdempotencySettings,
  IdempotencyStoreUnavailable,
  keyOf,
  outcomeUnknown,
  type StoredAnswer,
  scopedKey,
} from '../idempotency';
import type { Logger } from '../logger';
import type { UpstreamParams } from '../upstream';
import type { Forwarded } from './forward';
import type { MethodOperation } from './operations';

type Refuse = (c: Context, rejection: ReturnType<typeof gatewayError>, headers?: Record<string, string>) => Response;

export interface IdempotentDeps {
  idempotency: IdempotencySettings;
  logger: Logger;
  refuse: Refuse;
}

/** Sends the call through `send` at most once per key; answers a retry from the store. */
export async function idempotent(
  c: Context,
  operation: MethodOperation,
  params: UpstreamParams,
  header: string,
  send: () => Promise<Forwarded>,
  { idempotency, logger, refuse }: IdempotentDeps,
): Promise<Response> {
  const { store, retentionMs, leaseMs } = idempotency;
  const key = scopedKey(c.get('team') ?? 'anonymous', operation.method.name, keyOf(header), c.get('portal'));
  const fingerprint = fingerprintOf(withoutCredentials(operation, params));
  let claim: Awaited<ReturnType<typeof store.claim>>;
  try {
    claim = await store.claim({ key, fingerprint, leaseMs, retentionMs });
  } catch (error) {
    const known = error instanceof IdempotencyStoreUnavailable ? error : undefined;
    logger.error(
      { reqId: c.get('requestId'), err: String(error) },
      'the idempotency store did not take the key; nothing was sent',
    );
    return unavailable(c, refuse, known?.why ?? 'cannot be reached', known?.retryAfterMs);
  }
  switch (claim.kind) {
    case 'done':
      return replay(c, claim.answer);
    case 'abandoned':
      return replay(c, outcomeUnknown);
    case 'in-flight':
      // The first request's lease ends by then: it has its answer, or its outcome is unknown.
      return refuse(
        c,
        gatewayError(
          'IDEMPOTENCY_KEY_IN_USE',
          'A request with this Idempotency-Key is still being processed; retry after Retry-After to get its answer',
        ),
        { 'Retry-After': String(Math.max(1, Math.ceil(claim.retryAfterMs / 1000))) },
      );
    case 'mismatch':
      return refuse(
        c,
        gatewayError(
          'IDEMPOTENCY_KEY_MISMATCH',
          'This Idempotency-Key was used with other parameters; use a new key for a new call',
        ),
      );
    case 'full':
      return unavailable(c, refuse, 'holds as many keys as it may', claim.retryAfterMs);
    case 'claimed':
      break;
  }
  const { response, executed } = await send();
  try {
    if (executed === 'no') await store.release(key, claim.token);
    else await store.complete(key, claim.token, await stored(response), retentionMs);
  } catch (error) {
    // The key stays claimed, never free: Redis's store keeps the answer and writes it back when Redis answers
    // again (its replica replays it meanwhile); otherwise a retry gets "outcome unknown". Never a second send.
    const reason = error instanceof IdempotencyStoreUnavailable ? error.reason : 'failed';
    idempotency.onAnswerNotStored?.(reason);
    logger.error(
      { reqId: c.get('requestId'), err: String(error), reason },
      'the idempotency store did not take the answer: the key stays taken, never sent again; with Redis the answer is written back when Redis answers, otherwise a retry gets "outcome unknown" (502)',
    );
  }
  return response;
}

/**
 * The parameters a key is compared with: all but the operation's access token (`auth`, the spec's
 * `x-bitrix24-access-token`), a credential and not part of the call, which a caller refreshes between retries.
 */
function withoutCredentials(operation: MethodOperation, params: UpstreamParams): UpstreamParams {
  const tokens = accessTokens(operation);
  if (!tokens.some((name) => Object.hasOwn(params, name))) return params;
  return Object.fromEntries(Object.entries(params).filter(([name]) => !tokens.includes(name)));
}

const tokenNames = new WeakMap<MethodOperation, string[]>();

function accessTokens(operation: MethodOperation): string[] {
  let names = tokenNames.get(operation);
  if (!names) {
    names = [...operation.body.parameters.values()].filter((p) => p.accessToken).map((p) => p.name);
    tokenNames.set(operation, names);
  }
  return names;
}

/**
 * 503, nothing sent; `Retry-After` is when the store expects room (its first key's expiry) or to know keys
 * again (Redis's fail-closed window after it lost its data), or 1 s.
 */
function unavailable(c: Context, refuse: Refuse, why: string, retryAfterMs = 1_000): Response {
  return refuse(
    c,
    gatewayError(
      'IDEMPOTENCY_STORE_UNAVAILABLE',
      `The store of idempotency keys ${why}; nothing was sent to Bitrix24, and the request may be repeated`,
    ),
    { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

const KEPT_HEADERS = ['content-type', 'retry-after', 'www-authenticate'];

async function stored(response: Response): Promise<StoredAnswer> {
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: response.status, headers, body: await response.clone().text() };
}

function replay(c: Context, answer: StoredAnswer): Response {
  return c.body(answer.body, answer.status as never, { ...answer.headers, 'Idempotent-Replayed': 'true' });
}
