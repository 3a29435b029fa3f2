// Records which (status, error code) pairs the gateway really answered over HTTP, so that the suite can
// fail when a row of the spec's error matrix was never produced. A pair is recorded from the answer as
// it arrived, never from what a test expected.
import { type MatrixRow, specMatrix } from '../src/error-matrix';
import { type Answer, answerOf } from '../src/test-support/stack';
import type { GeneratedRequest } from './arbitraries';

export { type Answer, answerOf };

const key = (status: number, code: string) => `${status} ${code}`;

export class MatrixRecorder {
  /** "status code" → where it was first produced (a property's name, or a targeted request's). */
  readonly #produced = new Map<string, string>();

  /** Notes an answer that arrived from the gateway. Successes and bodies without a string `error` note nothing. */
  note(answer: Answer, by: string): void {
    const code = (answer.body as { error?: unknown } | null)?.error;
    if (answer.status >= 400 && typeof code === 'string' && !this.#produced.has(key(answer.status, code))) {
      this.#produced.set(key(answer.status, code), by);
    }
  }

  /** The rows of `rows` that no answer produced. */
  missing(rows: MatrixRow[]): string[] {
    return rows.map((row) => key(row.status, row.code)).filter((row) => !this.#produced.has(row));
  }

  /** Produced pairs that are not rows of `rows` (an answer off the matrix). */
  offMatrix(rows: MatrixRow[]): string[] {
    const documented = new Set(rows.map((row) => key(row.status, row.code)));
    return [...this.#produced.keys()].filter((pair) => !documented.has(pair));
  }

  /** Every produced pair and its first producer, for the report. */
  entries(): [string, string][] {
    return [...this.#produced].sort(([a], [b]) => a.localeCompare(b));
  }
}

/** The transfer operation's error matrix, read from openapi/openapi.yaml. */
export const matrix = (): MatrixRow[] => specMatrix('transferSession');

/** Sends `request` to `url` (the gateway's path, or the emulator's webhook URL of the method). */
export async function send(
  url: string,
  request: GeneratedRequest,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': request.contentType, ...headers },
    body: request.body,
    signal: AbortSignal.timeout(10_000),
  });
  return answerOf(response);
}
