import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { filled, formShapes, formUnits } from '../test-support/form-shapes';
import { integerKey, phpFormParams, phpInt, upperCaseKeys } from '.';

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

  it("appends at PHP's next free index, kept aside: no key of the params holds it", () => {
    const params = phpFormParams(new URLSearchParams('a[5]=x&a[]=y&a[-9]=z&a[]=w'));
    expect(params).toEqual({ a: { 5: 'x', 6: 'y', '-9': 'z', 7: 'w' } });
    expect(Reflect.ownKeys(params.a as object).sort()).toEqual(['-9', '5', '6', '7']);
    expect(Object.getPrototypeOf(params.a)).toBeNull();
  });

  it('reads __proto__ as a parameter like any other, never as a prototype', () => {
    const params = phpFormParams(new URLSearchParams('__proto__[x]=1&a[__proto__][]=2'));
    expect(Object.keys(params)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('integerKey', () => {
  it.each([
    ['5', 5],
    ['-5', -5],
    ['0', 0],
    ['9223372036854775807', 9_223_372_036_854_775_807n],
    ['-9223372036854775808', -9_223_372_036_854_775_808n],
    ['9007199254740993', 9_007_199_254_740_993n],
  ])('%j is the integer key %s', (key, expected) => {
    expect(integerKey(key)).toBe(expected);
  });

  it.each(['05', '-0', '00', '5 ', ' 5', '+5', '1e3', '', '-', '9223372036854775808', '-9223372036854775809'])(
    '%j is a string key',
    (key) => {
      expect(integerKey(key)).toBeUndefined();
    },
  );
});

// Issue 31: the reader's cost is linear in the body, whatever its shape. Its steps (each character scanned or
// copied, each map operation with its key's characters) are counted, not timed: at most STEPS_PER_BYTE per
// byte of the body, on bodies at the gateway's default size limit and at a quarter of it.
describe("phpFormParams's cost", () => {
  const STEPS_PER_BYTE = 5;
  const limit = loadConfig({}).bodyLimitBytes;
  const steps = (body: string): number => {
    const meter = { steps: 0 };
    phpFormParams(new URLSearchParams(body), meter);
    return meter.steps;
  };

  for (const size of [limit, limit / 4]) {
    it.each(Object.entries(formShapes(size)))(`is linear on %s (${size} bytes)`, (_, body) => {
      expect(body.length).toBeLessThanOrEqual(size);
      expect(body.length).toBeGreaterThan(size - 200);
      expect(steps(body)).toBeLessThanOrEqual(STEPS_PER_BYTE * body.length);
    });
  }

  it('is linear on any mix of the costly entries, at the size limit', () => {
    const unit = fc.tuple(fc.nat(formUnits.length - 1), fc.nat(1_000_000));
    fc.assert(
      fc.property(fc.array(unit, { minLength: 1, maxLength: 50 }), (choices) => {
        const body = filled(limit, 'CHAT_ID=112', (index) => {
          const [which, n] = choices[index % choices.length]!;
          return formUnits[which]!(n + index);
        });
        expect(steps(body)).toBeLessThanOrEqual(STEPS_PER_BYTE * body.length);
      }),
      { numRuns: 20 },
    );
  });

  it('was quadratic before: 30,000 appends (180 KB) cost what 30,000 distinct keys cost', () => {
    const appends = `CHAT_ID=112&${'x[]=1&'.repeat(30_000)}`;
    const distinct = `CHAT_ID=112&${Array.from({ length: 30_000 }, (_, i) => `x${i}=1&`).join('')}`;
    expect(steps(appends)).toBeLessThan(1.5 * steps(distinct));
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
