// imopenlines.bot.session.finish through a real HTTP listener, with the real emulator as Bitrix24.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../../test-support/stack';

const FINISH = '/rest/imopenlines.bot.session.finish';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());
const received = () => stack.emulator.received.map((call) => call.params);

describe('finish', () => {
  it("sends the configured CLIENT_ID when the request leaves it out, else the caller's", async () => {
    expect((await stack.post(FINISH, { CHAT_ID: 112 })).body).toMatchObject({ result: true });
    expect((await stack.post(`${FINISH}.json`, 'CHAT_ID=3&CLIENT_ID=my.bot', { form: true })).status).toBe(200);
    expect(received()).toEqual([
      { CHAT_ID: 112, CLIENT_ID: 'emulator.bot' },
      { CHAT_ID: 3, CLIENT_ID: 'my.bot' },
    ]);
  });

  it("relays Bitrix24's BOT_ID_ERROR (the emulator's test value 4001)", async () => {
    const answer = await stack.post(FINISH, { CHAT_ID: 4001 });
    expect([answer.status, answer.body]).toEqual([400, { error: 'BOT_ID_ERROR', error_description: 'Bot not found' }]);
  });

  it.each([
    [{}, 'CHAT_ID_EMPTY', 'CHAT_ID is missing'],
    [{ CHAT_ID: -1, CLIENT_ID: '0' }, 'CHAT_ID_EMPTY', 'CHAT_ID -1'],
    [{ CHAT_ID: 1, CLIENT_ID: '0' }, 'INVALID_PARAMETER', 'CLIENT_ID must be'],
    [{ CHAT_ID: 1, CLIENT_ID: 'a b' }, 'INVALID_PARAMETER', 'CLIENT_ID must be'],
    [{ CHAT_ID: 1, client_id: 'bot' }, 'UNKNOWN_PARAMETER', 'did you mean "CLIENT_ID"'],
    [{ CHAT_ID: 1, LEAVE: 'Y' }, 'UNKNOWN_PARAMETER', 'the method takes CHAT_ID, CLIENT_ID'],
  ])('%j is refused 400 %s, never forwarded', async (body, code, text) => {
    const answer = await stack.post(FINISH, body);
    expect([answer.status, answer.body.error]).toEqual([400, code]);
    expect(answer.body.error_description).toContain(text);
    expect(answer.body.error_description).not.toContain('emulator.bot');
    expect(received()).toEqual([]);
  });
});

describe('finish in OAuth mode', () => {
  let oauth: Stack;
  beforeAll(async () => {
    oauth = await startStack({ mode: 'oauth' });
  });
  afterAll(() => oauth.close());

  it('needs auth, forwards it, and adds no CLIENT_ID', async () => {
    expect((await oauth.post(FINISH, { CHAT_ID: 1 })).body.error).toBe('NO_AUTH_FOUND');
    expect((await oauth.post(FINISH, { CHAT_ID: 1, auth: 'caller-token-1' })).status).toBe(200);
    expect(oauth.emulator.received.map((call) => call.params)).toEqual([{ CHAT_ID: 1, auth: 'caller-token-1' }]);
  });
});
