// The application's event handler (POST /bitrix24/events, application mode): ONAPPINSTALL, ONAPPUPDATE and
// ONAPPUNINSTALL, each believed only on Bitrix24's word. An install is confirmed by exchanging its refresh
// token at the authorization server (confirm.ts), stored, and its bot registered; an update or uninstall
// must bring the application_token stored for its member_id (compared in constant time). The events of one
// member_id run one at a time, and a second install while one is in flight answers the first's outcome.
// One log line per event, never a token; the outcome also goes to `onEvent` for a metric.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../logger';
import type { BotRegistration } from '../bot';
import type { OAuthClient } from '../oauth-client';
import { sameSecret } from '../portal-bounds';
import { PortalStoreFull } from '../sqlite-portal-store';
import { type PortalRecord, type PortalStore, PortalStoreUnavailable, type TokenAnswer } from '../types';
import {
  applied,
  type EventAnswer,
  type EventOutcome,
  internalError,
  invalidEvent,
  notInstalled,
  type Result,
  rateLimited,
  refused,
  storeUnavailable,
} from './answers';
import { confirmTokens } from './confirm';
import { InstallLimiter, type InstallLimits } from './install-limit';
import { type AppEventFields, type EventName, MAX_EVENT_CHARS, readEvent } from './read';

export interface EventHandlerOptions {
  store: PortalStore;
  oauth: Pick<OAuthClient, 'refresh'>;
  /** Registers (or finds) the bot on the portal, with the record's token. */
  registerBot: (record: PortalRecord) => Promise<BotRegistration>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  limits?: InstallLimits;
  now?: () => number;
  /** Called once per event (a metric's counter); `event` is 'unknown' when the body named none. */
  onEvent?: (event: EventName | 'unknown', outcome: EventOutcome) => void;
  /**
   * Why the portals' store cannot be used now (Redis away), or undefined: an event is then answered 503
   * before anything is spent (an install's refresh token is exchanged only when its pair can be stored).
   */
  storeProblem?: () => string | undefined;
  /** The bot's registration is given up after this long (30,000 ms unless told): the portal is bot-failed. */
  botTimeoutMs?: number;
  /** The body is read up to this many characters (64 KiB unless told). */
  maxBodyChars?: number;
}

/** An event in flight for a member_id: the next events of that member_id wait for it. */
interface Flight {
  /** The SHA-256 of an install's refresh token (undefined for other events). */
  installToken: Buffer | undefined;
  done: Promise<Result>;
}

const MAX_REASON = 500;

export class EventHandler {
  readonly #store: PortalStore;
  readonly #oauth: Pick<OAuthClient, 'refresh'>;
  readonly #registerBot: (record: PortalRecord) => Promise<BotRegistration>;
  readonly #logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly #limiter: InstallLimiter;
  readonly #now: () => number;
  readonly #onEvent: EventHandlerOptions['onEvent'];
  readonly #storeProblem: EventHandlerOptions['storeProblem'];
  readonly #botTimeoutMs: number;
  readonly #maxBodyChars: number;
  /** member_id → the event in flight for it; a Map, so no member_id is special; an entry goes when it ends. */
  readonly #flights = new Map<string, Flight>();

  constructor(options: EventHandlerOptions) {
    this.#store = options.store;
    this.#oauth = options.oauth;
    this.#registerBot = options.registerBot;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#limiter = new InstallLimiter(options.limits, this.#now);
    this.#onEvent = options.onEvent;
    this.#storeProblem = options.storeProblem;
    this.#botTimeoutMs = options.botTimeoutMs ?? 30_000;
    this.#maxBodyChars = options.maxBodyChars ?? MAX_EVENT_CHARS;
  }

