import { describe, expect, it } from 'vitest';
import { repeatedTopLevelKey } from '.';

describe('repeatedTopLevelKey', () => {
  it.each([
    ['{"CHAT_ID":1,"CHAT_ID":2}', 'CHAT_ID'],
    ['{ "a" : 1 , "b":2, "a" :3}', 'a'],
    ['{"C\\u0048AT_ID":1,"CHAT_ID":2}', 'CHAT_ID'],
    ['{"__proto__":1,"__proto__":2}', '__proto__'],
  ])('finds the repeated key of %s', (text, key) => {
    expect(repeatedTopLevelKey(text)).toBe(key);
  });

  it.each([
    '{"a":1,"b":2}',
    '{"a":{"b":1,"b":2},"c":3}',
    '{"a":"\\"a\\":","b":["a","a"]}',
    '["a","a"]',
    '"a"',
    '{}',
    '{"a":"x\\\\","b":1}',
  ])('finds none in %s', (text) => {
    expect(repeatedTopLevelKey(text)).toBeUndefined();
  });

  it('takes one pass over deep nesting', () => {
    expect(repeatedTopLevelKey(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)},"a":1}`)).toBe('a');
  });
});
