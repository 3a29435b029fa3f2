// What the emulator puts on the wire, in Bitrix24's shapes.
import type { Time } from '../../generated/types.gen';

/** Bitrix24's error envelope; nothing else is ever in an error body. */
export interface ErrorEnvelope {
  error: string;
  error_description: string;
}

/** The `time` block of every successful REST answer, as the spec describes Bitrix24's. */
export type { Time };

export interface Success {
  result: true;
  time: Time;
}

export function json(status: number, body: ErrorEnvelope | Success): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

export function errorAnswer(status: number, error: string, description: string): Response {
  return json(status, { error, error_description: description });
}

export const noAuth = () => errorAnswer(401, 'NO_AUTH_FOUND', 'Wrong authorization data');
export const methodNotFound = () => errorAnswer(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
export const queryLimitExceeded = () => errorAnswer(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests');
export const operationTimeLimit = () =>
  errorAnswer(429, 'OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.');
export const internalServerError = () => errorAnswer(500, 'INTERNAL_SERVER_ERROR', 'Internal server error');

export function notJson(): Response {
  return new Response(
    '<!DOCTYPE html><html><head><title>Bitrix24</title></head><body>The portal is being updated.</body></html>',
    {
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
    },
  );
}

/** The `time` block of a call that started and finished at the given ms instants. */
export function time(startMs: number, finishMs: number, operating: number, operatingResetAtMs?: number): Time {
  const seconds = (ms: number) => round(ms / 1000);
  const duration = round((finishMs - startMs) / 1000);
  return {
    start: seconds(startMs),
    finish: seconds(finishMs),
    duration,
    processing: duration,
    date_start: rfc3339(startMs),
    date_finish: rfc3339(finishMs),
    operating: round(operating),
    ...(operating > 0 && operatingResetAtMs !== undefined ? { operating_reset_at: seconds(operatingResetAtMs) } : {}),
  };
}

/** `2024-10-11T10:00:00+00:00`, PHP's DATE_ATOM in UTC. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

// Six decimals, as PHP's microtime gives them, without binary noise such as 0.30000000000000004.
const round = (value: number) => Math.round(value * 1e6) / 1e6;
