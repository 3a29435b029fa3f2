// The emulator's test values of the REST platform, which act for every method: with each method's own
// (src/operations/<method>/, `testValues`), the table "The embedded emulator's test values" in openapi.yaml's
// info.description, keyed on (int)CHAT_ID. A real portal gives these values no special meaning.

/** Where in the server's order a test value acts; the first one reached answers. */
export type Stage =
  /** After auth and the rate limit, before the method runs: errors of the REST platform itself. */
  | 'platform'
  /** Every session method's step 1, the authorization type check. */
  | 'auth-type'
  /** The method's own steps, after its parameter checks (each method's `testValues`). */
  | 'method';

export type Answer =
  | { kind: 'error'; status: number; error: string; description: string }
  /** 200 with an HTML page instead of JSON. */
  | { kind: 'not-json' }
  /** The TCP connection is destroyed without an answer. */
  | { kind: 'hang-up' }
  /** Success, after `slowResponseMs`. */
  | { kind: 'slow' };

export type Sentinel = { stage: Stage } & Answer;

const error = (status: number, error: string, description: string) =>
  ({ kind: 'error', status, error, description }) as const;

export const sentinels: Readonly<Record<number, Sentinel>> = {
  4004: { stage: 'platform', ...error(400, 'INVALID_REQUEST', 'Https required') },
  4011: { stage: 'platform', ...error(401, 'NO_AUTH_FOUND', 'Wrong authorization data') },
  4012: { stage: 'platform', ...error(401, 'expired_token', 'The access token provided has expired') },
  4031: {
    stage: 'auth-type',
    ...error(403, 'WRONG_AUTH_TYPE', 'Access for this method not allowed by session authorization.'),
  },
  4032: { stage: 'platform', ...error(403, 'ACCESS_DENIED', 'REST API is available only on commercial plans') },
  4033: { stage: 'platform', ...error(403, 'INVALID_CREDENTIALS', 'Invalid request credentials') },
  4034: {
    stage: 'platform',
    ...error(403, 'insufficient_scope', 'The request requires higher privileges than provided by the webhook token'),
  },
  4035: { stage: 'platform', ...error(403, 'user_access_error', 'The user does not have access to the application') },
  4041: { stage: 'platform', ...error(404, 'ERROR_MANIFEST_IS_NOT_AVAILABLE', 'Manifest is not available') },
  4291: { stage: 'platform', ...error(429, 'OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.') },
  5001: { stage: 'platform', ...error(500, 'INTERNAL_SERVER_ERROR', 'Internal server error') },
  5002: { stage: 'platform', ...error(500, 'ERROR_UNEXPECTED_ANSWER', 'Server returned an unexpected response') },
  5003: { stage: 'platform', ...error(500, 'PORTAL_DELETED', 'Portal was deleted') },
  5031: { stage: 'platform', ...error(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests') },
  5032: { stage: 'platform', ...error(503, 'OVERLOAD_LIMIT', 'REST API is blocked due to overload') },
  5901: { stage: 'platform', kind: 'not-json' },
  5902: { stage: 'platform', ...error(418, 'I_AM_A_TEAPOT', 'undocumented') },
  5903: { stage: 'platform', kind: 'hang-up' },
  5904: { stage: 'platform', kind: 'slow' },
};

/** The test value `chatId` stands for, if any. */
export function sentinelOf(chatId: number): Sentinel | undefined {
  return Object.hasOwn(sentinels, chatId) ? sentinels[chatId] : undefined;
}
