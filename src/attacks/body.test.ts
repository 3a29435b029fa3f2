// The attack suite, request side: hostile bodies, content types and credentials, each row with the answer the
// gateway must give, through a real listener and the real emulator. None of the refused ones may reach
// Bitrix24, and the gateway must keep serving after each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../test-support/raw-http';
import { answerOf, type Stack, startStack, TRANSFER } from '../test-support/stack';

const KEY = 'attack-suite-key-0123456789';
let open: Stack;
let keyed: Stack;
beforeAll(async () => {
  [open, keyed] = await Promise.all([
    startStack(),
    startStack({ config: { apiKeys: new Map([[KEY, 'attackers']]), allowAnonymous: false } }),
  ]);
});
afterAll(() => Promise.all([open.close(), keyed.close()]));

const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';

// [name, content type, body, status, code]
const bodies: [string, number, string, string, string][] = [
  ['malformed JSON', 400, 'INVALID_BODY', JSON_TYPE, '{"CHAT_ID":'],
  ['JSON with trailing garbage', 400, 'INVALID_BODY', JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12} x'],
  ['a JSON array', 400, 'INVALID_BODY', JSON_TYPE, '[112,12]'],
  ['a JSON string', 400, 'INVALID_BODY', JSON_TYPE, '"CHAT_ID=112"'],
  ['JSON null', 400, 'INVALID_BODY', JSON_TYPE, 'null'],
  ['an empty JSON body', 400, 'INVALID_BODY', JSON_TYPE, ''],
  ['a JSON body of 5000 nested arrays', 400, 'INVALID_BODY', JSON_TYPE, nested(5_000)],
  [
    'CHAT_ID as 5000 nested arrays, beside a valid destination',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    `{"CHAT_ID":${nested(5_000)},"USER_ID":12}`,
  ],
  [
    'LEAVE as 5000 nested arrays',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    `{"CHAT_ID":112,"USER_ID":12,"LEAVE":${nested(5_000, '"Y"')}}`,
  ],
  [
    'LEAVE as 2000 nested objects',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    `{"CHAT_ID":112,"USER_ID":12,"LEAVE":${'{"a":'.repeat(2_000)}1${'}'.repeat(2_000)}}`,
  ],
  ['CHAT_ID 1e400 (Infinity, which PHP reads as 0)', 400, 'CHAT_ID_EMPTY', JSON_TYPE, '{"CHAT_ID":1e400,"USER_ID":12}'],
  ['CHAT_ID 2^53 + 1', 400, 'INVALID_PARAMETER', JSON_TYPE, '{"CHAT_ID":9007199254740993,"USER_ID":12}'],
  [
    'CHAT_ID with 400 digits (Infinity too)',
    400,
    'CHAT_ID_EMPTY',
    JSON_TYPE,
    `{"CHAT_ID":1${'0'.repeat(400)},"USER_ID":12}`,
  ],
  ['CHAT_ID -0', 400, 'CHAT_ID_EMPTY', JSON_TYPE, '{"CHAT_ID":-0,"USER_ID":12}'],
  ['CHAT_ID a NUL character', 400, 'CHAT_ID_EMPTY', JSON_TYPE, '{"CHAT_ID":"\\u0000","USER_ID":12}'],
  ['CHAT_ID in Arabic-Indic digits', 400, 'CHAT_ID_EMPTY', JSON_TYPE, '{"CHAT_ID":"١١٢","USER_ID":12}'],
  [
    'CLIENT_ID with a NUL',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"bot\\u0000id"}',
  ],
  ['CLIENT_ID an emoji', 400, 'INVALID_PARAMETER', JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"😀"}'],
  [
    'CLIENT_ID with a right-to-left override',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"\\u202ebot"}',
  ],
  [
    'CLIENT_ID a lone surrogate (an escape JSON.parse takes, PHP refuses)',
    400,
    'INVALID_BODY',
    JSON_TYPE,
    '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"\\ud800"}',
  ],
  ['a key that is a lone surrogate', 400, 'INVALID_BODY', JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"\\udfff":1}'],
  ['invalid UTF-8 in a value', 400, 'INVALID_BODY', JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"\xff\xfe"}'],
  [
    'a JSON key given twice (JSON.parse keeps the last)',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    '{"CHAT_ID":0,"CHAT_ID":112,"USER_ID":12}',
  ],
  [
    'a JSON key given twice, spelt with an escape',
    400,
    'INVALID_PARAMETER',
    JSON_TYPE,
    '{"USER_ID":1,"CHAT_ID":112,"\\u0055SER_ID":12}',
  ],
  [
    '__proto__ as a JSON key',
    400,
    'UNKNOWN_PARAMETER',
    JSON_TYPE,
    '{"CHAT_ID":112,"USER_ID":12,"__proto__":{"TRANSFER_ID":1}}',
  ],
  [
    'constructor.prototype as JSON keys',
    400,
    'UNKNOWN_PARAMETER',
    JSON_TYPE,
    '{"CHAT_ID":112,"USER_ID":12,"constructor":{"prototype":{"x":1}}}',
  ],
  ['a form key given twice', 400, 'INVALID_PARAMETER', FORM, 'CHAT_ID=112&USER_ID=12&USER_ID=13'],
  ['a PHP list key (USER_ID[]), which PHP reads as user 1', 400, 'UNKNOWN_PARAMETER', FORM, 'CHAT_ID=112&USER_ID[]=12'],
  ['a PHP map key (LEAVE[k])', 400, 'UNKNOWN_PARAMETER', FORM, 'CHAT_ID=112&USER_ID=12&LEAVE[k]=Y'],
  ['a form key __proto__[x]', 400, 'CHAT_ID_EMPTY', FORM, '__proto__[x]=1'],
  [
    'a form key __proto__[LEAVE] beside a valid transfer',
    400,
    'UNKNOWN_PARAMETER',
    FORM,
    '__proto__[LEAVE]=Y&CHAT_ID=112&USER_ID=12',
  ],
  ['a form key USER_ID[__proto__][x]', 400, 'UNKNOWN_PARAMETER', FORM, 'CHAT_ID=112&USER_ID[__proto__][x]=1'],
  [
    'a form key nested 5000 brackets deep',
    400,
    'UNKNOWN_PARAMETER',
    FORM,
    `CHAT_ID=112&USER_ID=12&LEAVE${'[a]'.repeat(5_000)}=Y`,
  ],
  // %E0%A4 then "%A": bytes E0 A4 25 41 once decoded, not UTF-8.
  ['a form with a malformed percent-escape', 400, 'INVALID_BODY', FORM, 'CHAT_ID=112&USER_ID=12&LEAVE=%E0%A4%A'],
  [
    'multipart/form-data',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'multipart/form-data; boundary=x',
    '--x\r\nContent-Disposition: form-data; name="CHAT_ID"\r\n\r\n112\r\n--x--\r\n',
  ],
  [
    'JSON in UTF-16 (charset=utf-16)',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/json; charset=utf-16',
    '{"CHAT_ID":112,"USER_ID":12}',
  ],
  [
    'a form in Latin-1 (charset=iso-8859-1)',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/x-www-form-urlencoded; charset=iso-8859-1',
    'CHAT_ID=112&USER_ID=12',
  ],
  ['text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain', 'CHAT_ID=112&USER_ID=12'],
  // Parameters that are not ;name=value: whatever follows could be read as another charset.
  [
    'Content-Type with an empty parameter',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/json;',
    '{"CHAT_ID":112,"USER_ID":12}',
  ],
  [
    'Content-Type with a parameter without a value',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/x-www-form-urlencoded; charset',
    'CHAT_ID=112&USER_ID=12',
  ],
  [
    'Content-Type with a space before its parameters',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/json ; charset=utf-8',
    '{"CHAT_ID":112,"USER_ID":12}',
  ],
  [
    'a JSON subtype (application/merge-patch+json)',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/merge-patch+json',
    '{"CHAT_ID":112,"USER_ID":12}',
  ],
];

