import { describe, expect, it } from 'vitest';
import { bodyJson, type UpstreamAnswer } from '.';

const answer = (body: string): UpstreamAnswer => ({ status: 200, contentType: 'application/json', body });

describe('bodyJson', () => {
  it('parses an answer once, whoever asks', () => {
    const read = answer('{"result":true,"time":{"operating_reset_at":1}}');
    const first = bodyJson(read);
    expect(first).toEqual({ value: { result: true, time: { operating_reset_at: 1 } } });
    expect(bodyJson(read)).toBe(first);
    // Another answer with the same text is its own.
    expect(bodyJson(answer(read.body))).not.toBe(first);
  });

  it.each(['', 'not json', '{"result":', '<html>'])('says %j is not JSON (undefined), every time', (body) => {
    const read = answer(body);
    expect(bodyJson(read)).toBeUndefined();
    expect(bodyJson(read)).toBeUndefined();
  });

  it.each(['null', '0', '"text"', '[]'])('holds %j, JSON that is not an object, as its value', (body) => {
    expect(bodyJson(answer(body))).toEqual({ value: JSON.parse(body) });
  });
});
