import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { methodOperations } from './operations';
import { requestSchemas } from './route';
import { check } from './schema-check';

const verdictOf = (result: z.ZodSafeParseResult<unknown>) =>
  result.success ? { success: true, data: result.data } : { success: false, issues: result.error.issues };

describe('check', () => {
  const schemas = methodOperations().flatMap((operation) => {
    const request = requestSchemas(operation);
    return [
      [`${operation.operationId} json`, request.json],
      [`${operation.operationId} form`, request.form],
      [`${operation.operationId} query`, request.query],
    ] as const;
  });

  it("is the spec's schemas' safeParse, issue for issue, on any value", () => {
    for (const [name, schema] of schemas) {
      fc.assert(
        fc.property(fc.oneof(fc.anything(), fc.dictionary(fc.string(), fc.jsonValue())), (value) => {
          expect(check(schema, value), name).toEqual(verdictOf(schema.safeParse(value)));
        }),
        { numRuns: 200 },
      );
    }
  });

  it('words an issue as safeParse does, and passes what the schema outputs', () => {
    const schema = z.strictObject({ CHAT_ID: z.number().int(), LEAVE: z.enum(['Y', 'N']).default('N') });
    const refused = check(schema, { CHAT_ID: '12abc', X: 1 });
    expect(refused.success).toBe(false);
    expect(refused).toEqual(verdictOf(schema.safeParse({ CHAT_ID: '12abc', X: 1 })));
    expect(!refused.success && refused.issues.map((issue) => issue.message)).toEqual([
      'Invalid input: expected number, received string',
      'Unrecognized key: "X"',
    ]);
    expect(check(schema, { CHAT_ID: 12 })).toEqual({ success: true, data: { CHAT_ID: 12, LEAVE: 'N' } });
  });
});
