import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, TRANSFER, startStack } from '../test-support/stack';

const alphaKey = 'alpha-key-0123456789';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: { apiKeys: new Map([[alphaKey, 'alpha'], ['beta-key-0123456789', 'beta']]), allowAnonymous: false },
  });
});
afterAll(() => stack.close());

const transfer = (headers: Record<string, string>) => stack.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 }, { headers });

describe('caller authentication', () => {
  it('lets a caller with a configured key through', async () => {
    expect((await transfer({ authorization: `Bearer ${alphaKey}` })).status).toBe(200);
  });

  it('takes the scheme name in any case', async () => {
    expect((await transfer({ authorization: `bearer ${alphaKey}` })).status).toBe(200);
  });

  it.each([
    ['no Authorization header', {}, 'GATEWAY_AUTH_REQUIRED'],
    ['a wrong key', { authorization: 'Bearer wrong-key-0123456789' }, 'GATEWAY_AUTH_INVALID'],
    ['a key one character short', { authorization: `Bearer ${alphaKey.slice(0, -1)}` }, 'GATEWAY_AUTH_INVALID'],
    ['another scheme', { authorization: `Basic ${alphaKey}` }, 'GATEWAY_AUTH_INVALID'],
    ['an empty bearer', { authorization: 'Bearer ' }, 'GATEWAY_AUTH_INVALID'],
  ])('answers %s with 401 %s and a Bearer challenge, without calling Bitrix24', async (_name, headers, code) => {
    stack.emulator.reset();
    const answer = await transfer(headers);
    expect([answer.status, answer.body.error]).toEqual([401, code]);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="bitrix24-transfer-gateway"/);
    expect(stack.emulator.received).toEqual([]);
    // The code reaches the access log (and so the metrics), as every error's does.
    expect(stack.logs.at(-1)).toMatchObject({ status: 401, code });
  });

  it('authenticates before it validates', async () => {
    const answer = await stack.post(TRANSFER, { chat_id: 'x' });
    expect([answer.status, answer.body.error]).toEqual([401, 'GATEWAY_AUTH_REQUIRED']);
  });

  it('leaves the service endpoints open', async () => {
    expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
  });

  it('never logs a key', async () => {
    await transfer({ authorization: `Bearer ${alphaKey}` });
    await transfer({ authorization: 'Bearer wrong-key-0123456789' });
    expect(stack.rawLogs.join('\n')).not.toMatch(/alpha-key|beta-key|wrong-key/);
  });
});

describe('anonymous callers, when allowed', () => {
  it('pass without a header, but a wrong key is still refused', async () => {
    const open = await startStack({ config: { apiKeys: new Map([[alphaKey, 'alpha']]), allowAnonymous: true } });
    try {
      expect((await open.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 })).status).toBe(200);
      const wrong = await open.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 }, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
      expect([wrong.status, wrong.body.error]).toEqual([401, 'GATEWAY_AUTH_INVALID']);
    } finally {
      await open.close();
    }
  });
});
