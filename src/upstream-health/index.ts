// What the gateway knows of its portal: whether Bitrix24 answers, and, with a webhook, whether it takes the
// gateway's own credentials. Learnt from the outcome of every call (real calls and the probe alike, as
// startGateway's upstream call reports them), and from a probe that calls `server.time` (which changes
// nothing) at start and whenever no call went to Bitrix24 for an interval. /readyz reports it.
import type { Logger } from '../logger';
import { RateLimitRejection } from '../rate-limit';
import { bodyJson, type UpstreamAnswer, UpstreamError, type UpstreamMode } from '../upstream';

/** The Bitrix24 method the probe calls: it changes nothing, and every portal answers it. */
export const PROBE_METHOD = 'server.time';

export type UpstreamState = 'unknown' | 'ok' | 'unreachable' | 'refused';

/** What /readyz says of Bitrix24. */
export interface UpstreamReport {
  state: UpstreamState;
  /** Why it is unreachable or refused, in words; never a secret. */
  problem?: string;
}

/**
 * The codes with which Bitrix24 refuses a webhook itself, and what each means for the gateway's own. In
 * webhook mode every one of them is about the gateway's credentials: the caller sends none to Bitrix24.
 */
export const WEBHOOK_REFUSALS: Readonly<Record<string, string>> = {
  NO_AUTH_FOUND: 'its user or code is wrong, or the webhook was deleted',
  INVALID_CREDENTIALS: "the webhook's user lacks the permissions the method needs",
  insufficient_scope: 'the webhook lacks the scopes the methods need (imopenlines, imbot)',
  ACCESS_DENIED: "the portal's plan does not allow the REST API",
};

/** The refusal code of a Bitrix24 answer that refuses a webhook, or undefined. */
export function webhookRefusal(answer: UpstreamAnswer): string | undefined {
  if (answer.status !== 401 && answer.status !== 403) return undefined;
  const body = bodyJson(answer)?.value;
  const code = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  return typeof code === 'string' && Object.hasOwn(WEBHOOK_REFUSALS, code) ? code : undefined;
}

/** The description a caller gets for a refusal of the gateway's own webhook, with Bitrix24's text after it. */
export function webhookRefusedDescription(bitrix24Text: string): string {
  return `Bitrix24 refused the gateway's own webhook (BITRIX24_WEBHOOK_URL), not the caller's key: the gateway's operator must fix it. Bitrix24 said: ${bitrix24Text}`;
}

/** Codes that say nothing of the credentials: Bitrix24's limits and its own failures. */
const SAYS_NOTHING = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'OVERLOAD_LIMIT']);

export interface UpstreamHealthOptions {
  mode: UpstreamMode;
  logger: Logger;
  /** A caller's call that Bitrix24 refused for the gateway's webhook (not the probe's), by code. */
  onWebhookRefused?: (code: string) => void;
  now?: () => number;
}

/** The state, changed by each call's outcome; one log line per change, saying why. */
export class UpstreamHealth {
  #report: UpstreamReport = { state: 'unknown' };
  #lastCallAt: number;
  readonly #now: () => number;

  constructor(private readonly options: UpstreamHealthOptions) {
    this.#now = options.now ?? Date.now;
    this.#lastCallAt = this.#now();
  }

  report(): UpstreamReport {
    return this.#report;
  }

  /** When the last call (or probe) to Bitrix24 ended, in ms. */
  get lastCallAt(): number {
    return this.#lastCallAt;
  }

