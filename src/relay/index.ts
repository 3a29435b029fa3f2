import type { z } from 'zod';
import { type ErrorBody, type ErrorStatus, gatewayError } from '../error-matrix';
import { preview } from '../preview';
import { bodyJson, type UpstreamAnswer } from '../upstream';
import { Redactor } from './redactor';

export { Redactor };

/** What an operation documents of Bitrix24's answers (the pipeline's MethodOperation has it). */
export interface DocumentedAnswers {
  schemas: { result: z.ZodType; errors: ReadonlyMap<number, z.ZodObject> };
  /** The codes Bitrix24 may answer for the operation; any other from upstream is off the contract. */
  upstreamCodes: ReadonlySet<string>;
}

export type Relayed =
  /**
   * Bitrix24's answer conforms to the spec: pass on its status, and `body`, the answer as the spec documents
   * it (as text). `error` is the parsed error envelope of an error answer.
   */
  | { conforms: true; status: 200; body: string }
  | { conforms: true; status: ErrorStatus; body: string; error: ErrorBody }
  /** It does not: the caller gets 502 UPSTREAM_BAD_RESPONSE; `reason` is for the log. */
  | { conforms: false; status: ErrorStatus; body: ErrorBody; reason: string };

/**
 * Reads Bitrix24's answer by the spec's response schemas of the operation: an answer the spec documents is
 * passed on as the schema reads it (its documented fields only), with every secret `redactor` knows (the
 * webhook code, CLIENT_ID, tokens, keys) replaced in its text by `[redacted]`: a portal that quotes the
 * request in an error must not hand the gateway's credentials to the caller. Any other answer is refused.
 */
export function documentedAnswer(
  answer: UpstreamAnswer,
  documented: DocumentedAnswers,
  redactor: Redactor = new Redactor(),
): Relayed {
  const json = bodyJson(answer);
  if (json === undefined) {
    return offContract(
      `status ${answer.status} with a body that is not JSON (content-type ${answer.contentType ?? 'none'})`,
    );
  }
  const parsed = json.value;
  // A replacer for JSON.stringify that redacts every string, when the answer may hold a secret at all.
  const hide = redactor.mayBeIn(answer.body)
    ? (_key: string, value: unknown) => (typeof value === 'string' ? redactor.redact(value) : value)
    : undefined;
  if (answer.status === 200) {
    const result = documented.schemas.result.safeParse(parsed);
    if (result.success)
      return { conforms: true, status: 200, body: asDocumented(answer.body, parsed, result.data, hide) };
    const issue = result.error.issues[0];
    return offContract(
      `status 200 with a body off the result schema: ${issue?.path.join('.') || 'body'}: ${issue?.message}`,
    );
  }
  const code = (parsed as { error?: unknown } | null)?.error;
  const schema = documented.schemas.errors.get(answer.status);
  const read = typeof code === 'string' && documented.upstreamCodes.has(code) ? schema?.safeParse(parsed) : undefined;
  if (read?.success) {
    const body = asDocumented(answer.body, parsed, read.data, hide);
    return { conforms: true, status: answer.status as ErrorStatus, body, error: JSON.parse(body) as ErrorBody };
  }
  return offContract(
    `status ${answer.status} with error ${redactor.redact(preview(code, 64))}, which the spec does not document from Bitrix24 under that status`,
  );
}

/**
 * The answer to pass on: Bitrix24's own bytes when they hold exactly the documented fields and no secret
 * (the usual case, and the cheapest), otherwise the documented fields, re-serialised and redacted.
 */
function asDocumented(
  raw: string,
  parsed: unknown,
  read: unknown,
  hide: ((key: string, value: unknown) => unknown) | undefined,
): string {
  return hide === undefined && sameKeys(parsed, read, 0) ? raw : JSON.stringify(read, hide);
}

/** True when the schema's reading kept every key of the answer (a few levels deep: the documented depth). */
function sameKeys(input: unknown, output: unknown, depth: number): boolean {
  if (typeof input !== 'object' || input === null || typeof output !== 'object' || output === null) return true;
  const keys = Object.keys(input);
  if (depth > 2 || keys.length !== Object.keys(output).length) return false;
  return keys.every((key) =>
    sameKeys((input as Record<string, unknown>)[key], (output as Record<string, unknown>)[key], depth + 1),
  );
}

function offContract(reason: string): Relayed {
  const { status, body } = gatewayError(
    'UPSTREAM_BAD_RESPONSE',
    'Bitrix24 answered with a status or body this gateway does not document',
  );
  return { conforms: false, status, body, reason };
}
