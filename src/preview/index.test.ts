import { describe, expect, it } from 'vitest';
import { preview } from '.';

const nested = (depth: number): unknown => {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('preview', () => {
  it.each([
    ['12abc', '"12abc"'],
    [12, '12'],
    [null, 'null'],
    [true, 'true'],
    [[1, 'a'], '[1,"a"]'],
    [{ a: 1 }, '{"a":1}'],
    [JSON.parse('{"__proto__":{"x":1}}'), '{"__proto__":{"x":1}}'],
  ])('shows %j as JSON would: %s', (value, shown) => {
    expect(preview(value)).toBe(shown);
  });

  it('cuts long values to the bound, marked with …', () => {
    expect(preview('x'.repeat(1_000_000))).toBe(`"${'x'.repeat(39)}…`);
    expect(preview(Array.from({ length: 100_000 }, (_, i) => i))).toMatch(/^\[0,1,2,3,4,5,6,7,…\]$/);
  });

  it('stops at a small depth, however deep the value (JSON.stringify overflows the stack here)', () => {
    const deep = nested(100_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(preview(deep)).toBe('[[[[…]]]]');
  });

  it('never reads through a prototype', () => {
    const inherits = Object.create({ inherited: 1 }) as Record<string, unknown>;
    inherits.own = 2;
    expect(preview(inherits)).toBe('{"own":2}');
  });
});
