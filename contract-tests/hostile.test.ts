// Hostile input as properties, through a real gateway and its emulator over HTTP:
// 1. prototype keys (`__proto__`, `constructor`, …) in every position never pollute any prototype, and the
//    gateway keeps answering;
// 2. whatever the body (up to the size limit: deep nesting, odd characters, huge numbers, random bytes), the
//    answer is documented and never a 5xx.
import { fc, it } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { phpFormParams } from '../src/bitrix24-semantics';
import { answerOf, type Stack, startStack, TRANSFER } from '../src/test-support/stack';
import { isTestValue, validId } from './arbitraries';
import { expectDocumentedAnswer } from './properties';
import { PROPERTY_TIMEOUT_MS, RUNS, runParameters } from './runs';

const KEY = 'hostile-tests-key-0123456789';
const BODY_LIMIT = 16_384;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: { apiKeys: new Map([[KEY, 'hostile']]), allowAnonymous: true, bodyLimitBytes: BODY_LIMIT },
  });
});
afterAll(() => stack.close());

const prototypes = [Object.prototype, Array.prototype, Function.prototype, String.prototype] as const;
const ownNames = () => prototypes.map((p) => Object.getOwnPropertyNames(p).sort().join());
const before = ownNames();
const MARK = 'polluted';

/** The names that reach a prototype when an object is indexed with them carelessly. */
const word = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
);
const param = fc.constantFrom('CHAT_ID', 'USER_ID', 'LEAVE', 'TRANSFER_ID', 'CLIENT_ID');

/** JSON text with prototype words as keys at any depth (written as text: a JS literal would set the prototype). */
const jsonWithWords: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(`"${MARK}"`),
    fc.constant(`{"${MARK}":"yes"}`),
    fc.tuple(fc.oneof(word, param), tie('node')).map(([key, value]) => `{"${key}":${value}}`),
    fc.tuple(word, tie('node'), tie('node')).map(([key, a, b]) => `{"${key}":${a},"${key}":${b}}`),
    fc.array(tie('node'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
  ),
})).node;

const formKey = fc.oneof(
  word,
  word.map((w) => `${w}[${MARK}]`),
  word.map((w) => `${w}[]`),
  fc.tuple(word, word).map(([a, b]) => `${a}[${b}][${MARK}]`),
  fc.tuple(param, word).map(([p, w]) => `${p}[${w}][${MARK}]`),
  fc.tuple(param, word).map(([p, w]) => `${p}[${w}]`),
);

type Attack = { path: string; contentType: string; body: string; headers: Record<string, string> };
const valid = '"CHAT_ID":112,"USER_ID":12';

const attack: fc.Arbitrary<Attack> = fc.oneof(
  fc.tuple(word, jsonWithWords).map(([key, value]) => ({
    path: TRANSFER,
    contentType: 'application/json',
    body: `{${valid},"${key}":${value}}`,
    headers: {},
  })),
  jsonWithWords.map((value) => ({
    path: TRANSFER,
    contentType: 'application/json',
    body: `{"CHAT_ID":${value},"USER_ID":12}`,
    headers: {},
  })),
  fc.array(formKey, { minLength: 1, maxLength: 4 }).map((keys) => ({
    path: TRANSFER,
    contentType: 'application/x-www-form-urlencoded',
    body: [
      'CHAT_ID=112',
      'USER_ID=12',
      ...keys.flatMap((key) => [`${encodeURIComponent(key)}=1`, `${encodeURIComponent(key)}=Y`]),
    ].join('&'),
    headers: {},
  })),
  fc.tuple(word, word).map(([a, b]) => ({
    path: `/rest/${encodeURIComponent(a)}/${encodeURIComponent(b)}/imopenlines.bot.session.transfer`,
    contentType: 'application/json',
    body: `{${valid}}`,
    headers: {},
  })),
  fc.tuple(fc.constantFrom(1, 7), word).map(([user, w]) => ({
    path: `/rest/${user}/${w}/imopenlines.bot.session.transfer`,
    contentType: 'application/json',
    body: `{${valid}}`,
    headers: { authorization: `Bearer ${w}` },
  })),
  formKey.map((key) => ({
    path: `${TRANSFER}?${encodeURIComponent(key)}=1&bx24_request_id=${encodeURIComponent(key)}`,
    contentType: 'application/json',
    body: `{${valid}}`,
    headers: {},
  })),
  word.map((w) => ({
    path: TRANSFER,
    contentType: 'application/json',
    body: `{${valid}}`,
    headers: { 'x-request-id': w, [`x-${w.replace(/_/g, '')}`]: MARK },
  })),
);

async function send(request: Attack) {
  const response = await fetch(`${stack.gateway.url}${request.path}`, {
    method: 'POST',
    headers: { 'content-type': request.contentType, ...request.headers },
    body: request.body,
  });
  return answerOf(response);
}

