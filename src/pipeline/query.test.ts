import { fc, it } from '@fast-check/vitest';
import { getQueryParam, getQueryParams } from 'hono/utils/url';
import { describe, expect } from 'vitest';
import { MAX_HEADER_BYTES } from '../server';
import { queryParam, queryParams } from './query';

// URLs rich in what the query reader treats specially: separators, escapes (valid, malformed, not UTF-8),
// '+', a second '?', a '#'.
const piece = fc.constantFrom(
  '&',
  '=',
  '?',
  '#',
  '+',
  '%',
  '%41',
  '%2B',
  '%26',
  '%3D',
  '%ZZ',
  '%C3%A9',
  '%FF',
  'a',
  'b',
  'é',
  'bx24_request_id',
  '__proto__',
);
const url = fc
  .array(piece, { maxLength: 24 })
  .map((pieces) => `http://127.0.0.1:8080/rest/imopenlines.bot.session.transfer${pieces.join('')}`);

describe('the query reader', () => {
  it.prop([url], { numRuns: 2_000 })("reads what Hono's c.req.queries() and c.req.query(name) read", (sent) => {
    expect({ ...queryParams(sent) }).toEqual({ ...getQueryParams(sent) });
    for (const name of ['a', 'bx24_request_id', 'é', '+', 'a b'])
      expect(queryParam(sent, name), name).toBe(getQueryParam(sent, name));
  });

  it.each([
    ['entries without =', (n: number) => 'a&'.repeat(n)],
    ['escaped entries without =', (n: number) => '%41&'.repeat(n)],
    ['only separators', (n: number) => '&'.repeat(2 * n)],
    ['only =', (n: number) => '='.repeat(2 * n)],
    ['malformed escapes', (n: number) => '%ZZ%'.repeat(n)],
  ])('looks at each character of the longest request line a bounded number of times: %s', (_, query) => {
    const sent = `http://127.0.0.1:8080/rest/x?${query(MAX_HEADER_BYTES / 2)}`.slice(0, MAX_HEADER_BYTES);
    const meter = { steps: 0 };
    queryParams(sent, meter);
    expect(meter.steps).toBeLessThanOrEqual(4 * sent.length);
  });
});
