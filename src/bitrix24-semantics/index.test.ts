import { describe, expect, it } from 'vitest';
import { phpFormParams, phpInt, upperCaseKeys } from '.';

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

describe('upperCaseKeys', () => {
  it('upper-cases top-level ASCII keys as array_change_key_case does, the later of two keys that meet winning', () => {
    expect(upperCaseKeys({ chat_id: 1, Name: 'x', CHAT_ID: 2, é_x: 3, nested: { a: 1 } })).toEqual({
      CHAT_ID: 2,
      NAME: 'x',
      é_X: 3,
      NESTED: { a: 1 },
    });
    expect(upperCaseKeys({ CHAT_ID: 2, chat_id: 1 })).toEqual({ CHAT_ID: 1 });
  });
});
