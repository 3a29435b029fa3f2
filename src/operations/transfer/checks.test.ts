import { describe, expect, it } from 'vitest';
import { check } from './checks';

// Cases written from the server's code (modules/imopenlines/lib/rest.php, botSessionTransfer; see
// ../shared/reference/bitrix24-transfer.md), not computed by the code under test.
describe("the transfer's checks follow the server, not the docs", () => {
  it.each([
    [{}, 'CHAT_ID_EMPTY'],
    [{ CHAT_ID: 'abc', USER_ID: 1 }, 'CHAT_ID_EMPTY'],
    [{ CHAT_ID: null, USER_ID: 1 }, 'CHAT_ID_EMPTY'],
    [{ chat_id: 5, USER_ID: 1 }, 'CHAT_ID_EMPTY'],
    [{ CHAT_ID: 5 }, 'TRANSFER_ID_EMPTY'],
    [{ CHAT_ID: 5, USER_ID: null }, 'TRANSFER_ID_EMPTY'],
    [{ CHAT_ID: 5, TRANSFER_ID: '' }, 'USER_ID_EMPTY'],
    [{ CHAT_ID: 5, TRANSFER_ID: 'abc' }, 'USER_ID_EMPTY'],
    [{ CHAT_ID: 5, TRANSFER_ID: 'Queue5' }, 'USER_ID_EMPTY'],
    [{ CHAT_ID: 5, TRANSFER_ID: 'queue' }, 'QUEUE_ID_EMPTY'],
    [{ CHAT_ID: 5, TRANSFER_ID: 'queueX' }, 'QUEUE_ID_EMPTY'],
    [{ CHAT_ID: 5, USER_ID: 0, QUEUE_ID: 3 }, 'USER_ID_EMPTY'],
    [{ CHAT_ID: 5, QUEUE_ID: '-1' }, 'QUEUE_ID_EMPTY'],
    [{ CHAT_ID: 5, USER_ID: 7, TRANSFER_ID: 'abc' }, 'USER_ID_EMPTY'],
  ])('%j is rejected with %s', (params, code) => {
    expect(check(params)).toEqual({ outcome: 'rejected', code });
  });

  // Accepted whatever the documented priority says; the server's own one decides where (see normalise.test.ts).
  it.each([
    [{ CHAT_ID: '12abc', USER_ID: 3 }],
    [{ CHAT_ID: 5, USER_ID: 3, TRANSFER_ID: 9 }],
    [{ CHAT_ID: 5, QUEUE_ID: 3, TRANSFER_ID: 'queue9' }],
    [{ CHAT_ID: 5, USER_ID: 3, TRANSFER_ID: 'queue9' }],
    [{ CHAT_ID: 5, USER_ID: 3, QUEUE_ID: 0 }],
    [{ CHAT_ID: 1, USER_ID: 1, LEAVE: 'yes' }],
  ])('%j is accepted', (params) => {
    expect(check(params)).toEqual({ outcome: 'accepted' });
  });

  it('crashes on a non-scalar TRANSFER_ID, after the CHAT_ID check', () => {
    expect(check({ CHAT_ID: 1, TRANSFER_ID: [1] })).toMatchObject({ outcome: 'crashed' });
    expect(check({ CHAT_ID: 0, TRANSFER_ID: { a: 1 } })).toEqual({
      outcome: 'rejected',
      code: 'CHAT_ID_EMPTY',
    });
  });
});
