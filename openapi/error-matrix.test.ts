// The spec's error matrix against Bitrix24's reference: every documented code is in the spec (or
// excluded there with a reason), under one status, with an example. Reads the YAML itself, so removing
// a code from openapi.yaml fails this test.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findOperation, specMatrix } from '../src/error-matrix';
import { operations } from '../src/spec';

const reference = readFileSync(new URL('./reference/bitrix24-transfer.md', import.meta.url), 'utf8');

/** The (status, code) rows of the markdown table under `heading` in the reference. */
function referenceTable(heading: string): { status: number; code: string }[] {
  const section = reference.split(`### ${heading}`)[1]?.split('\n#')[0] ?? '';
  return [...section.matchAll(/^\| (\d{3}) \| `([A-Za-z_]+)` \|/gm)].map((m) => ({
    status: Number(m[1]),
    code: m[2]!,
  }));
}

const methodErrors = referenceTable('Method errors');
const systemErrors = referenceTable('System errors (any method)');
// Named in the reference's prose (older docs; a sibling method answers it with 400).
const proseErrors = [{ status: 400, code: 'WRONG_CHAT' }];
const gatewayErrors = [
  'INVALID_BODY',
  'UNKNOWN_PARAMETER',
  'INVALID_PARAMETER',
  'GATEWAY_AUTH_REQUIRED',
  'GATEWAY_AUTH_INVALID',
  'METHOD_NOT_ALLOWED',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'EXPECTATION_FAILED',
  'UPSTREAM_UNREACHABLE',
  'UPSTREAM_BAD_RESPONSE',
  'UPSTREAM_TIMEOUT',
  'QUERY_LIMIT_EXCEEDED',
  'OPERATION_TIME_LIMIT',
];

describe('the reference tables', () => {
  it('are read completely', () => {
    expect(methodErrors).toHaveLength(7);
    expect(systemErrors).toHaveLength(16);
  });
});

// The siblings' own 400 codes, from ../shared/reference/bitrix24-bot-session.md (their step tables).
const siblingErrors: Record<string, string[]> = {
  'imopenlines.bot.session.operator': ['CHAT_ID_EMPTY', 'WRONG_CHAT'],
  'imopenlines.bot.session.message.send': ['CHAT_ID_EMPTY'],
  'imopenlines.bot.session.finish': ['CHAT_ID_EMPTY', 'BOT_ID_ERROR'],
};
const transferOnly = methodErrors.filter(
  ({ status, code }) => status === 400 && !Object.values(siblingErrors).flat().includes(code),
);

const methodOperationIds = operations()
  .filter(({ operation }) => typeof operation['x-bitrix24-method'] === 'string')
  .map(({ operation }) => [operation.operationId, operation['x-bitrix24-method'] as string] as const);

describe('the operations of Bitrix24 methods', () => {
  it('are the transfer and its three siblings, each at three paths and on a portal (application mode)', () => {
    expect(methodOperationIds).toHaveLength(16);
    expect(new Set(methodOperationIds.map(([, method]) => method))).toEqual(
      new Set(['imopenlines.bot.session.transfer', ...Object.keys(siblingErrors)]),
    );
  });
});

describe.each(methodOperationIds.filter(([, method]) => siblingErrors[method]))(
  "the error matrix of %s lists its method's own 400 codes, not the transfer's",
  (operationId, method) => {
    const matrix = specMatrix(operationId);
    it.each(siblingErrors[method]!)('has %s under 400', (code) => {
      expect(matrix.filter((row) => row.code === code).map((row) => row.status)).toEqual([400]);
    });
    it.each(transferOnly.map(({ code }) => code))('has no %s', (code) => {
      expect(matrix.map((row) => row.code)).not.toContain(code);
    });
  },
);

describe.each(methodOperationIds)('the error matrix of %s (%s)', (operationId, method) => {
  const matrix = specMatrix(operationId);
  const excluded = findOperation(operationId)['x-excluded-errors'] ?? [];
  const own =
    method === 'imopenlines.bot.session.transfer'
      ? [...methodErrors, ...proseErrors]
      : siblingErrors[method]!.map((code) => ({ status: 400, code }));

  it.each([...own, ...systemErrors])('has $code under $status, or excludes it with a reason', ({ status, code }) => {
    const rows = matrix.filter((row) => row.code === code);
    const exclusion = excluded.find((e) => e.code === code);
    if (exclusion) {
      expect(rows).toEqual([]);
      expect(exclusion.status).toBe(status);
      expect(exclusion.reason.length).toBeGreaterThan(20);
    } else {
      expect(rows.map((row) => row.status)).toEqual([status]);
    }
  });

  it.each(gatewayErrors)('has the gateway code %s', (code) => {
    expect(matrix.filter((row) => row.code === code)).toHaveLength(1);
  });

  it('lists every code under exactly one status', () => {
    const codes = matrix.map((row) => row.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('has a named example for every code, in the error envelope, saying who answers it', () => {
    for (const row of matrix) {
      expect(row.example, `${row.status} ${row.code}`).toEqual({
        error: row.code,
        error_description: expect.any(String),
      });
      expect(['bitrix24', 'gateway', 'both'], `${row.code} x-source`).toContain(row.source);
    }
  });

  it('marks every gateway code as answered by the gateway', () => {
    for (const code of gatewayErrors) {
      expect(['gateway', 'both']).toContain(matrix.find((row) => row.code === code)?.source);
    }
  });

  it('excludes only codes that are not in the matrix', () => {
    for (const { code } of excluded) expect(matrix.map((row) => row.code)).not.toContain(code);
  });
});

describe('every operation', () => {
  it.each(operations().map(({ path, method, operation }) => [`${method.toUpperCase()} ${path}`, operation] as const))(
    '%s documents 405 with Allow',
    (_name, operation) => {
      expect(operation.responses['405']).toEqual({ $ref: '#/components/responses/MethodNotAllowed' });
    },
  );
});

describe('every operation documents what the HTTP parser and the body limit answer on any path', () => {
  it.each(operations().map(({ path, method, operation }) => [`${method.toUpperCase()} ${path}`, operation] as const))(
    '%s',
    (_name, operation) => {
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['400', '408', '413', '417', '431']));
      expect(operation.responses['417']).toEqual({ $ref: '#/components/responses/ExpectationFailed' });
      expect(operation.responses['408']).toEqual({ $ref: '#/components/responses/RequestTimeout' });
      expect(operation.responses['431']).toEqual({ $ref: '#/components/responses/HeadersTooLarge' });
    },
  );
});