// [name, content type, body]: accepted as they are, and transferred.
const accepted: [string, string, string][] = [
  ['charset=utf-8', 'application/json; charset=utf-8', '{"CHAT_ID":112,"USER_ID":12}'],
  ['charset="UTF-8", quoted and upper-case', 'application/json; charset="UTF-8"', '{"CHAT_ID":112,"USER_ID":12}'],
  ['an upper-case media type', 'APPLICATION/JSON', '{"CHAT_ID":112,"USER_ID":12}'],
  ['CHAT_ID 112.0, the number 112 in JSON', JSON_TYPE, '{"CHAT_ID":112.0,"USER_ID":12}'],
  ['whitespace around the JSON', JSON_TYPE, ' \n\t{"CHAT_ID":112,"USER_ID":12}\n '],
  ['two parameters', 'application/json; charset=utf-8; foo=bar', '{"CHAT_ID":112,"USER_ID":12}'],
];

async function send(stack: Stack, contentType: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.gateway.url}${TRANSFER}`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    // Latin-1 bytes (the invalid UTF-8 row) go as they are; anything else as UTF-8.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is every byte, control characters included
    body: Buffer.from(body, /[\x80-\xff]/.test(body) && !/[^\x00-\xff]/.test(body) ? 'latin1' : 'utf8'),
  });
  return answerOf(response);
}

describe('hostile bodies', () => {
  it.each(bodies)('%s: %i %s, and never reaches Bitrix24', async (_name, status, code, contentType, body) => {
    const calls = open.emulator.received.length;
    const answer = await send(open, contentType, body);
    expect([answer.status, answer.body.error], answer.body.error_description).toEqual([status, code]);
    expect(answer.body.error_description.length).toBeLessThan(400);
    expect(open.emulator.received.length).toBe(calls);
    expect((await send(open, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}')).status, 'a valid transfer after it').toBe(200);
  });

  it.each(accepted)('%s is accepted', async (_name, contentType, body) => {
    const answer = await send(open, contentType, body);
    expect(answer.status).toBe(200);
  });
});

// [name, Authorization header, code]
const authorizations: [string, string, string][] = [
  ['an empty header', '', 'GATEWAY_AUTH_REQUIRED'],
  ['the scheme alone', 'Bearer', 'GATEWAY_AUTH_INVALID'],
  ['the key without a scheme', KEY, 'GATEWAY_AUTH_INVALID'],
  ['Basic with the key', `Basic ${Buffer.from(`attackers:${KEY}`).toString('base64')}`, 'GATEWAY_AUTH_INVALID'],
  ['the key twice', `Bearer ${KEY} ${KEY}`, 'GATEWAY_AUTH_INVALID'],
  ['the key and a comma', `Bearer ${KEY},`, 'GATEWAY_AUTH_INVALID'],
  ['a prefix of the key', `Bearer ${KEY.slice(0, -1)}`, 'GATEWAY_AUTH_INVALID'],
  ['the key with one more character', `Bearer ${KEY}x`, 'GATEWAY_AUTH_INVALID'],
  ['a 8 KB token', `Bearer ${'k'.repeat(8_192)}`, 'GATEWAY_AUTH_INVALID'],
  ['a token in Latin-1', 'Bearer \xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9', 'GATEWAY_AUTH_INVALID'],
  ['__proto__ as the token', 'Bearer __proto__', 'GATEWAY_AUTH_INVALID'],
  ['a tab after the scheme', `Bearer\t${KEY}`, 'GATEWAY_AUTH_INVALID'],
  ['the scheme glued to the key', `Bearer${KEY}`, 'GATEWAY_AUTH_INVALID'],
  ['the scheme cut short', `Bear ${KEY}`, 'GATEWAY_AUTH_INVALID'],
  ['spaces only after the scheme', 'Bearer    ', 'GATEWAY_AUTH_INVALID'],
  ['padding inside the token', `Bearer ${KEY.slice(0, 4)}=${KEY.slice(4)}`, 'GATEWAY_AUTH_INVALID'],
];

describe('odd Authorization headers', () => {
  it.each(authorizations)('%s is 401 %s, with a challenge and a request id', async (_name, authorization, code) => {
    const calls = keyed.emulator.received.length;
    const answer = await send(keyed, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}', { authorization });
    expect([answer.status, answer.body.error]).toEqual([401, code]);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="bitrix24-transfer-gateway"/);
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    expect(keyed.emulator.received.length).toBe(calls);
  });

  it.each([
    ['lower-case scheme', `bearer ${KEY}`],
    ['upper-case scheme', `BEARER ${KEY}`],
    ['more than one space before the key', `Bearer   ${KEY}`],
  ])('%s is let in', async (_name, authorization) => {
    expect((await send(keyed, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}', { authorization })).status).toBe(200);
  });
});

describe('hostile trace context headers', () => {
  it.each([
    ['an 8 KB traceparent', 'x'.repeat(8_192)],
    ['a traceparent with the right shape and a zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['a traceparent of version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['__proto__', '__proto__'],
  ])('%s starts a new trace and the transfer goes through', async (_name, traceparent) => {
    const answer = await send(open, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}', {
      traceparent,
      tracestate: 'a'.repeat(2_000),
    });
    expect(answer.status).toBe(200);
    const sent = open.emulator.received.at(-1)!.headers;
    expect(sent.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(sent.tracestate).toBeUndefined();
  });
});

describe('hostile Idempotency-Key headers', () => {
  it.each([
    ['an 8 KB key', 'k'.repeat(8_192)],
    ['a key in Latin-1', '\xe9\xe9\xe9'],
    ['an unbalanced quote', '"abc'],
    ['a quoted key with an escape', '"a\\"b"'],
  ])('%s is 400 INVALID_PARAMETER, not echoed, never sent', async (_name, key) => {
    const calls = open.emulator.received.length;
    const answer = await send(open, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}', { 'idempotency-key': key });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_PARAMETER']);
    expect(answer.body.error_description).not.toContain(key);
    expect(open.emulator.received.length).toBe(calls);
  });

  it('a key of control characters never reaches a route: the HTTP parser refuses it (400 INVALID_HTTP_REQUEST)', async () => {
    const body = '{"CHAT_ID":112,"USER_ID":12}';
    const calls = open.emulator.received.length;
    const request = `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nIdempotency-Key: a\x01b\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const { answers } = await sendRaw(open.gateway.url, [request], { timeoutMs: 4_000 });
    expect([answers[0]?.status, answers[0]?.body?.error]).toEqual([400, 'INVALID_HTTP_REQUEST']);
    expect(open.emulator.received.length).toBe(calls);
  });

  // Keys index the store: a prototype's name is a key like any other, kept apart per team and method.
  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString'])(
    '%s as a key is a key: the first call goes, the retry is replayed, the process keeps serving',
    async (key) => {
      const body = `{"CHAT_ID":${110 + key.length},"USER_ID":12}`;
      const calls = open.emulator.received.length;
      const first = await send(open, JSON_TYPE, body, { 'idempotency-key': key });
      const retry = await send(open, JSON_TYPE, body, { 'idempotency-key': key });
      expect([first.status, retry.status, retry.headers.get('idempotent-replayed')]).toEqual([200, 200, 'true']);
      expect(open.emulator.received.length).toBe(calls + 1);
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('CHAT_ID');
    },
  );
});

