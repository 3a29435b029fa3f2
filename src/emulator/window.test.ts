import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReceivedCall } from './types';
import { sizeOfCall, Window } from './window';

const filled = (window: Window<number>, items: number[], bytes = 1) => {
  for (const item of items) window.push(item, bytes);
  return window;
};
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Window', () => {
  it('keeps the newest maxItems, oldest first, and says how many each push dropped', () => {
    const window = new Window<number>(3, 1_000);
    expect([window.push(1, 1), window.push(2, 1), window.push(3, 1)]).toEqual([0, 0, 0]);
    expect(window.push(4, 1)).toBe(1);
    expect(window.toArray()).toEqual([2, 3, 4]);
    expect([window.length, window.bytes]).toEqual([3, 3]);
  });

  it('stays in order across many wraps of its ring, and past its growth', () => {
    const window = filled(new Window<number>(1_000, Number.MAX_SAFE_INTEGER), range(1, 12_345));
    expect(window.toArray()).toEqual(range(11_346, 12_345));
    expect(window.newest(3)).toEqual([12_343, 12_344, 12_345]);
  });

  it('drops the oldest past maxBytes, as many as it takes; the newest stays whatever its size', () => {
    const window = new Window<string>(100, 10);
    expect([window.push('a', 4), window.push('b', 4)]).toEqual([0, 0]);
    expect(window.push('c', 4)).toBe(1);
    expect([window.toArray(), window.bytes]).toEqual([['b', 'c'], 8]);
    expect(window.push('d', 2)).toBe(0);
    expect(window.push('huge', 50)).toBe(3);
    expect([window.toArray(), window.bytes]).toEqual([['huge'], 50]);
    expect(window.push('e', 1)).toBe(1);
    expect([window.toArray(), window.bytes]).toEqual([['e'], 1]);
  });

  it('newest(n) answers the last n, all of them when fewer are kept, none for 0 or less', () => {
    const window = filled(new Window<number>(5, 100), [1, 2, 3, 4, 5, 6, 7]);
    expect(window.newest(2)).toEqual([6, 7]);
    expect(window.newest(50)).toEqual([3, 4, 5, 6, 7]);
    expect([window.newest(0), window.newest(-3)]).toEqual([[], []]);
  });

  it('toArray() is a copy', () => {
    const window = filled(new Window<number>(5, 100), [1, 2]);
    window.toArray().push(3);
    expect(window.toArray()).toEqual([1, 2]);
  });

  it('clear() empties it, and it fills again in order', () => {
    const window = filled(new Window<number>(4, 100), range(1, 9));
    window.clear();
    expect([window.toArray(), window.length, window.bytes]).toEqual([[], 0, 0]);
    filled(window, range(1, 6));
    expect(window.toArray()).toEqual([3, 4, 5, 6]);
  });

  it('refuses bounds below 1', () => {
    expect(() => new Window(0, 100)).toThrow(RangeError);
    expect(() => new Window(1.5, 100)).toThrow(RangeError);
    expect(() => new Window(10, 0)).toThrow(RangeError);
    expect(() => new Window(10, Number.NaN)).toThrow(RangeError);
  });

  it('holds what a list model holds: the newest within both bounds, the newest always', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 300 }),
        (maxItems, maxBytes, sizes) => {
          const window = new Window<number>(maxItems, maxBytes);
          let model: { item: number; size: number }[] = [];
          let dropped = 0;
          sizes.forEach((size, item) => {
            dropped += window.push(item, size);
            model.push({ item, size });
            if (model.length > maxItems) model = model.slice(1);
            while (model.length > 1 && model.reduce((sum, kept) => sum + kept.size, 0) > maxBytes)
              model = model.slice(1);
          });
          expect(window.toArray()).toEqual(model.map((kept) => kept.item));
          expect(window.bytes).toBe(model.reduce((sum, kept) => sum + kept.size, 0));
          expect(dropped).toBe(sizes.length - model.length);
        },
      ),
    );
  });
});

describe('sizeOfCall', () => {
  const call = (params: Record<string, unknown>): ReceivedCall => ({
    path: '/rest/1/emulatorsecret/imopenlines.bot.session.message.send',
    method: 'POST',
    params,
    contentType: 'application/json',
    headers: { 'content-type': 'application/json' },
    at: 0,
  });

  it('counts two bytes for each UTF-16 unit of the strings it holds', () => {
    const empty = sizeOfCall(call({}));
    expect(sizeOfCall(call({ MESSAGE: 'x'.repeat(20_000) })) - empty).toBe(2 * 20_000 + 2 * 7 + 16 + 16 + 8);
    // 😀 is two units: 80,000 bytes for 20,000 of them, as V8 stores the string.
    expect(sizeOfCall(call({ MESSAGE: '😀'.repeat(20_000) })) - empty).toBe(2 * 40_000 + 2 * 7 + 16 + 16 + 8);
    const withHeader = (value: string) => sizeOfCall({ ...call({}), headers: { 'x-long': value } });
    expect(withHeader('h'.repeat(8_000)) - withHeader('')).toBe(16_000);
  });

  it('counts nested parameters without recursion, however deep', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(sizeOfCall(call({ LEAVE: deep }))).toBeGreaterThan(200_000 * 40);
    expect(sizeOfCall(call({ LIST: Array(1_000).fill(0) }))).toBeGreaterThan(1_000 * 16);
  });
});
