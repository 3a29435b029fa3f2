import { EventEmitter } from 'node:events';
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets must never be passed to the logger; the redaction below is a second
 * line of defence for the field names that could carry one.
 *
 * By default to stdout, asynchronously (see LogDestination), so a request never waits for the log. On a
 * normal stop main.ts waits for the queue to be written (endLog) before process.exit; otherwise (an uncaught
 * exception, a stdout stuck past the deadline) pino flushes what is left synchronously as the process exits.
 * src/logger/index.test.ts checks it on the real process.
 */
export function createLogger(level: string, destination: pino.DestinationStream = new LogDestination()): Logger {
  return pino(
    {
      level,
      base: { service: 'bitrix24-transfer-gateway' },
      timestamp: isoTime,
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

/**
 * stdout (or `dest`), asynchronously: lines are gathered into one write(2) once they fill 32 KB, or within
 * 100 ms at the latest (a line each was a trip through libuv's thread pool per request, at one connection a
 * tenth of a transfer's CPU). pino's sonic-boom in its buffer mode, each line handed over as its bytes: in its
 * string mode it measures the whole text gathered so far at every line (the UTF-8 length of a string V8 must
 * first flatten). An access line to a file cost 3.4 µs of CPU so, with 4 KB writes, and 2.8 µs now, of
 * which pino's formatting is 1.4 (bench/log-line.ts). What is gathered is sonic-boom's, so pino's own flush
 * at exit writes it.
 */
export class LogDestination extends EventEmitter implements pino.DestinationStream {
  readonly #sonic: ReturnType<typeof pino.destination>;

  /** `dest`: a file descriptor (stdout by default) or a file's path. */
  constructor(dest: number | string = 1) {
    super();
    this.#sonic = pino.destination({
      dest,
      sync: false,
      contentMode: 'buffer',
      minLength: 32_768,
      maxWrite: 65_536,
      periodicFlush: 100,
    });
    this.#sonic.once('close', () => this.emit('close'));
  }

  write(line: string): void {
    this.#sonic.write(Buffer.from(line) as never);
  }

  /** Starts writing what is gathered now; `done` once it is written. */
  flush(done?: (error?: Error) => void): void {
    this.#sonic.flush(done);
  }

  flushSync(): void {
    this.#sonic.flushSync();
  }

  /** Writes what is gathered, then closes; emits 'close' once done. */
  end(): void {
    this.#sonic.end();
  }
}

/**
 * pino's `stdTimeFunctions.isoTime`, its text made once a millisecond: `toISOString` was a tenth of a log
 * line's cost, and a busy gateway logs several lines a millisecond.
 */
let lastMs = Number.NaN;
let lastTime = '';
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/**
 * Ends the logger's destination once every line logged so far is written, in order; resolves then, or after
 * `deadlineMs` whatever stdout does. Needed before process.exit: pino's flush at exit writes the queued lines
 * at once, while the write already in flight (in libuv's thread pool) lands after them, so the last lines
 * would come out of order.
 */
export function endLog(logger: Logger, deadlineMs: number): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (!(stream instanceof EventEmitter) || !('end' in stream) || typeof stream.end !== 'function') {
    return Promise.resolve();
  }
  const end = stream.end.bind(stream) as () => void;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, deadlineMs);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    end();
  });
}
