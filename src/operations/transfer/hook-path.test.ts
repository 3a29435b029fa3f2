// The webhook-style URL (/rest/{userId}/{secret}/method) that Bitrix24 clients build, with the caller's
// gateway key as the secret, and the bookkeeping query parameters @bitrix24/b24jssdk adds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../../test-support/stack';

const key = 'alpha-key-0123456789';
const hookUrl = (secret: string, userId = '1') => `/rest/${userId}/${secret}/imopenlines.bot.session.transfer`;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: { apiKeys: new Map([[key, 'alpha']]), allowAnonymous: false } });
});
afterAll(() => stack.close());

describe('the webhook-style path', () => {
  it('transfers with the key in the path, as team alpha', async () => {
    const answer = await stack.post(hookUrl(key), { CHAT_ID: 112, USER_ID: 12 });
    expect([answer.status, answer.body.result]).toEqual([200, true]);
    expect(stack.logs.at(-1)).toMatchObject({
      route: '/rest/:userId/:secret/imopenlines.bot.session.transfer',
      team: 'alpha',
    });
  });

  it('answers a wrong key 401 GATEWAY_AUTH_INVALID, before anything else', async () => {
    stack.emulator.reset();
    const answer = await stack.post(hookUrl('wrong-key-0123456789'), {});
    expect([answer.status, answer.body.error]).toEqual([401, 'GATEWAY_AUTH_INVALID']);
    expect(answer.headers.get('www-authenticate')).toBe(
      'Bearer realm="bitrix24-transfer-gateway", error="invalid_token"',
    );
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    expect(stack.emulator.received).toEqual([]);
  });

  it('answers a user id that is not a positive integer 400 INVALID_PARAMETER', async () => {
    const answer = await stack.post(hookUrl(key, 'admin'), { CHAT_ID: 1, USER_ID: 2 });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_PARAMETER']);
  });

  it('applies the same validation to the body', async () => {
    const answer = await stack.post(hookUrl(key), { CHAT_ID: '12abc', USER_ID: 2 });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_PARAMETER']);
  });
});

describe('the query string', () => {
  it("takes the SDK's bookkeeping parameters, and logs its request id", async () => {
    const answer = await stack.post(
      `${hookUrl(key)}?bx24_request_id=abc-123&bx24_sdk_ver=2.2.0&bx24_sdk_type=b24-js-sdk`,
      { CHAT_ID: 1, USER_ID: 2 },
    );
    expect(answer.status).toBe(200);
    expect(stack.logs.at(-1)).toMatchObject({ sdkRequestId: 'abc-123', status: 200 });
  });

  it.each([
    ['?CHAT_ID=1', 400, 'UNKNOWN_PARAMETER', "the method's parameters go in the body"],
    ['?auth=token-0123456789', 400, 'UNKNOWN_PARAMETER', '"auth"'],
    [`?bx24_request_id=${'x'.repeat(65)}`, 400, 'INVALID_PARAMETER', 'bx24_request_id must be'],
    ['?bx24_sdk_type=a%20b', 400, 'INVALID_PARAMETER', 'bx24_sdk_type must be'],
  ])('refuses %s', async (query, status, code, fragment) => {
    const answer = await stack.post(
      `${TRANSFER}${query}`,
      { CHAT_ID: 1, USER_ID: 2 },
      { headers: { authorization: `Bearer ${key}` } },
    );
    expect([answer.status, answer.body.error]).toEqual([status, code]);
    expect(answer.body.error_description).toContain(fragment);
  });
});
