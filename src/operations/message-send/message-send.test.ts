// imopenlines.bot.session.message.send through a real HTTP listener, with the real emulator as Bitrix24:
// every input the server would answer true to without sending anything is refused, naming the parameter.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../../test-support/stack';

const SEND = '/rest/imopenlines.bot.session.message.send';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: { bodyLimitBytes: 262_144 } });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());
const received = () => stack.emulator.received.map((call) => call.params);

describe('message.send', () => {
  it.each([
    ['a text', { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'An operator will answer you soon.' }],
    ['the welcome message', { CHAT_ID: 112, NAME: 'WELCOME' }],
    ['a text of BB-codes around "0"', { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: '[b]0[/b]' }],
    ['" 0", which PHP does not read as empty', { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: ' 0' }],
    ['a text of 20000 characters', { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: '€'.repeat(20_000) }],
    ['a text beyond ASCII', { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'Привет 👋' }],
  ])('%s is forwarded as sent', async (_name, body) => {
    const answer = await stack.post(SEND, body);
    expect([answer.status, answer.body.result]).toEqual([200, true]);
    expect(received()).toEqual([body]);
  });

  it('takes a form by the same rules', async () => {
    const answer = await stack.post(SEND, 'CHAT_ID=5&NAME=DEFAULT&MESSAGE=Hello%0Aworld', { form: true });
    expect(answer.status).toBe(200);
    expect(received()).toEqual([{ CHAT_ID: 5, NAME: 'DEFAULT', MESSAGE: 'Hello\nworld' }]);
  });

  // Each of these Bitrix24 answers `true` and sends nothing (or ignores MESSAGE).
  it.each([
    ['no NAME', { CHAT_ID: 1, MESSAGE: 'hi' }, 'NAME is required: it must be "WELCOME" or "DEFAULT" exactly'],
    ['a lower-case NAME', { CHAT_ID: 1, NAME: 'welcome' }, 'NAME must be "WELCOME" or "DEFAULT" exactly'],
    ['another NAME', { CHAT_ID: 1, NAME: 'HELLO', MESSAGE: 'hi' }, 'NAME must be'],
    ['an empty NAME', { CHAT_ID: 1, NAME: '' }, 'NAME must be'],
    ['DEFAULT without MESSAGE', { CHAT_ID: 1, NAME: 'DEFAULT' }, 'MESSAGE is required with NAME=DEFAULT'],
    ['DEFAULT with an empty MESSAGE', { CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '' }, 'MESSAGE must be a string of 1'],
    ['DEFAULT with a blank MESSAGE', { CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: ' \t\r\n' }, 'MESSAGE must be'],
    ['DEFAULT with MESSAGE "0"', { CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '0' }, 'other than "0"'],
    ['MESSAGE over 20000', { CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '€'.repeat(20_001) }, 'MESSAGE must be'],
    ['MESSAGE a number', { CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: 5 }, 'MESSAGE must be'],
    [
      'WELCOME with a MESSAGE',
      { CHAT_ID: 1, NAME: 'WELCOME', MESSAGE: 'hi' },
      'MESSAGE is not accepted with NAME=WELCOME',
    ],
    ['a lower-case key', { CHAT_ID: 1, name: 'WELCOME' }, 'Unknown parameter "name"'],
  ])('%s is refused 400, never forwarded', async (_name, body, text) => {
    const answer = await stack.post(SEND, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error_description).toContain(text);
    expect(received()).toEqual([]);
  });

  it('answers CHAT_ID_EMPTY first, as Bitrix24 does', async () => {
    const answer = await stack.post(SEND, { NAME: 'HELLO' });
    expect([answer.status, answer.body.error]).toEqual([400, 'CHAT_ID_EMPTY']);
  });

  it('a form sends NAME=DEFAULT without MESSAGE: refused the same way', async () => {
    const answer = await stack.post(SEND, 'CHAT_ID=5&NAME=DEFAULT', { form: true });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_PARAMETER']);
    expect(received()).toEqual([]);
  });
});