  /** Bitrix24 answered a call of `method`. */
  answered(method: string, answer: UpstreamAnswer): void {
    this.#lastCallAt = this.#now();
    // An answer that is not Bitrix24's JSON (a proxy's page, a portal being updated, even with 200) says
    // nothing of the portal's API.
    const json = bodyJson(answer);
    if (json === undefined) return;
    if (this.options.mode === 'oauth') {
      // The gateway holds no credentials: any answer of Bitrix24's says it is there (401 to the probe's
      // call without `auth` included).
      this.#set({ state: 'ok' }, `Bitrix24 answered ${method}`);
      return;
    }
    const refusal = webhookRefusal(answer);
    if (refusal) {
      if (method !== PROBE_METHOD) this.options.onWebhookRefused?.(refusal);
      this.#set(
        {
          state: 'refused',
          problem: `Bitrix24 refused the gateway's webhook (BITRIX24_WEBHOOK_URL) with ${refusal}: ${WEBHOOK_REFUSALS[refusal]}`,
        },
        `Bitrix24 refused the gateway's webhook (${method}: ${answer.status} ${refusal})`,
      );
      return;
    }
    // A success, or an error Bitrix24 answers only past the webhook's check (the method's own).
    const body = json.value as { error?: unknown } | null;
    const code = typeof body === 'object' && body !== null ? body.error : undefined;
    const pastAuth =
      answer.status === 200 ||
      (answer.status < 500 && answer.status !== 429 && typeof code === 'string' && !SAYS_NOTHING.has(code));
    if (pastAuth) this.#set({ state: 'ok' }, `Bitrix24 took the gateway's webhook (${method}: ${answer.status})`);
  }

  /** A call of `method` got no answer. */
  failed(method: string, error: unknown): void {
    this.#lastCallAt = this.#now();
    if (!(error instanceof UpstreamError) || error.kind === 'bad-response') return;
    const problem =
      error.kind === 'timeout'
        ? `Bitrix24 did not answer within UPSTREAM_TIMEOUT_MS (${error.detail})`
        : `Bitrix24 could not be reached (${error.detail})`;
    this.#set({ state: 'unreachable', problem }, `${method}: ${problem}`);
  }

  #set(report: UpstreamReport, why: string): void {
    const before = this.#report;
    this.#report = report;
    if (before.state === report.state && before.problem === report.problem) return;
    const line = { upstream: report.state, was: before.state, ...(report.problem && { problem: report.problem }) };
    if (report.state === 'ok') this.options.logger.info(line, `Upstream ${report.state}: ${why}`);
    else this.options.logger.warn(line, `Upstream ${report.state}: ${why}`);
  }
}

/** Schedules a callback after `ms`; returns how to cancel it. Injected by tests (an injected clock). */
export type Schedule = (ms: number, callback: () => void) => () => void;

const realSchedule: Schedule = (ms, callback) => {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export interface UpstreamProbeOptions {
  health: UpstreamHealth;
  /** Calls `server.time` through the portal's limiter; its outcome reaches `health` as any call's does. */
  probe: () => Promise<unknown>;
  /** A probe goes when no call ended for this long (UPSTREAM_PROBE_INTERVAL_MS). */
  intervalMs: number;
  logger: Logger;
  now?: () => number;
  schedule?: Schedule;
}

/**
 * Probes Bitrix24 at start, then whenever no call (nor probe) ended for `intervalMs`: a busy gateway learns
 * from its calls and is never probed. One probe at a time; a probe the limiter refuses is not retried
 * before the next interval.
 */
export class UpstreamProbe {
  readonly #now: () => number;
  readonly #schedule: Schedule;
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(private readonly options: UpstreamProbeOptions) {
    this.#now = options.now ?? Date.now;
    this.#schedule = options.schedule ?? realSchedule;
  }

  start(): void {
    void this.#probe();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  async #probe(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.options.probe();
    } catch (error) {
      // Its outcome reached the health state already; a refusal by the limiter (or a stop) is no news.
      if (!(error instanceof UpstreamError) && !(error instanceof RateLimitRejection))
        this.options.logger.warn({ err: error }, 'The upstream probe failed');
    }
    this.#next();
  }

  /** Wakes when `intervalMs` will have passed since the last call ended, and probes if none ended since. */
  #next(): void {
    if (this.#stopped) return;
    const due = this.options.health.lastCallAt + this.options.intervalMs;
    const wait = Math.max(0, due - this.#now());
    this.#cancel = this.#schedule(wait > 0 ? wait : this.options.intervalMs, () => {
      this.#cancel = undefined;
      if (this.#now() - this.options.health.lastCallAt >= this.options.intervalMs) void this.#probe();
      else this.#next();
    });
  }
}
