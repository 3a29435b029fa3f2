// Keys and what was not executed (issue 31), through a real gateway and the real emulator: an answer of
// Bitrix24's whose code says it refused the call before executing it (`x-not-executed` in the spec) frees the
// call's Idempotency-Key, so that the retry the answer asks for is sent; every other answer is replayed.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { methodOperations } from '../pipeline';
import { spec } from '../spec';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const API_KEY = 'not-executed-key-0123456789';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    // No operating limit at the emulator: its answers then carry no operating_reset_at, and the pause the
    // gateway takes after an OPERATION_TIME_LIMIT is the configured one.
    emulator: { operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0, windowSeconds: 600 } },
    config: {
      apiKeys: new Map([[API_KEY, 'team-a']]),
      allowAnonymous: false,
      operatingPauseMs: 300,
      retry: { deadlineMs: 300, baseDelayMs: 20 },
    },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());

let keys = 0;
const newKey = () => `not-executed-${process.pid}-${++keys}`;
const headers = (key: string) => ({ authorization: `Bearer ${API_KEY}`, 'idempotency-key': key });
const calls = () => stack.emulator.received.length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the spec', () => {
  it('marks as not executed exactly the limits and the failed authentications, for every method', () => {
    for (const operation of methodOperations()) {
      expect([...operation.notExecuted].sort(), operation.operationId).toEqual(
        ['NO_AUTH_FOUND', 'OPERATION_TIME_LIMIT', 'OVERLOAD_LIMIT', 'QUERY_LIMIT_EXCEEDED', 'expired_token'].sort(),
      );
    }
  });

  it('names each of them in "Safe retries"', () => {
    const rule = (spec.info as { description: string }).description
      .split('6. The key is released')[1]!
      .split('\n    7.')[0]!;
    for (const code of methodOperations()[0]!.notExecuted) expect(rule).toContain(`\`${code}\``);
  });
});

// [test value, status, code]: Bitrix24's refusals before execution, as the emulator answers them.
const notExecuted: [number, number, string][] = [
  [5031, 503, 'QUERY_LIMIT_EXCEEDED'],
  [5032, 503, 'OVERLOAD_LIMIT'],
  [4011, 401, 'NO_AUTH_FOUND'],
  [4012, 401, 'expired_token'],
  [4291, 429, 'OPERATION_TIME_LIMIT'],
];

describe('a refusal Bitrix24 documents as not executed', () => {
  it.each(notExecuted)(
    'CHAT_ID %i (%i %s) frees the key: the retry with the same key is sent again, not replayed',
    async (chatId, status, code) => {
      const key = newKey();
      const body = { CHAT_ID: chatId, USER_ID: 12 };
      const first = await stack.post(TRANSFER, body, { headers: headers(key) });
      expect([first.status, first.body.error]).toEqual([status, code]);
      const sentFirst = calls();
      expect(sentFirst).toBeGreaterThanOrEqual(1);
      // As the answer says: after Retry-After, when it has one (the gateway holds the method paused meanwhile).
      const retryAfter = first.headers.get('retry-after');
      if (code === 'OPERATION_TIME_LIMIT') await sleep(Number(retryAfter) * 1_000);
      const retry = await stack.post(TRANSFER, body, { headers: headers(key) });
      expect([retry.status, retry.body.error, retry.headers.get('idempotent-replayed')]).toEqual([status, code, null]);
      // QUERY_LIMIT_EXCEEDED is retried by the gateway within its deadline: several calls each time.
      if (code === 'QUERY_LIMIT_EXCEEDED') expect(calls()).toBeGreaterThan(sentFirst);
      else expect([sentFirst, calls()]).toEqual([1, 2]);
      // The retry paused the method again: the tests after this one wait for it.
      if (code === 'OPERATION_TIME_LIMIT') await sleep(Number(retry.headers.get('retry-after')) * 1_000);
    },
  );

  it.each([
    [4033, 403, 'INVALID_CREDENTIALS'],
    [4034, 403, 'insufficient_scope'],
    [5001, 500, 'INTERNAL_SERVER_ERROR'],
  ])(
    'but CHAT_ID %i (%i %s) is stored and replayed: the reference does not say it came before execution',
    async (chatId, status, code) => {
      const key = newKey();
      const body = { CHAT_ID: chatId, USER_ID: 12 };
      await stack.post(TRANSFER, body, { headers: headers(key) });
      const retry = await stack.post(TRANSFER, body, { headers: headers(key) });
      expect([retry.status, retry.body.error, retry.headers.get('idempotent-replayed')]).toEqual([
        status,
        code,
        'true',
      ]);
      expect(calls()).toBe(1);
    },
  );
});

describe("a keyed transfer refused by the portal's operating-time limit", () => {
  let limited: Stack;
  beforeAll(async () => {
    // One call uses up the method's operating time, for a window of one second.
    limited = await startStack({
      emulator: { operatingLimit: { enabled: true, limitSeconds: 0.01, costPerCallSeconds: 0.01, windowSeconds: 1 } },
      config: { apiKeys: new Map([[API_KEY, 'team-a']]), allowAnonymous: false, operatingPauseMs: 5_000 },
    });
  });
  afterAll(() => limited.close());

  it('is sent, once, when the client retries it with the same key after Retry-After, as the docs say', async () => {
    const key = newKey();
    const transfer = { CHAT_ID: 113, USER_ID: 12 };
    expect((await limited.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 }, { headers: headers(newKey()) })).status).toBe(
      200,
    );
    const refused = await limited.post(TRANSFER, transfer, { headers: headers(key) });
    expect([refused.status, refused.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
    expect(limited.emulator.received).toHaveLength(2);
    // The pause ends at the portal's operating_reset_at, which its earlier answer carried: within the second.
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await sleep(retryAfter * 1_000 + 100);
    const sent = await limited.post(TRANSFER, transfer, { headers: headers(key) });
    expect([sent.status, sent.body.result, sent.headers.get('idempotent-replayed')]).toEqual([200, true, null]);
    const replayed = await limited.post(TRANSFER, transfer, { headers: headers(key) });
    expect([replayed.status, replayed.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(limited.emulator.received.map((call) => call.params.CHAT_ID)).toEqual([112, 113, 113]);
  });
});
