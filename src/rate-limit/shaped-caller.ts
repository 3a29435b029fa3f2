import type { UpstreamAnswer, UpstreamParams } from '../upstream';
import type { OperatingPause } from './operating-pause';
import type { PortalLimiter } from './portal-limiter';
import { RateLimitRejection } from './rejection';

export interface ShapedCallerOptions {
  limiter: PortalLimiter;
  pause: OperatingPause;
  call: (params: UpstreamParams, headers: Record<string, string>) => Promise<UpstreamAnswer>;
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
}

/** Bitrix24's answer, with `Retry-After` when the answer is one of its limits. */
export type ShapedAnswer = UpstreamAnswer & { retryAfterSeconds?: number };

/**
 * Calls Bitrix24 within its limits: waits its turn in the portal's bucket, retries QUERY_LIMIT_EXCEEDED
 * (Bitrix24 did not execute that call) with growing delays within a deadline, and pauses the method on
 * OPERATION_TIME_LIMIT. Nothing is retried once a call may have been executed: errors of the call itself
 * (timeouts, resets) propagate as they are.
 */
export function shapedCaller(
  options: ShapedCallerOptions,
): (params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer> {
  const { limiter, pause, call, events = {} } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  const refuse = (rejection: RateLimitRejection): never => {
    events.rejected?.(rejection.reason);
    throw rejection;
  };

  return async (params, { team, headers = {} }) => {
    const deadline = now() + options.retryDeadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      if (pause.remainingMs() > 0)
        refuse(new RateLimitRejection('OPERATION_TIME_LIMIT', 'operating-time', pause.retryAfterSeconds()));
      try {
        events.waited?.(await limiter.acquire(team));
      } catch (error) {
        if (error instanceof RateLimitRejection) refuse(error);
        throw error;
      }
      // The method may have been paused while this request waited.
      if (pause.remainingMs() > 0)
        refuse(new RateLimitRejection('OPERATION_TIME_LIMIT', 'operating-time', pause.retryAfterSeconds()));

      const answer = await call(params, headers);
      const signal = limitSignal(answer);
      if (signal.resetAt !== undefined) pause.noteResetAt(signal.resetAt);
      if (signal.code === 'OPERATION_TIME_LIMIT') {
        pause.pause(signal.resetAt);
        return { ...answer, retryAfterSeconds: pause.retryAfterSeconds() };
      }
      if (signal.code !== 'QUERY_LIMIT_EXCEEDED') return answer;

      limiter.upstreamFull();
      const delay = options.retryBaseDelayMs * 2 ** attempt;
      if (now() + delay > deadline) return { ...answer, retryAfterSeconds: limiter.retryAfterSeconds() };
      events.retried?.('query-limit');
      await sleep(delay);
    }
  };
}

/** Bitrix24's limit answers, and `time.operating_reset_at` when an answer carries it. */
function limitSignal(answer: UpstreamAnswer): { code?: string; resetAt?: number } {
  const isLimit = (answer.status === 503 || answer.status === 429) && answer.body.includes('_LIMIT');
  if (!isLimit && !answer.body.includes('operating_reset_at')) return {};
  try {
    const body = JSON.parse(answer.body) as { error?: unknown; time?: { operating_reset_at?: unknown } };
    const resetAt = body.time?.operating_reset_at;
    const code =
      (answer.status === 503 && body.error === 'QUERY_LIMIT_EXCEEDED') ||
      (answer.status === 429 && body.error === 'OPERATION_TIME_LIMIT')
        ? body.error
        : undefined;
    return { ...(code && { code }), ...(typeof resetAt === 'number' && { resetAt }) };
  } catch {
    return {};
  }
}