async function stillWhole(context: string): Promise<void> {
  expect(ownNames(), `a prototype gained a property after ${context}`).toEqual(before);
  expect(({} as Record<string, unknown>)[MARK], context).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>)[MARK], context).toBeUndefined();
  const transfer = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
  expect(transfer.status, `a valid transfer after ${context}`).toBe(200);
  // A clean body must not validate with anything nobody sent (an inherited TRANSFER_ID, say).
  const empty = await stack.post(TRANSFER, { CHAT_ID: 112 });
  expect([empty.status, empty.body.error], `a body with no destination after ${context}`).toEqual([
    400,
    'TRANSFER_ID_EMPTY',
  ]);
  expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${stack.gateway.url}/metrics`)).status).toBe(200);
}

describe('prototype keys in every position', () => {
  it.prop([attack], runParameters([], Math.max(100, Math.round(RUNS / 2))))(
    'never pollute a prototype, and the gateway answers each with a documented answer and keeps serving',
    async (request) => {
      const answer = await send(request);
      const context = `${request.contentType} ${request.path} ${request.body}`;
      expect(answer.status, context).toBeLessThan(500);
      expectDocumentedAnswer(answer, context);
      await stillWhole(context);
    },
    PROPERTY_TIMEOUT_MS,
  );
});

// Property 2 ---------------------------------------------------------------------------------------------

const deep = fc.tuple(fc.integer({ min: 1, max: 8_000 }), fc.constantFrom('[]', '{}', 'ab')).map(([depth, kind]) => {
  const [open, close] = kind === '[]' ? ['[', ']'] : kind === '{}' ? ['{"a":', '}'] : ['[{"a":', '}]'];
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
});
const oddText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('\u0000', '\u202e12', '😀', '\ud800', '\udfff', 'a\u0000b', '١٢', 'ＣＨＡＴ'),
);
const hugeNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  `1${'0'.repeat(400)}`,
  `0.${'0'.repeat(400)}1`,
  '9007199254740993',
  '-0',
  '1E+2',
);
const jsonValue = fc.oneof(
  deep,
  hugeNumber,
  oddText.map((text) => JSON.stringify(text)),
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
);
const anyBody = fc
  .oneof(
    fc
      .tuple(fc.constantFrom('CHAT_ID', 'LEAVE', 'TRANSFER_ID', 'CLIENT_ID', 'QUEUE_ID'), jsonValue)
      .map(([key, value]) => ({
        contentType: 'application/json',
        body:
          key === 'CHAT_ID' ? `{"CHAT_ID":${value},"USER_ID":12}` : `{"CHAT_ID":112,"USER_ID":12,"${key}":${value}}`,
      })),
    jsonValue.map((value) => ({ contentType: 'application/json', body: value })),
    fc
      .uint8Array({ maxLength: 200 })
      .map((bytes) => ({ contentType: 'application/json', body: Buffer.from(bytes).toString('latin1') })),
    fc
      .tuple(fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })), { maxLength: 10 }), validId)
      .map(([pairs, id]) => ({
        contentType: 'application/x-www-form-urlencoded',
        body: [`CHAT_ID=${id}`, ...pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)].join(
          '&',
        ),
      })),
    fc.integer({ min: 1, max: 5_000 }).map((depth) => ({
      contentType: 'application/x-www-form-urlencoded',
      body: `CHAT_ID=112&USER_ID=12&LEAVE${'[a]'.repeat(depth)}=Y`,
    })),
    fc
      .constantFrom(
        'text/plain',
        'application/json; charset=utf-16',
        'application/x-www-form-urlencoded; charset=latin1',
        'multipart/form-data; boundary=x',
        'application/JSON',
      )
      .map((contentType) => ({
        contentType,
        body: `{${valid}}`,
      })),
  )
  .filter((request) => Buffer.byteLength(request.body) <= BODY_LIMIT)
  // A CHAT_ID drawn by chance among the emulator's test values (fc.jsonValue's 4291, say) would make a
  // valid transfer answer a documented upstream error, a 5xx among them: the property is about the body.
  .filter((request) => !isTestValue(chatIdOf(request)));

/** The CHAT_ID Bitrix24 (the emulator) reads from a JSON object or a form body; undefined from anything else. */
function chatIdOf({ contentType, body }: { contentType: string; body: string }): unknown {
  if (contentType === 'application/x-www-form-urlencoded') return phpFormParams(new URLSearchParams(body)).CHAT_ID;
  if (!/^application\/json/i.test(contentType)) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>).CHAT_ID : undefined;
  } catch {
    return undefined;
  }
}

describe('any body up to the size limit', () => {
  it.prop([anyBody], runParameters([], Math.max(100, Math.round(RUNS / 2))))(
    'is answered with a documented answer, never a 5xx, and only a valid one reaches Bitrix24',
    async (request) => {
      // stats, not received's length: the emulator keeps a bounded window of the calls.
      const calls = stack.emulator.stats.calls;
      const response = await fetch(`${stack.gateway.url}${TRANSFER}`, {
        method: 'POST',
        headers: { 'content-type': request.contentType },
        body: request.body,
      });
      const answer = await answerOf(response);
      const context = `${request.contentType} ${request.body.slice(0, 200)}`;
      expect(answer.status, context).toBeLessThan(500);
      expectDocumentedAnswer(answer, context);
      if (answer.status !== 200) expect(stack.emulator.stats.calls, `refused, yet sent: ${context}`).toBe(calls);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
