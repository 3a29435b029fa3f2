import { zTransferResult } from '../../generated/zod.gen';
import { type ErrorBody, type ErrorStatus, gatewayError, isDocumentedUpstreamError } from '../error-matrix';
import type { UpstreamAnswer } from '../upstream';

export type Relayed =
  /** Bitrix24's answer conforms to the spec: pass on its status and body unchanged. */
  | { conforms: true; status: 200 | ErrorStatus; body: string; code?: string }
  /** It does not: the caller gets 502 UPSTREAM_BAD_RESPONSE; `reason` is for the log. */
  | { conforms: false; status: ErrorStatus; body: ErrorBody; reason: string };

/** Checks Bitrix24's answer against the spec's response schemas before it is passed on. */
export function relay(answer: UpstreamAnswer): Relayed {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return offContract(`status ${answer.status} with a body that is not JSON (content-type ${answer.contentType ?? 'none'})`);
  }
  if (answer.status === 200) {
    const result = zTransferResult.safeParse(parsed);
    if (result.success) return { conforms: true, status: 200, body: answer.body };
    const issue = result.error.issues[0];
    return offContract(`status 200 with a body off the TransferResult schema: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
  }
  if (isDocumentedUpstreamError(answer.status, parsed)) {
    return { conforms: true, status: answer.status as ErrorStatus, body: answer.body, code: parsed.error };
  }
  const code = (parsed as { error?: unknown })?.error;
  return offContract(`status ${answer.status} with error ${JSON.stringify(code)}, which the spec does not document from Bitrix24 under that status`);
}

function offContract(reason: string): Relayed {
  const { status, body } = gatewayError('UPSTREAM_BAD_RESPONSE', 'Bitrix24 answered with a status or body this gateway does not document');
  return { conforms: false, status, body, reason };
}
