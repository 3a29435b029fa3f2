import { describe, expect, it } from 'vitest';
import { formTextProblem, jsonTextProblem, loneSurrogateEscape, percentDecoded } from '.';

const fatal = new TextDecoder('utf-8', { fatal: true });
const decodes = (bytes: Uint8Array) => {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

// Byte sequences and whether they are UTF-8 (RFC 3629, Unicode's table 3-7), written out by hand.
const sequences: [string, number[], boolean][] = [
  ['ASCII', [0x61], true],
  ['two bytes (é)', [0xc3, 0xa9], true],
  ['three bytes (€)', [0xe2, 0x82, 0xac], true],
  ['four bytes (😀)', [0xf0, 0x9f, 0x98, 0x80], true],
  ['U+FFFD itself', [0xef, 0xbf, 0xbd], true],
  ['the largest code point', [0xf4, 0x8f, 0xbf, 0xbf], true],
  ['a lone continuation byte', [0x80], false],
  ['0xFF', [0xff], false],
  ['a truncated three-byte sequence', [0xe2, 0x82], false],
  ['an overlong "/"', [0xc0, 0xaf], false],
  ['an overlong NUL in three bytes', [0xe0, 0x80, 0x80], false],
  ['a high surrogate in UTF-8 (CESU-8)', [0xed, 0xa0, 0x80], false],
  ['a low surrogate in UTF-8', [0xed, 0xbf, 0xbf], false],
  ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], false],
];

describe('jsonTextProblem', () => {
  it.each(sequences)('%s in a JSON string: refused exactly when not UTF-8', (_name, sequence, valid) => {
    const body = Buffer.concat([Buffer.from('{"MESSAGE":"'), Buffer.from(sequence), Buffer.from('"}')]);
    expect(decodes(body), 'the table agrees with TextDecoder').toBe(valid);
    expect(jsonTextProblem(body) === undefined).toBe(valid);
  });

  it('names a lone surrogate escape, and takes the pair', () => {
    expect(jsonTextProblem(Buffer.from('{"A":"\\ud800"}'))).toMatch(/lone surrogate \(\\ud800\)/);
    expect(jsonTextProblem(Buffer.from('{"A":"\\ud83d\\ude00"}'))).toBeUndefined();
  });
});

describe('loneSurrogateEscape', () => {
  it.each([
    ['no escape', '"abc"', undefined],
    ['a pair', '"\\ud83d\\ude00"', undefined],
    ['a pair in upper case', '"\\uD83D\\uDE00"', undefined],
    ['a high one alone', '"\\ud800"', 'd800'],
    ['a low one alone', '"\\udfff"', 'dfff'],
    ['a high one then text', '"\\ud800x\\udc00"', 'd800'],
    ['low then high', '"\\udc00\\ud800"', 'dc00'],
    ['two highs', '"\\ud800\\ud800\\udc00"', 'd800'],
    ['a high one at the very end', '"\\ud800', 'd800'],
    ['an escaped backslash, then text that looks like an escape', '"\\\\ud800"', undefined],
    ['three backslashes: one escaped, then a real escape', '"\\\\\\ud800"', 'd800'],
    ['other escapes around a pair', '"\\n\\ud83d\\ude00\\t\\u0041"', undefined],
    ['a key', '{"\\udfff":1}', 'dfff'],
    ['a BMP character beside surrogates', '"\\ue000\\ud7ff"', undefined],
  ])('%s', (_name, text, lone) => {
    expect(loneSurrogateEscape(text)).toBe(lone);
  });

  it('agrees with what JSON.parse makes of the text, over every escape pairing of two units', () => {
    const units = ['0041', 'd7ff', 'd800', 'dbff', 'dc00', 'dfff', 'e000'];
    for (const a of units)
      for (const b of units) {
        const text = `"\\u${a}\\u${b}"`;
        // With the u flag, a surrogate matches only when it is not half of a pair.
        const wellFormed = !/[\uD800-\uDFFF]/u.test(JSON.parse(text) as string);
        expect(loneSurrogateEscape(text) === undefined, text).toBe(wellFormed);
      }
  });
});

describe('formTextProblem', () => {
  const isParameter = (name: string) => name === 'CHAT_ID' || name === 'MESSAGE';
  it.each(sequences)('%s percent-encoded in a value: refused exactly when not UTF-8', (_name, sequence, valid) => {
    const encoded = sequence.map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
    expect(formTextProblem(Buffer.from(`CHAT_ID=1&MESSAGE=${encoded}`), isParameter) === undefined).toBe(valid);
  });

  it('names a parameter of the method, and no other name', () => {
    expect(formTextProblem(Buffer.from('CHAT_ID=%FF'), isParameter)).toMatch(/value of CHAT_ID/);
    expect(formTextProblem(Buffer.from('OTHER=%FF'), isParameter)).toMatch(/value of a form parameter/);
    expect(formTextProblem(Buffer.from('%FF=1'), isParameter)).toMatch(/parameter name/);
    expect(formTextProblem(Buffer.from([0x41, 0x3d, 0xff]), isParameter)).toMatch(/form must be sent in UTF-8/);
  });

  it('takes what is not an escape as it is, as PHP does', () => {
    expect(formTextProblem(Buffer.from('A=100%&B=%zz&C=%4&D=%e2%82%ac+x'), isParameter)).toBeUndefined();
    expect(Buffer.from(percentDecoded('100%+%zz%4%e2%82%ac')).toString()).toBe('100% %zz%4€');
  });
});
