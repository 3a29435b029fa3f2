import type { z } from 'zod';
import { zTransferResult } from '../../generated/zod.gen';
import { type ErrorBody, type ErrorStatus, errorSchemas, gatewayError, isDocumentedUpstreamError } from '../error-matrix';
import { preview } from '../preview';
import type { UpstreamAnswer } from '../upstream';

export type Relayed =
  /** Bitrix24's answer conforms to the spec: pass on its status, and its body as the spec documents it. */
  | { conforms: true; status: 200 | ErrorStatus; body: string; code?: string }
  /** It does not: the caller gets 502 UPSTREAM_BAD_RESPONSE; `reason` is for the log. */
  | { conforms: false; status: ErrorStatus; body: ErrorBody; reason: string };

/** Shorter strings are not secret-like, and redacting them would garble ordinary words. */
const MIN_SECRET_LENGTH = 4;
const REDACTED = '[redacted]';

/**
 * Checks Bitrix24's answer against the spec's response schemas before it is passed on. What is passed on is
 * the answer as the schema reads it (its documented fields only), with every occurrence of `secrets` (the
 * webhook code, CLIENT_ID, tokens, keys) in its text replaced by `[redacted]`: a portal that quotes the
 * request in an error must not hand the gateway's credentials to the caller.
 */
export function relay(answer: UpstreamAnswer, secrets: readonly string[] = []): Relayed {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return offContract(`status ${answer.status} with a body that is not JSON (content-type ${answer.contentType ?? 'none'})`);
  }
  const hide = redactor(secrets);
  if (answer.status === 200) {
    const result = zTransferResult.safeParse(parsed);
    if (result.success) return { conforms: true, status: 200, body: JSON.stringify(result.data, hide) };
    const issue = result.error.issues[0];
    return offContract(`status 200 with a body off the TransferResult schema: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
  }
  if (isDocumentedUpstreamError(answer.status, parsed)) {
    const documented = (errorSchemas[answer.status as ErrorStatus] as z.ZodObject).parse(parsed);
    return { conforms: true, status: answer.status as ErrorStatus, body: JSON.stringify(documented, hide), code: parsed.error };
  }
  const code = (parsed as { error?: unknown } | null)?.error;
  return offContract(
    `status ${answer.status} with error ${hide('', preview(code, 64))}, which the spec does not document from Bitrix24 under that status`,
  );
}

/** A JSON.stringify replacer that redacts `secrets` in every string. */
function redactor(secrets: readonly string[]): (key: string, value: unknown) => unknown {
  const hidden = [...new Set(secrets.filter((secret) => secret.length >= MIN_SECRET_LENGTH))];
  if (hidden.length === 0) return (_key, value) => value;
  // Longest first, so that a secret containing another is redacted whole.
  hidden.sort((a, b) => b.length - a.length);
  return (_key, value) => {
    if (typeof value !== 'string') return value;
    let text = value;
    for (const secret of hidden) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
    return text;
  };
}

function offContract(reason: string): Relayed {
  const { status, body } = gatewayError('UPSTREAM_BAD_RESPONSE', 'Bitrix24 answered with a status or body this gateway does not document');
  return { conforms: false, status, body, reason };
}
