// Records which (status, error code) pairs the gateway really answered over HTTP, so that the suite can
// fail when a row of the spec's error matrix was never produced. A pair is recorded from the answer as
// it arrived, never from what a test expected.
import { type MatrixRow, specMatrix } from '../src/error-matrix';
import { type Answer, answerOf } from '../src/test-support/stack';
import { FINISH, type GeneratedRequest, MESSAGE_SEND, type MethodName, OPERATOR, TRANSFER } from './arbitraries';

export { type Answer, answerOf };

const key = (status: number, code: string) => `${status} ${code}`;

/** Records, per method: an answer of one method's operations produces a row of that method's matrix only. */
export class MatrixRecorder {
  /** method → "status code" → where it was first produced (a property's name, or a targeted request's). */
  readonly #produced = new Map<MethodName, Map<string, string>>();

  #of(method: MethodName): Map<string, string> {
    const produced = this.#produced.get(method) ?? new Map<string, string>();
    this.#produced.set(method, produced);
    return produced;
  }

  /**
   * Notes an answer that arrived from the gateway to a request for `method`. Successes and bodies without a
   * string `error` note nothing.
   */
  note(answer: Answer, by: string, method: MethodName = TRANSFER): void {
    const code = (answer.body as { error?: unknown } | null)?.error;
    const produced = this.#of(method);
    if (answer.status >= 400 && typeof code === 'string' && !produced.has(key(answer.status, code))) {
      produced.set(key(answer.status, code), by);
    }
  }

  /** The rows of `rows` that no answer for `method` produced. */
  missing(rows: MatrixRow[], method: MethodName = TRANSFER): string[] {
    const produced = this.#of(method);
    return rows.map((row) => key(row.status, row.code)).filter((row) => !produced.has(row));
  }

  /** Produced pairs for `method` that are not rows of `rows` (an answer off the matrix). */
  offMatrix(rows: MatrixRow[], method: MethodName = TRANSFER): string[] {
    const documented = new Set(rows.map((row) => key(row.status, row.code)));
    return [...this.#of(method).keys()].filter((pair) => !documented.has(pair));
  }

  /** Every pair produced for `method` and its first producer, for the report. */
  entries(method: MethodName = TRANSFER): [string, string][] {
    return [...this.#of(method)].sort(([a], [b]) => a.localeCompare(b));
  }
}

/** The operation at each method's plain path, whose responses its .json and webhook-style paths share. */
const operationIds: Record<MethodName, string> = {
  [TRANSFER]: 'transferSession',
  [OPERATOR]: 'operatorSession',
  [MESSAGE_SEND]: 'sendSessionMessage',
  [FINISH]: 'finishSession',
};
export const operationIdOf = (method: MethodName): string => operationIds[method];

/**
 * A method's error matrix (the transfer's by default), read from openapi/openapi.yaml: the rows its `/rest/…`
 * paths can answer, in webhook and OAuth mode (a code only application mode answers, such as
 * PORTAL_NOT_INSTALLED, says so with `x-upstream-modes` on its example).
 */
export const matrix = (method: MethodName = TRANSFER): MatrixRow[] =>
  specMatrix(operationIds[method]).filter(
    (row) => row.modes === undefined || row.modes.includes('webhook') || row.modes.includes('oauth'),
  );

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
