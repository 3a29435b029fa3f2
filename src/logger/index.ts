import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets must never be passed to the logger; the redaction below is a second
 * line of defence for the field names that could carry one.
 *
 * By default to stdout, asynchronously: a line is queued and written by the next write(2), lines queued
 * while one is in flight go out together, so a request never waits for the log. Nothing is lost on exit:
 * pino flushes such a destination synchronously when the process exits (process.exit, after SIGTERM's
 * drain in main.ts, or an uncaught exception), which src/logger/index.test.ts checks on the real process.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false }),
): Logger {
  return pino(
    {
      level,
      base: { service: 'bitrix24-transfer-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'auth',
          '*.auth',
          'authorization',
          '*.authorization',
          'webhookUrl',
          '*.webhookUrl',
          'CLIENT_ID',
          '*.CLIENT_ID',
          'key',
          '*.key',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
