// imopenlines.bot.session.operator through a real HTTP listener, with the real emulator as Bitrix24.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../../test-support/stack';

const OPERATOR = '/rest/imopenlines.bot.session.operator';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: { apiKeys: new Map([['operator-key-0123456789', 'team-a']]), allowAnonymous: false },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());
const received = () => stack.emulator.received.map((call) => [call.path, call.params]);
const key = { authorization: 'Bearer operator-key-0123456789' };

describe('operator', () => {
  it('forwards CHAT_ID alone, as an integer, at every path', async () => {
    expect((await stack.post(OPERATOR, { CHAT_ID: 112 }, { headers: key })).body).toMatchObject({ result: true });
    expect((await stack.post(`${OPERATOR}.json`, 'CHAT_ID=7', { form: true, headers: key })).status).toBe(200);
    const hookPath = '/rest/1/operator-key-0123456789/imopenlines.bot.session.operator';
    expect((await stack.post(hookPath, { CHAT_ID: 8 })).status).toBe(200);
    expect(received()).toEqual([
      [expect.stringMatching(/imopenlines\.bot\.session\.operator$/), { CHAT_ID: 112 }],
      [expect.stringMatching(/imopenlines\.bot\.session\.operator$/), { CHAT_ID: 7 }],
      [expect.stringMatching(/imopenlines\.bot\.session\.operator$/), { CHAT_ID: 8 }],
    ]);
  });

  it.each([
    [{}, 400, 'CHAT_ID_EMPTY', 'CHAT_ID is missing'],
    [{ CHAT_ID: 0 }, 400, 'CHAT_ID_EMPTY', 'CHAT_ID 0'],
    [{ chat_id: 5 }, 400, 'UNKNOWN_PARAMETER', 'Bitrix24 would read it as that'],
    [{ CHAT_ID: 5, USER_ID: 1 }, 400, 'UNKNOWN_PARAMETER', 'the method takes CHAT_ID'],
    [{ CHAT_ID: '5' }, 400, 'INVALID_PARAMETER', 'CHAT_ID must be'],
    [{ CHAT_ID: 5, auth: 'token' }, 400, 'INVALID_PARAMETER', 'auth is not accepted'],
  ])('%j is refused %i %s, never forwarded', async (body, status, code, text) => {
    const answer = await stack.post(OPERATOR, body, { headers: key });
    expect([answer.status, answer.body.error]).toEqual([status, code]);
    expect(answer.body.error_description).toContain(text);
    expect(received()).toEqual([]);
  });

  it("relays Bitrix24's WRONG_CHAT (the emulator's test value 4003), and its BOT_ID_ERROR test value is not its", async () => {
    const wrong = await stack.post(OPERATOR, { CHAT_ID: 4003 }, { headers: key });
    expect([wrong.status, wrong.body]).toEqual([
      400,
      { error: 'WRONG_CHAT', error_description: 'Operator is not a bot' },
    ]);
    expect((await stack.post(OPERATOR, { CHAT_ID: 4001 }, { headers: key })).status).toBe(200);
  });

  it('needs the API key', async () => {
    expect((await stack.post(OPERATOR, { CHAT_ID: 1 })).body.error).toBe('GATEWAY_AUTH_REQUIRED');
    expect(received()).toEqual([]);
  });
});