// In OAuth mode a key's parameters leave the caller's access token out (a retry with a refreshed one is the
// same call), so without API keys every caller would share one scope of keys: one could take another's key
// first, to have the victim's call replayed its answer (never sent), or read the answer of the victim's call.
describe("an anonymous caller's Idempotency-Key in OAuth mode", () => {
  let oauth: Stack;
  beforeAll(async () => {
    oauth = await startStack({ mode: 'oauth' });
  });
  afterAll(() => oauth.close());

  it("is refused before anything is claimed or sent (400 IDEMPOTENCY_KEY_UNSCOPED): no caller gets another's answer", async () => {
    const key = 'a-key-the-victim-will-use';
    const body = (auth: string) => `{"CHAT_ID":112,"USER_ID":12,"auth":"${auth}"}`;
    const attacker = await send(oauth, JSON_TYPE, body('the-attackers-own-token'), { 'idempotency-key': key });
    const victim = await send(oauth, JSON_TYPE, body('the-victims-own-token'), { 'idempotency-key': key });
    for (const answer of [attacker, victim]) {
      expect([answer.status, answer.body.error]).toEqual([400, 'IDEMPOTENCY_KEY_UNSCOPED']);
      expect(answer.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(oauth.emulator.received).toHaveLength(0);
    // Without keys, each caller's call is its own, sent with its own token.
    await send(oauth, JSON_TYPE, body('the-attackers-own-token'));
    expect((await send(oauth, JSON_TYPE, body('the-victims-own-token'))).status).toBe(200);
    expect(oauth.emulator.received.map((call) => call.params.auth)).toEqual([
      'the-attackers-own-token',
      'the-victims-own-token',
    ]);
  });
});

describe('hostile bodies to the siblings', () => {
  const sibling = async (path: string, contentType: string, body: string) =>
    answerOf(
      await fetch(`${open.gateway.url}/rest/${path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      }),
    );
  it.each([
    ['imopenlines.bot.session.operator', JSON_TYPE, '{"CHAT_ID":1,"__proto__":{"CHAT_ID":2}}', 'UNKNOWN_PARAMETER'],
    ['imopenlines.bot.session.finish', FORM, 'CHAT_ID=1&constructor[prototype][x]=1', 'UNKNOWN_PARAMETER'],
    ['imopenlines.bot.session.message.send', FORM, 'CHAT_ID=1&NAME=DEFAULT&MESSAGE[]=hi', 'INVALID_PARAMETER'],
    [
      'imopenlines.bot.session.message.send',
      JSON_TYPE,
      `{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":${nested(5_000)}}`,
      'INVALID_PARAMETER',
    ],
    [
      'imopenlines.bot.session.message.send',
      JSON_TYPE,
      '{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"\\u0000\\u000b"}',
      'INVALID_PARAMETER',
    ],
  ])('%s, %s %s: 400 %s, never sent, and a valid call still goes', async (path, contentType, body, code) => {
    const calls = open.emulator.received.length;
    const answer = await sibling(path, contentType, body);
    expect([answer.status, answer.body.error], answer.body.error_description).toEqual([400, code]);
    expect(answer.body.error_description.length).toBeLessThan(400);
    expect(open.emulator.received.length).toBe(calls);
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('x');
    expect((await sibling('imopenlines.bot.session.operator', JSON_TYPE, '{"CHAT_ID":112}')).status).toBe(200);
  });
});

describe('bodies that are not the caller text (invalid UTF-8, lone surrogates): never repaired, never sent', () => {
  const SEND = 'imopenlines.bot.session.message.send';
  const call = async (path: string, contentType: string, body: Buffer | string, query = '') =>
    answerOf(
      await fetch(`${open.gateway.url}/rest/${path}${query}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      }),
    );
  const bytes = (...parts: (string | number[])[]) =>
    Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
  // [name, path, content type, body, what the description says]
  const refused: [string, string, string, Buffer, RegExp][] = [
    [
      'MESSAGE with a raw 0xFF byte',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"a', [0xff], '"}'),
      /not valid UTF-8/,
    ],
    [
      'MESSAGE with a truncated sequence',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"', [0xe2, 0x82], '"}'),
      /not valid UTF-8/,
    ],
    [
      'MESSAGE with an overlong "/"',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"', [0xc0, 0xaf], '"}'),
      /not valid UTF-8/,
    ],
    [
      'MESSAGE with a surrogate encoded in UTF-8 (CESU)',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"', [0xed, 0xa0, 0x80], '"}'),
      /not valid UTF-8/,
    ],
    [
      'invalid bytes outside any string',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,', [0xff], '"NAME":"DEFAULT","MESSAGE":"hi"}'),
      /not valid UTF-8/,
    ],
    [
      'MESSAGE "\\ud800" (a lone high surrogate)',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"hi \\ud800"}'),
      /lone surrogate \(\\ud800\)/,
    ],
    [
      'MESSAGE "\\udc00\\ud800" (a pair in the wrong order)',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"\\udc00\\ud800"}'),
      /lone surrogate \(\\udc00\)/,
    ],
    [
      'MESSAGE "\\uD83D" at the end',
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"\\uD83D"}'),
      /lone surrogate \(\\uD83D\)/,
    ],
    [
      'a form MESSAGE=%FF',
      SEND,
      FORM,
      bytes('CHAT_ID=1&NAME=DEFAULT&MESSAGE=%FF'),
      /value of MESSAGE is not valid UTF-8 once percent-decoded/,
    ],
    [
      'a form MESSAGE of a percent-encoded lone surrogate',
      SEND,
      FORM,
      bytes('CHAT_ID=1&NAME=DEFAULT&MESSAGE=%ED%A0%80'),
      /value of MESSAGE/,
    ],
    [
      'a form with a raw 0xFF byte',
      SEND,
      FORM,
      bytes('CHAT_ID=1&NAME=DEFAULT&MESSAGE=a', [0xff]),
      /form must be sent in UTF-8/,
    ],
    ['a form name %FF', SEND, FORM, bytes('CHAT_ID=1&NAME=DEFAULT&MESSAGE=hi&%FF=1'), /parameter name of the form/],
    [
      'a transfer with CHAT_ID=%FF',
      'imopenlines.bot.session.transfer',
      FORM,
      bytes('CHAT_ID=%FF&USER_ID=12'),
      /value of CHAT_ID/,
    ],
    [
      'a transfer to CLIENT_ID "\\udfff"',
      'imopenlines.bot.session.transfer',
      JSON_TYPE,
      bytes('{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"\\udfff"}'),
      /lone surrogate/,
    ],
  ];

  it.each(refused)(
    '%s: 400 INVALID_BODY, nothing sent, and a valid transfer after it',
    async (_name, path, contentType, body, says) => {
      const calls = open.emulator.received.length;
      const answer = await call(path, contentType, body);
      expect([answer.status, answer.body.error], answer.body.error_description).toEqual([400, 'INVALID_BODY']);
      expect(answer.body.error_description).toMatch(says);
      expect(open.emulator.received.length).toBe(calls);
      expect((await send(open, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12}')).status, 'a valid transfer after it').toBe(
        200,
      );
    },
  );

  it('takes a surrogate pair, an escaped backslash before "ud800", "%" not before hex digits, and forwards them as sent', async () => {
    const json = await call(
      SEND,
      JSON_TYPE,
      bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"\\ud83d\\ude00 \\\\ud800"}'),
    );
    const form = await call(SEND, FORM, bytes('CHAT_ID=1&NAME=DEFAULT&MESSAGE=100%25+%F0%9F%98%80+5%+%zz'));
    expect([json.status, form.status]).toEqual([200, 200]);
    const [first, second] = open.emulator.received.slice(-2).map((received) => received.params.MESSAGE);
    expect([first, second]).toEqual(['😀 \\ud800', '100% 😀 5% %zz']);
  });

  it("judges the URL first: a bad query string is answered before the body's encoding", async () => {
    const answer = await call(SEND, JSON_TYPE, bytes('{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"\\ud800"}'), '?x=1');
    expect([answer.status, answer.body.error]).toEqual([400, 'UNKNOWN_PARAMETER']);
  });

  it.each([
    [
      'a key of %FF in a webhook-style path',
      '/rest/1/%FF%FE%FD%FC%FB%FA%F9%F8%F7%F6%F5%F4%F3%F2%F1%F0/imopenlines.bot.session.transfer',
      401,
      'GATEWAY_AUTH_INVALID',
    ],
    [
      'a user id of %FF in a webhook-style path',
      `/rest/%FF/${KEY}/imopenlines.bot.session.transfer`,
      400,
      'INVALID_PARAMETER',
    ],
    ['bx24_request_id=%FF in the query', `${TRANSFER}?bx24_request_id=%FF`, 400, 'INVALID_PARAMETER'],
  ])('%s (%s): %i %s, nothing sent', async (_name, target, status, code) => {
    const gateway = target.startsWith('/rest/1/') || target.includes(KEY) ? keyed : open;
    const calls = gateway.emulator.received.length;
    const response = await fetch(`${gateway.gateway.url}${target}`, {
      method: 'POST',
      headers: { 'content-type': JSON_TYPE },
      body: '{"CHAT_ID":112,"USER_ID":12}',
    });
    const answer = await answerOf(response);
    expect([answer.status, answer.body.error], answer.body.error_description).toEqual([status, code]);
    expect(gateway.emulator.received.length).toBe(calls);
  });
});