  /** Events in flight (for tests and the operator: zero when idle). */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Answers one event's form body, sent from `source` (the sender's address). Never rejects. */
  async handle(formText: string, source: string): Promise<EventAnswer> {
    const reading = readEvent(typeof formText === 'string' ? formText : '', this.#maxBodyChars);
    let event: EventName | undefined;
    let memberId: string | undefined;
    let result: Result;
    if ('problem' in reading) {
      ({ event, memberId } = reading);
      result = invalidEvent(reading.problem);
    } else {
      ({ event, memberId } = reading.fields);
      const problem = this.#storeProblem?.();
      result = problem
        ? storeUnavailable(`Redis: ${problem}`)
        : await this.#inTurn(reading.fields, () => this.#apply(reading.fields, source || 'unknown'));
    }
    this.#record(event, memberId, source, result);
    return result.answer;
  }

  #apply(fields: AppEventFields, source: string): Promise<Result> {
    if (fields.event === 'ONAPPINSTALL')
      return this.#install(fields as AppEventFields & { refreshToken: string }, source);
    if (fields.event === 'ONAPPUPDATE') return this.#update(fields, source);
    return this.#uninstall(fields);
  }

  /**
   * Runs `run` once no other event of the member_id is in flight. An install that finds an install in flight
   * answers that one's outcome when it brings the same refresh token (a delivery repeated: one exchange) or
   * when the first succeeded; after a first that failed, another token is judged on its own, so that a
   * forged install racing Bitrix24's cannot make the real one fail.
   */
  async #inTurn(fields: AppEventFields, run: () => Promise<Result>): Promise<Result> {
    const installToken = fields.event === 'ONAPPINSTALL' ? digest(fields.refreshToken!) : undefined;
    for (let flight = this.#flights.get(fields.memberId); flight; flight = this.#flights.get(fields.memberId)) {
      // Bounded: every step of an event has its deadline (the refresh's, the bot's; the store is local).
      const first = await flight.done;
      const same = installToken && flight.installToken && timingSafeEqual(installToken, flight.installToken);
      if (installToken && flight.installToken && (same || first.answer.status === 200)) return first;
    }
    const flight: Flight = { installToken, done: run().catch((error: unknown) => this.#failed(error)) };
    this.#flights.set(fields.memberId, flight);
    try {
      return await flight.done;
    } finally {
      if (this.#flights.get(fields.memberId) === flight) this.#flights.delete(fields.memberId);
    }
  }

  async #install(fields: AppEventFields & { refreshToken: string }, source: string): Promise<Result> {
    const limited = this.#limit(source);
    if (limited) return limited;
    const confirmed = await confirmTokens(this.#oauth, fields, 'install');
    if ('result' in confirmed) return confirmed.result;
    const now = this.#now();
    // A re-install replaces the portal whole (repairing one whose tokens were lost).
    const record: PortalRecord = {
      ...portalOf(confirmed.answer, confirmed.endpoint, now),
      state: 'installing',
      applicationToken: fields.applicationToken,
      installedAt: now,
    };
    await this.#store.put(record);
    return this.#withBot(fields.event, record, 'installed');
  }

  /**
   * An update with the stored application_token retries a bot that failed; its tokens are not needed (the
   * stored pair is live, and refreshing without need is what the docs warn of). An update that brings
   * another application_token (Bitrix24 may renew it on an update) is believed only as an install is: its
   * refresh token exchanged and the answer agreeing; then the new application_token and pair are stored.
   * So is an update with tokens of a portal whose tokens were lost: it repairs it as a re-install would.
   */
  async #update(fields: AppEventFields, source: string): Promise<Result> {
    const record = await this.#store.get(fields.memberId);
    if (!record) return notInstalled(fields.memberId);
    const known = sameSecret(record.applicationToken, fields.applicationToken);
    if (known && record.state !== 'needs-reinstall') {
      if (record.state === 'ready') return applied(fields.event, record.memberId, record.state, 'updated');
      return this.#withBot(fields.event, record, 'updated');
    }
    if (fields.refreshToken === undefined) {
      return known
        ? applied(fields.event, record.memberId, record.state, 'updated')
        : refused(tokenMismatch(fields.memberId));
    }
    const limited = this.#limit(source);
    if (limited) return limited;
    const confirmed = await confirmTokens(this.#oauth, { ...fields, refreshToken: fields.refreshToken }, 'update');
    if ('result' in confirmed) return confirmed.result;
    const repaired = record.state === 'ready' ? 'ready' : 'installing';
    const next: PortalRecord = {
      ...record,
      ...portalOf(confirmed.answer, confirmed.endpoint, this.#now()),
      state: repaired,
      applicationToken: fields.applicationToken,
      refreshedAt: this.#now(),
    };
    if (repaired === 'installing') delete next.stateReason;
    await this.#store.put(next);
    if (repaired === 'ready') return applied(fields.event, next.memberId, 'ready', 'updated');
    return this.#withBot(fields.event, next, 'updated');
  }

  async #uninstall(fields: AppEventFields): Promise<Result> {
    const record = await this.#store.get(fields.memberId);
    if (!record) return notInstalled(fields.memberId);
    if (!sameSecret(record.applicationToken, fields.applicationToken)) return refused(tokenMismatch(fields.memberId));
    await this.#store.delete(fields.memberId);
    return applied(fields.event, fields.memberId, 'uninstalled', 'uninstalled');
  }

  /** Registers the bot and stores the portal ready (with its id) or bot-failed (with the reason). */
  async #withBot(event: EventName, record: PortalRecord, outcome: 'installed' | 'updated'): Promise<Result> {
    const registration = await this.#registration(record);
    const ok =
      'botId' in registration
        ? await this.#store.setState(record.memberId, 'ready', { botId: registration.botId })
        : await this.#store.setState(record.memberId, 'bot-failed', { reason: registration.problem });
    // Only something besides the events (an operator) deletes a portal while its event is in flight.
    const state = ok ? ('botId' in registration ? 'ready' : 'bot-failed') : 'uninstalled';
    if ('botId' in registration) return applied(event, record.memberId, state, outcome);
    return applied(event, record.memberId, state, 'bot-failed', registration.problem);
  }

  /** The bot's registration within its deadline; a failure or a timeout is a problem in words. */
  async #registration(record: PortalRecord): Promise<BotRegistration> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<BotRegistration>((resolve) => {
      timer = setTimeout(
        () => resolve({ problem: `the bot's registration did not finish within ${this.#botTimeoutMs} ms` }),
        this.#botTimeoutMs,
      );
    });
    try {
      const registration = await Promise.race([
        this.#registerBot(record).catch((): BotRegistration => ({ problem: "the bot's registration failed" })),
        late,
      ]);
      if ('botId' in registration && Number.isSafeInteger(registration.botId) && registration.botId > 0)
        return registration;
      const problem = 'problem' in registration ? String(registration.problem) : 'the bot registration gave no bot id';
      return { problem: problem.length > MAX_REASON ? `${problem.slice(0, MAX_REASON)}…` : problem };
    } finally {
      clearTimeout(timer);
    }
  }

  #limit(source: string): Result | undefined {
    const verdict = this.#limiter.take(source);
    return verdict.allowed ? undefined : rateLimited(verdict.scope, verdict.retryAfterSeconds);
  }

  /** The gateway's own failure (the store's): 500, its class named in the log line only (a message may quote). */
  #failed(error: unknown): Result {
    if (error instanceof PortalStoreUnavailable) return storeUnavailable(error.why);
    if (error instanceof PortalStoreFull)
      return internalError(`The gateway holds its maximum of ${error.maxPortals} portals; nothing was stored`);
    return {
      ...internalError(),
      reason: `failed unexpectedly (${error instanceof Error ? error.name : typeof error})`,
    };
  }

  /** The event's one log line and its count. */
  #record(event: EventName | undefined, memberId: string | undefined, source: string, result: Result): void {
    const line = {
      event: event ?? null,
      member_id: memberId ?? null,
      outcome: result.outcome,
      status: result.answer.status,
      source: source.length > 64 ? `${source.slice(0, 64)}…` : source,
      ...(result.reason !== undefined && { reason: result.reason }),
    };
    if (result.outcome === 'failed') this.#logger.error(line, 'application event');
    else if (result.answer.status === 200 && result.outcome !== 'bot-failed')
      this.#logger.info(line, 'application event');
    else this.#logger.warn(line, 'application event');
    try {
      this.#onEvent?.(event ?? 'unknown', result.outcome);
    } catch {
      // A metric's failure is not the event's.
    }
  }
}

/** The portal as the authorization server's answer gives it: its address and pair. */
function portalOf(
  answer: TokenAnswer,
  endpoint: URL,
  now: number,
): Pick<PortalRecord, 'memberId' | 'clientEndpoint' | 'domain' | 'tokens'> {
  return {
    memberId: answer.member_id,
    clientEndpoint: answer.client_endpoint,
    domain: endpoint.host,
    tokens: {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: answer.expires * 1000,
      issuedAt: now,
    },
  };
}

function tokenMismatch(memberId: string): string {
  return `The event's auth[application_token] is not the one stored for portal ${memberId}; nothing was changed`;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
