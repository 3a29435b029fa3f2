import { bodyJson, type UpstreamAnswer, type UpstreamParams } from '../upstream';
import type { OperatingPause } from './operating-pause';
import type { PortalLimiter } from './portal-limiter';
import { RateLimitRejection } from './rejection';
import type { LimitStore } from './store';

export interface ShapedCallerOptions {
  limiter: PortalLimiter;
  /** Where the portal's bucket and the methods' pauses live (the limiter's store). */
  store: LimitStore;
  pause: OperatingPause;
  call: (method: string, params: UpstreamParams, headers: Record<string, string>) => Promise<UpstreamAnswer>;
  /** QUERY_LIMIT_EXCEEDED is retried until this long after the request arrived. */
  retryDeadlineMs: number;
  /** The first retry's delay; each next one doubles. */
  retryBaseDelayMs: number;
  events?: ShapingEvents;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What shaping did, for metrics. */
export interface ShapingEvents {
  waited?(ms: number): void;
  retried?(reason: 'query-limit'): void;
  rejected?(reason: RateLimitRejection['reason']): void;
}

/** Who calls, for the fair queue, and what travels with the call (the trace context's headers). */
export interface Caller {
  team: string;
  headers?: Record<string, string>;
  /** The portal the call is for, by its `member_id` (application mode: its own limits and token). */
  portal?: string;
  /** What the pipeline's portal step read of it (application mode), so that the call need not read it again. */
  portalFound?: unknown;
  /**
   * Completes the parameters once the slot is granted, right before each send: application mode adds the
   * portal's access token there, so that a call that waited in the queue carries one still alive.
   */
  prepare?: (params: UpstreamParams) => Promise<UpstreamParams>;
}

/** Bitrix24's answer, with `Retry-After` when the answer is one of its limits. */
export type ShapedAnswer = UpstreamAnswer & { retryAfterSeconds?: number };

/**
 * Calls a Bitrix24 method within the portal's limits: waits its turn in the portal's bucket (one for every
 * method), retries QUERY_LIMIT_EXCEEDED (Bitrix24 did not execute that call) with growing delays within a
 * deadline, and pauses the method (only that one: Bitrix24 counts operating time per method) on
 * OPERATION_TIME_LIMIT. Nothing is retried once a call may have been executed: errors of the call itself
 * (timeouts, resets) propagate as they are.
 */
export function shapedCaller(
  options: ShapedCallerOptions,
): (method: string, params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer> {
  const { limiter, store, pause, call, events = {} } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  const refuse = (rejection: RateLimitRejection): never => {
    events.rejected?.(rejection.reason);
    throw rejection;
  };

  return async (method, params, { team, headers = {}, prepare }) => {
    const deadline = now() + options.retryDeadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      // The slot is taken with the method's pause read in the same step (one round trip to a shared store).
      try {
        // Awaited outside the optional call: `events.waited?.(await …)` skips the await without a listener.
        const waitedMs = await limiter.acquire(team, method);
        events.waited?.(waitedMs);
      } catch (error) {
        if (error instanceof RateLimitRejection) refuse(error);
        throw error;
      }

      const answer = await call(method, prepare ? await prepare(params) : params, headers);
      const signal = limitSignal(answer);
      if (signal.resetAt !== undefined) pause.noteResetAt(signal.resetAt);
      if (signal.code === 'OPERATION_TIME_LIMIT') {
        const until = pause.until(signal.resetAt);
        await store.pause(method, until);
        return { ...answer, retryAfterSeconds: Math.max(1, Math.ceil((until - now()) / 1000)) };
      }
      if (signal.code !== 'QUERY_LIMIT_EXCEEDED') return answer;

      await store.backOff();
      const delay = options.retryBaseDelayMs * 2 ** attempt;
      if (now() + delay > deadline) return { ...answer, retryAfterSeconds: await limiter.retryAfterSeconds(method) };
      events.retried?.('query-limit');
      await sleep(delay);
    }
  };
}

/** Bitrix24's limit answers, and `time.operating_reset_at` when an answer carries it. */
function limitSignal(answer: UpstreamAnswer): { code?: string; resetAt?: number } {
  const isLimit = (answer.status === 503 || answer.status === 429) && answer.body.includes('_LIMIT');
  if (!isLimit && !answer.body.includes('operating_reset_at')) return {};
  const body = bodyJson(answer)?.value as { error?: unknown; time?: { operating_reset_at?: unknown } } | null;
  const resetAt = typeof body?.time === 'object' ? body.time?.operating_reset_at : undefined;
  const code =
    (answer.status === 503 && body?.error === 'QUERY_LIMIT_EXCEEDED') ||
    (answer.status === 429 && body?.error === 'OPERATION_TIME_LIMIT')
      ? body.error
      : undefined;
  return { ...(code && { code }), ...(typeof resetAt === 'number' && { resetAt }) };
}
