import type { z } from 'zod';
import type { TransferSessionErrors } from '../../generated/types.gen';
import {
  zError400,
  zError401,
  zError403,
  zError404,
  zError405,
  zError408,
  zError413,
  zError415,
  zError429,
  zError431,
  zError500,
  zError502,
  zError503,
  zError504,
} from '../../generated/zod.gen';
import { type OpenApiDocument, type Operation, type ResponseObject, resolve, type SchemaObject, spec } from '../spec';

/** Every error status the transfer operation documents. */
export type ErrorStatus = keyof TransferSessionErrors;
/** Every error code the transfer operation documents (the union of the per-status enums). */
export type ErrorCode = TransferSessionErrors[ErrorStatus]['error'];
/** Bitrix24's error envelope. */
export interface ErrorBody {
  error: ErrorCode;
  error_description: string;
}

// `satisfies` makes the compiler fail when the spec gains or loses a status.
/** The generated schema of each error status. */
export const errorSchemas = {
  400: zError400,
  401: zError401,
  403: zError403,
  404: zError404,
  405: zError405,
  408: zError408,
  413: zError413,
  415: zError415,
  429: zError429,
  431: zError431,
  500: zError500,
  502: zError502,
  503: zError503,
  504: zError504,
} satisfies Record<ErrorStatus, z.ZodObject>;

const statusOfCode = new Map<ErrorCode, ErrorStatus>(
  Object.entries(errorSchemas).flatMap(([status, schema]) =>
    schema.shape.error.options.map((code) => [code as ErrorCode, Number(status) as ErrorStatus] as const),
  ),
);

/** True when `code` is one of the transfer's documented error codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return statusOfCode.has(code as ErrorCode);
}

/** The one status the spec documents for `code`. */
export function statusOf(code: ErrorCode): ErrorStatus {
  const status = statusOfCode.get(code);
  if (status === undefined) throw new Error(`${code} is not in the error matrix`);
  return status;
}

/** The codes Bitrix24 itself may answer; any other code from upstream is off-contract. */
const upstreamCodes = new Set(
  specMatrix()
    .filter((row) => row.source !== 'gateway')
    .map((row) => row.code),
);

/** True when `body` is an error the spec documents under `status` as one Bitrix24 may answer. */
export function isDocumentedUpstreamError(status: number, body: unknown): body is ErrorBody {
  return isDocumentedError(status, body) && upstreamCodes.has(body.error);
}

/** True when `body` is an error the spec documents under `status`. */
export function isDocumentedError(status: number, body: unknown): body is ErrorBody {
  const schema = (errorSchemas as Record<number, z.ZodObject | undefined>)[status];
  return schema?.safeParse(body).success === true;
}

/** One row of the spec's error matrix. */
export interface MatrixRow {
  status: number;
  code: string;
  /** The named example of this code, when the spec has one. */
  example?: unknown;
  /** Who answers this code (the example's `x-source`). */
  source?: ErrorSource;
}

export type ErrorSource = 'bitrix24' | 'gateway' | 'both';

/**
 * The error matrix of one operation, read from the spec itself: every value of each status's `error`
 * enum, with the example named after it. Used by tests to hold the code and the spec together.
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
        const example = content?.examples?.[code] as { value?: unknown; 'x-source'?: ErrorSource } | undefined;
        return { status: Number(status), code, example: example?.value, source: example?.['x-source'] };
      });
    });
}

export function findOperation(operationId: string, doc: OpenApiDocument = spec): Operation {
  for (const item of Object.values(doc.paths)) {
    for (const operation of Object.values(item)) if (operation.operationId === operationId) return operation;
  }
  throw new Error(`No operation ${operationId} in the spec`);
}

/** Bitrix24's error envelope for `code`, with the status the spec gives it. */
export function gatewayError(code: ErrorCode, description: string): { status: ErrorStatus; body: ErrorBody } {
  return { status: statusOf(code), body: { error: code, error_description: description } };
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
