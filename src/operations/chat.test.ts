import { describe, expect, it } from 'vitest';
import { upperCaseKeys } from '../bitrix24-semantics';
import { finish } from './finish';
import { messageSend } from './message-send';
import { operator } from './operator';

// Cases written from the server's code (modules/imopenlines/lib/rest.php: botSessionOperator,
// botSessionSendAutoMessage, botSessionFinish; see ../shared/reference/bitrix24-bot-session.md), not computed
// by the code under test: each sibling upper-cases its keys, reads (int)CHAT_ID, and checks nothing else.
const table: [Record<string, unknown>, 'CHAT_ID_EMPTY' | 'accepted'][] = [
  [{}, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: 0 }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: -5 }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: 'abc' }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: null }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: '' }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: '0x1A' }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: 1 }, 'accepted'],
  [{ CHAT_ID: '12abc' }, 'accepted'],
  [{ CHAT_ID: ' 7' }, 'accepted'],
  [{ CHAT_ID: '1e3' }, 'accepted'],
  [{ chat_id: 5 }, 'accepted'],
  [{ Chat_Id: 5 }, 'accepted'],
  [{ chat_id: 0 }, 'CHAT_ID_EMPTY'],
  [{ CHAT_ID: 5, NAME: 'HELLO' }, 'accepted'],
  [{ CHAT_ID: 5, NAME: 'DEFAULT', MESSAGE: '' }, 'accepted'],
  [{ CHAT_ID: 5, CLIENT_ID: '' }, 'accepted'],
];

describe.each([operator, messageSend, finish])('$name', (method) => {
  it('upper-cases its keys, as the server does', () => expect(method.upperCasesKeys).toBe(true));

  it.each(table)('%j: %s', (params, expected) => {
    const verdict = method.check(upperCaseKeys(params));
    expect(verdict).toEqual(
      expected === 'accepted' ? { outcome: 'accepted' } : { outcome: 'rejected', code: expected },
    );
  });
});

describe('after the CHAT_ID check', () => {
  const call = (params: Record<string, unknown>, auth: 'webhook' | 'oauth', testValue = 1) => ({
    params,
    auth,
    testValue,
  });

  it('operator: only a chat without a bot session fails (test value 4003: WRONG_CHAT)', () => {
    expect(operator.emulate(call({ CHAT_ID: 1 }, 'webhook'))).toBeUndefined();
    expect(operator.emulate(call({ CHAT_ID: 4003 }, 'webhook', 4003))).toBe('WRONG_CHAT');
    expect(operator.emulate(call({ CHAT_ID: 4001 }, 'webhook', 4001))).toBeUndefined();
  });

  it('message.send: answers true whatever it sent', () => {
    for (const params of [{ CHAT_ID: 1 }, { CHAT_ID: 1, NAME: 'HELLO' }, { CHAT_ID: 4001, NAME: 'DEFAULT' }]) {
      expect(messageSend.emulate(call(params, 'webhook', params.CHAT_ID))).toBeUndefined();
    }
  });

  it("finish: a webhook without CLIENT_ID names no bot (BOT_ID_ERROR); an OAuth token is the bot's application", () => {
    expect(finish.emulate(call({ CHAT_ID: 1 }, 'webhook'))).toBe('BOT_ID_ERROR');
    expect(finish.emulate(call({ CHAT_ID: 1, CLIENT_ID: '0' }, 'webhook'))).toBe('BOT_ID_ERROR');
    expect(finish.emulate(call({ CHAT_ID: 1, CLIENT_ID: 'bot' }, 'webhook'))).toBeUndefined();
    expect(finish.emulate(call({ CHAT_ID: 1 }, 'oauth'))).toBeUndefined();
    expect(finish.emulate(call({ CHAT_ID: 4001, CLIENT_ID: 'bot' }, 'webhook', 4001))).toBe('BOT_ID_ERROR');
  });
});
