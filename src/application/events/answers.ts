// The event handler's answers, exactly the spec's (receiveBitrix24Event): 200 EventApplied, and the errors
// EventError400/403/404/429/503 (and 500 for the gateway's own failure), each with its outcome for the log
// line and the metric. A description is built from fixed words, field names and member ids only: never a
// token, a secret or an application_token.
import type { PortalState } from '../types';
import type { EventName } from './read';

/** What the handler answers: the route writes it as JSON. */
export interface EventAnswer {
  status: number;
  body: object;
  headers?: Record<string, string>;
}

/** An event's outcome, for the log line and the metric: a small fixed set. */
export type EventOutcome =
  | 'installed'
  | 'bot-failed'
  | 'updated'
  | 'uninstalled'
  | 'invalid'
  | 'refused'
  | 'not-installed'
  | 'rate-limited'
  | 'unavailable'
  | 'failed';

export const EVENT_OUTCOMES: readonly EventOutcome[] = [
  'installed',
  'bot-failed',
  'updated',
  'uninstalled',
  'invalid',
  'refused',
  'not-installed',
  'rate-limited',
  'unavailable',
  'failed',
];

/** An answer with what the log line says of it. */
export interface Result {
  answer: EventAnswer;
  outcome: EventOutcome;
  /** In words, for the log (the error's description, or why the bot failed). Never a secret. */
  reason?: string;
}

/** How long Bitrix24 (or the installer) is told to wait after the authorization server gave no answer. */
const UNAVAILABLE_RETRY_SECONDS = 5;

export function applied(
  event: EventName,
  memberId: string,
  state: PortalState | 'uninstalled',
  outcome: EventOutcome,
  reason?: string,
): Result {
  return { answer: { status: 200, body: { event, member_id: memberId, state } }, outcome, ...(reason && { reason }) };
}

const failure = (
  status: number,
  error: string,
  description: string,
  outcome: EventOutcome,
  headers?: Record<string, string>,
): Result => ({
  answer: { status, body: { error, error_description: description }, ...(headers && { headers }) },
  outcome,
  reason: description,
});

export const invalidEvent = (description: string) => failure(400, 'INVALID_EVENT', description, 'invalid');
export const refused = (description: string) => failure(403, 'EVENT_REFUSED', description, 'refused');
export const notInstalled = (memberId: string) =>
  failure(404, 'PORTAL_NOT_INSTALLED', `The application is not installed on portal ${memberId}`, 'not-installed');
export const rateLimited = (scope: 'source' | 'overall', retryAfterSeconds: number) =>
  failure(
    429,
    'EVENT_RATE_LIMITED',
    `Too many install events ${scope === 'source' ? 'from this address' : 'overall'}; retry after Retry-After seconds`,
    'rate-limited',
    { 'Retry-After': String(retryAfterSeconds) },
  );
export const unavailable = (description: string) =>
  failure(503, 'AUTHORIZATION_SERVER_UNAVAILABLE', description, 'unavailable', {
    'Retry-After': String(UNAVAILABLE_RETRY_SECONDS),
  });
export const storeUnavailable = (why: string) =>
  failure(
    503,
    'PORTAL_STORE_UNAVAILABLE',
    `The store of the application's portals cannot be reached (${why}); nothing was stored`,
    'unavailable',
    { 'Retry-After': '1' },
  );
export const internalError = (description = 'Internal server error') =>
  failure(500, 'INTERNAL_SERVER_ERROR', description, 'failed');
