import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets must never be passed to the logger; the redaction below is a second
 * line of defence for the field names that could carry one.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
