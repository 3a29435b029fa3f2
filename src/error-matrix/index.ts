import type { z } from 'zod';
import type * as generated from '../../generated/zod.gen';
import {
  type OpenApiDocument,
  type Operation,
  operations,
  type ResponseObject,
  resolve,
  type SchemaObject,
  spec,
} from '../spec';

// Every schema the spec names `…Error<status>` is an error envelope (and PathNotFound, the answer to a path
// not served); the types below are read from them, so that a code the spec drops stops compiling where the
// gateway answers it.
type StatusSchemaName = Extract<keyof typeof generated, `z${string}Error${number}`>;
type ErrorSchemaName = StatusSchemaName | 'zPathNotFound';
/** Every error status the spec documents. */
export type ErrorStatus = StatusSchemaName extends `z${string}Error${infer S extends number}` ? S : never;
/** Every error code the spec documents, of any operation. */
export type ErrorCode = z.infer<(typeof generated)[ErrorSchemaName]>['error'];
/** Bitrix24's error envelope. */
export interface ErrorBody {
  error: ErrorCode;
  error_description: string;
}
/** An error answer: its status and its body. */
export interface Rejection {
  status: ErrorStatus;
  body: ErrorBody;
  /** The body's text, when it is Bitrix24's own answer relayed (its bytes, as the spec documents them). */
  text?: string;
}

/** One row of the spec's error matrix. */
export interface MatrixRow {
  status: number;
  code: string;
  /** The named example of this code, when the spec has one. */
  example?: unknown;
  /** Who answers this code (the example's `x-source`). */
  source?: ErrorSource;
  /** An answer with this code means the call was not executed (the example's `x-not-executed`). */
  notExecuted?: boolean;
  /** The gateway modes that answer this code (the example's `x-upstream-modes`); absent, every mode. */
  modes?: string[];
}

export type ErrorSource = 'bitrix24' | 'gateway' | 'both';

/**
 * The error matrix of one operation, read from the spec itself: every value of each status's `error`
 * enum, with the example named after it.
 */
export function specMatrix(operationId = 'transferSession', doc: OpenApiDocument = spec): MatrixRow[] {
  const operation = findOperation(operationId, doc);
  return Object.entries(operation.responses)
    .filter(([status]) => Number(status) >= 400)
    .flatMap(([status, ref]) => {
      const content = resolve<ResponseObject>(ref, doc).content?.['application/json'];
      const schema = resolve<SchemaObject>(content?.schema ?? { $ref: '#/missing' }, doc);
      const codes = (resolve<SchemaObject>(schema.properties?.error ?? {}, doc).enum ?? []) as string[];
      return codes.map((code) => {
        const example = content?.examples?.[code] as
          | { value?: unknown; 'x-source'?: ErrorSource; 'x-not-executed'?: boolean; 'x-upstream-modes'?: string[] }
          | undefined;
        return {
          status: Number(status),
          code,
          example: example?.value,
          source: example?.['x-source'],
          ...(example?.['x-not-executed'] === true && { notExecuted: true }),
          ...(example?.['x-upstream-modes'] && { modes: example['x-upstream-modes'] }),
        };
      });
    });
}

export function findOperation(operationId: string, doc: OpenApiDocument = spec): Operation {
  for (const item of Object.values(doc.paths)) {
    for (const operation of Object.values(item)) if (operation.operationId === operationId) return operation;
  }
  throw new Error(`No operation ${operationId} in the spec`);
}

/** The status of every code in the spec: each code has one status, whichever operation answers it. */
const statusOfCode = new Map<string, ErrorStatus>();
for (const { operation } of operations()) {
  for (const { code, status } of specMatrix(operation.operationId)) {
    const known = statusOfCode.get(code);
    if (known !== undefined && known !== status) throw new Error(`${code} is documented under ${known} and ${status}`);
    statusOfCode.set(code, status as ErrorStatus);
  }
}

/** True when `code` is a code the spec documents (for some operation). */
export function isErrorCode(code: string): code is ErrorCode {
  return statusOfCode.has(code);
}

/** The one status the spec documents for `code`. */
export function statusOf(code: ErrorCode): ErrorStatus {
  const status = statusOfCode.get(code);
  if (status === undefined) throw new Error(`${code} is not in the error matrix`);
  return status;
}

/** Bitrix24's error envelope for `code`, with the status the spec gives it. */
export function gatewayError(code: ErrorCode, description: string): Rejection {
  return { status: statusOf(code), body: { error: code, error_description: description } };
}

const documentedPairs = new Map<string, Set<string>>();

/** True when `body` is an error the spec documents under `status` for `operationId`. */
export function isDocumentedError(status: number, body: unknown, operationId = 'transferSession'): boolean {
  let pairs = documentedPairs.get(operationId);
  if (!pairs) {
    pairs = new Set(specMatrix(operationId).map((row) => `${row.status} ${row.code}`));
    documentedPairs.set(operationId, pairs);
  }
  const row = pairs.has(`${status} ${(body as ErrorBody)?.error}`) || undefined;
  const keys = body && typeof body === 'object' ? Object.keys(body) : [];
  return (
    row !== undefined &&
    keys.every((key) => key === 'error' || key === 'error_description') &&
    typeof (body as ErrorBody).error_description === 'string'
  );
}

/** The realm of the gateway's own API keys, in its `WWW-Authenticate` challenges. */
export const gatewayRealm = 'bitrix24-transfer-gateway';

/**
 * The `WWW-Authenticate` challenge of a 401 answer (RFC 9110 requires one on every 401): the gateway's API
 * key for its own codes, Bitrix24's access token (`auth`) for Bitrix24's.
 */
export function challengeOf(code: string): string {
  if (code === 'GATEWAY_AUTH_REQUIRED' || code === 'GATEWAY_AUTH_INVALID') return `Bearer realm="${gatewayRealm}"`;
  return code === 'expired_token' ? 'Bearer realm="bitrix24", error="invalid_token"' : 'Bearer realm="bitrix24"';
}
