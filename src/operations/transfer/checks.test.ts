import { describe, expect, it } from 'vitest';
import { checkTransfer, phpFormParams, phpInt } from '.';

describe('phpInt', () => {
  it.each([
    ['12abc', 12],
    ['abc', 0],
    ['', 0],
    [' 12', 12],
    ['1e3', 1000],
    ['0x1A', 0],
    ['-3', -3],
    ['1.9', 1],
    [1.5, 1],
    [-0.5, 0],
    [true, 1],
    [false, 0],
    [null, 0],
    [undefined, 0],
    [[], 0],
    [[5], 1],
    [{}, 0],
  ])('(int) %j is %d', (value, expected) => {
    expect(phpInt(value)).toBe(expected);
  });
});

describe('checkTransfer follows the server, not the docs', () => {
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
    expect(checkTransfer(params)).toEqual({ outcome: 'rejected', code });
  });

  it.each([
    [{ CHAT_ID: '12abc', USER_ID: 3 }, 12, { kind: 'user', id: 3 }],
    [{ CHAT_ID: 5, USER_ID: 3, TRANSFER_ID: 9 }, 5, { kind: 'user', id: 9 }],
    [{ CHAT_ID: 5, QUEUE_ID: 3, TRANSFER_ID: 'queue9' }, 5, { kind: 'queue', id: 9 }],
    [{ CHAT_ID: 5, USER_ID: 3, TRANSFER_ID: 'queue9' }, 5, { kind: 'user', id: 3 }],
    [{ CHAT_ID: 5, USER_ID: 3, QUEUE_ID: 0 }, 5, { kind: 'user', id: 3 }],
  ])('%j is accepted as chat %d to %j', (params, chatId, destination) => {
    expect(checkTransfer(params)).toMatchObject({ outcome: 'accepted', chatId, destination });
  });

  it('reads LEAVE as Y only when it is exactly Y', () => {
    for (const leave of ['y', 'yes', 'true', '1', 1, true]) {
      expect(checkTransfer({ CHAT_ID: 1, USER_ID: 1, LEAVE: leave })).toMatchObject({ leave: 'N' });
    }
    expect(checkTransfer({ CHAT_ID: 1, USER_ID: 1, LEAVE: 'Y' })).toMatchObject({ leave: 'Y' });
  });

  it('crashes on a non-scalar TRANSFER_ID, after the CHAT_ID check', () => {
    expect(checkTransfer({ CHAT_ID: 1, TRANSFER_ID: [1] })).toMatchObject({ outcome: 'crashed' });
    expect(checkTransfer({ CHAT_ID: 0, TRANSFER_ID: { a: 1 } })).toEqual({
      outcome: 'rejected',
      code: 'CHAT_ID_EMPTY',
    });
  });
});

describe('phpFormParams', () => {
  it('parses keys the way PHP does', () => {
    expect(
      phpFormParams([
        ['A', '1'],
        ['A', '2'],
        ['B[]', 'x'],
        ['B[]', 'y'],
        ['C[k]', 'v'],
        ['D[a][]', 'z'],
      ]),
    ).toEqual({ A: '2', B: { 0: 'x', 1: 'y' }, C: { k: 'v' }, D: { a: { 0: 'z' } } });
  });
});
