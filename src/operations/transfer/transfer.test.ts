// The transfer operation through a real HTTP listener, with the real emulator as Bitrix24.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());

const received = () => stack.emulator.received.map((call) => call.params);

describe('a valid transfer', () => {
  it("is forwarded once, normalised, and Bitrix24's answer relayed", async () => {
    const answer = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12, LEAVE: 'N' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      result: true,
      time: { start: expect.any(Number), date_start: expect.any(String) },
    });
    expect(received()).toEqual([{ CHAT_ID: 112, USER_ID: 12, LEAVE: 'N', CLIENT_ID: 'emulator.bot' }]);
  });

  it('is served at the .json path too', async () => {
    expect((await stack.post(`${TRANSFER}.json`, { CHAT_ID: 1, QUEUE_ID: 2 })).status).toBe(200);
    expect(received()).toEqual([{ CHAT_ID: 1, QUEUE_ID: 2, LEAVE: 'N', CLIENT_ID: 'emulator.bot' }]);
  });

  it('takes a form body by the same rules, and forwards integers', async () => {
    const answer = await stack.post(TRANSFER, 'CHAT_ID=112&QUEUE_ID=3&LEAVE=Y&CLIENT_ID=my.bot', { form: true });
    expect(answer.status).toBe(200);
    expect(received()).toEqual([{ CHAT_ID: 112, QUEUE_ID: 3, LEAVE: 'Y', CLIENT_ID: 'my.bot' }]);
  });

  it.each([
    [{ CHAT_ID: 1, USER_ID: 2, QUEUE_ID: 3, TRANSFER_ID: 'queue4' }, { USER_ID: 2 }],
    [{ CHAT_ID: 1, USER_ID: 2, TRANSFER_ID: 9 }, { USER_ID: 2 }],
    [{ CHAT_ID: 1, QUEUE_ID: 3, TRANSFER_ID: 'queue4' }, { QUEUE_ID: 3 }],
    [{ CHAT_ID: 1, TRANSFER_ID: 'queue4' }, { QUEUE_ID: 4 }],
    [{ CHAT_ID: 1, TRANSFER_ID: '12' }, { USER_ID: 12 }],
  ])('%j reaches Bitrix24 with the documented destination %j only', async (body, destination) => {
    expect((await stack.post(TRANSFER, body)).status).toBe(200);
    expect(received()).toEqual([{ CHAT_ID: 1, LEAVE: 'N', CLIENT_ID: 'emulator.bot', ...destination }]);
  });
});

// [name, body, form?, status, code, description fragment]
const rejected: [string, unknown, boolean, number, string, string][] = [
  ['an empty object', {}, false, 400, 'CHAT_ID_EMPTY', 'CHAT_ID is missing'],
  ['CHAT_ID "abc" (Bitrix24 reads 0)', { CHAT_ID: 'abc', USER_ID: 1 }, false, 400, 'CHAT_ID_EMPTY', 'CHAT_ID "abc"'],
  ['CHAT_ID null', { CHAT_ID: null, USER_ID: 1 }, false, 400, 'CHAT_ID_EMPTY', 'missing'],
  ['a lower-case chat_id', { chat_id: 5, USER_ID: 1 }, false, 400, 'CHAT_ID_EMPTY', 'case-sensitive'],
  [
    'CHAT_ID 0 with an unknown key (Bitrix24 reports CHAT_ID first)',
    { CHAT_ID: 0, foo: 1 },
    false,
    400,
    'CHAT_ID_EMPTY',
    'CHAT_ID 0',
  ],
  ['no destination', { CHAT_ID: 5 }, false, 400, 'TRANSFER_ID_EMPTY', 'USER_ID, QUEUE_ID or TRANSFER_ID'],
  [
    'CHAT_ID "12abc" and no destination (Bitrix24 reports the destination)',
    { CHAT_ID: '12abc' },
    false,
    400,
    'TRANSFER_ID_EMPTY',
    'destination',
  ],
  ['USER_ID 0', { CHAT_ID: 5, USER_ID: 0 }, false, 400, 'USER_ID_EMPTY', 'USER_ID 0'],
  ['TRANSFER_ID "abc"', { CHAT_ID: 5, TRANSFER_ID: 'abc' }, false, 400, 'USER_ID_EMPTY', 'TRANSFER_ID "abc"'],
  ['TRANSFER_ID "Queue5"', { CHAT_ID: 5, TRANSFER_ID: 'Queue5' }, false, 400, 'USER_ID_EMPTY', 'TRANSFER_ID'],
  [
    'TRANSFER_ID "abc" beside a valid USER_ID (the server lets TRANSFER_ID win)',
    { CHAT_ID: 5, USER_ID: 7, TRANSFER_ID: 'abc' },
    false,
    400,
    'USER_ID_EMPTY',
    'TRANSFER_ID',
  ],
  ['QUEUE_ID -1', { CHAT_ID: 5, QUEUE_ID: -1 }, false, 400, 'QUEUE_ID_EMPTY', 'QUEUE_ID -1'],
  ['TRANSFER_ID "queueX"', { CHAT_ID: 5, TRANSFER_ID: 'queueX' }, false, 400, 'QUEUE_ID_EMPTY', 'TRANSFER_ID "queueX"'],
  [
    'QUEUE_ID 0 beside a valid USER_ID',
    { CHAT_ID: 5, USER_ID: 2, QUEUE_ID: 0 },
    false,
    400,
    'QUEUE_ID_EMPTY',
    'QUEUE_ID 0',
  ],
  [
    'TRANSFER_ID "queue0" beside a valid USER_ID',
    { CHAT_ID: 5, USER_ID: 2, TRANSFER_ID: 'queue0' },
    false,
    400,
    'QUEUE_ID_EMPTY',
    'TRANSFER_ID',
  ],
  ['CHAT_ID "12abc"', { CHAT_ID: '12abc', USER_ID: 1 }, false, 400, 'INVALID_PARAMETER', 'CHAT_ID must be an integer'],
  ['CHAT_ID 1.5', { CHAT_ID: 1.5, USER_ID: 1 }, false, 400, 'INVALID_PARAMETER', 'CHAT_ID must be an integer'],
  ['CHAT_ID "12" as a JSON string', { CHAT_ID: '12', USER_ID: 1 }, false, 400, 'INVALID_PARAMETER', 'CHAT_ID'],
  ['CHAT_ID true', { CHAT_ID: true, USER_ID: 1 }, false, 400, 'INVALID_PARAMETER', 'CHAT_ID'],
  ['CHAT_ID past 2147483647', { CHAT_ID: 2147483648, USER_ID: 1 }, false, 400, 'INVALID_PARAMETER', '2147483647'],
  ['USER_ID "7x"', { CHAT_ID: 1, USER_ID: '7x' }, false, 400, 'INVALID_PARAMETER', 'USER_ID'],
  ['LEAVE "y"', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'y' }, false, 400, 'INVALID_PARAMETER', 'LEAVE must be "Y" or "N"'],
  ['LEAVE true', { CHAT_ID: 1, USER_ID: 1, LEAVE: true }, false, 400, 'INVALID_PARAMETER', 'LEAVE'],
  ['an array TRANSFER_ID', { CHAT_ID: 1, TRANSFER_ID: [5] }, false, 400, 'INVALID_PARAMETER', 'TRANSFER_ID must be'],
  [
    'an object TRANSFER_ID',
    { CHAT_ID: 1, TRANSFER_ID: { id: 5 } },
    false,
    400,
    'INVALID_PARAMETER',
    'TRANSFER_ID must be',
  ],
  ['TRANSFER_ID "12abc"', { CHAT_ID: 1, TRANSFER_ID: '12abc' }, false, 400, 'INVALID_PARAMETER', 'TRANSFER_ID'],
  [
    'an empty CLIENT_ID',
    { CHAT_ID: 1, USER_ID: 1, CLIENT_ID: '' },
    false,
    400,
    'INVALID_PARAMETER',
    'CLIENT_ID must be',
  ],
  [
    'CLIENT_ID "0" (Bitrix24 reads it as none)',
    { CHAT_ID: 1, USER_ID: 1, CLIENT_ID: '0' },
    false,
    400,
    'INVALID_PARAMETER',
    'other than "0"',
  ],
  [
    'auth in webhook mode',
    { CHAT_ID: 1, USER_ID: 1, auth: 'token' },
    false,
    400,
    'INVALID_PARAMETER',
    'auth is not accepted',
  ],
  ['an unknown key', { CHAT_ID: 1, USER_ID: 1, foo: 1 }, false, 400, 'UNKNOWN_PARAMETER', '"foo"'],
  [
    'a lower-case leave',
    { CHAT_ID: 1, USER_ID: 1, leave: 'Y' },
    false,
    400,
    'UNKNOWN_PARAMETER',
    'did you mean "LEAVE"',
  ],
  [
    'LEAVE "y" and an unknown key (LEAVE is read first)',
    { CHAT_ID: 1, USER_ID: 1, foo: 1, LEAVE: 'y' },
    false,
    400,
    'INVALID_PARAMETER',
    'LEAVE',
  ],
  ['malformed JSON', '{"CHAT_ID":', false, 400, 'INVALID_BODY', 'could not be parsed'],
  ['a JSON array', '[1]', false, 400, 'INVALID_BODY', 'an array'],
  ['JSON null', 'null', false, 400, 'INVALID_BODY', 'null'],
  ['a JSON string', '"CHAT_ID"', false, 400, 'INVALID_BODY', 'a string'],
  ['form: CHAT_ID=12abc', 'CHAT_ID=12abc&USER_ID=1', true, 400, 'INVALID_PARAMETER', 'written in decimal digits'],
  ['form: CHAT_ID=007', 'CHAT_ID=007&USER_ID=1', true, 400, 'INVALID_PARAMETER', 'CHAT_ID'],
  ['form: CHAT_ID=0', 'CHAT_ID=0&USER_ID=1', true, 400, 'CHAT_ID_EMPTY', 'CHAT_ID'],
  ['form: no CHAT_ID', 'USER_ID=1', true, 400, 'CHAT_ID_EMPTY', 'missing'],
  ['form: CHAT_ID twice', 'CHAT_ID=1&CHAT_ID=2&USER_ID=1', true, 400, 'INVALID_PARAMETER', 'more than once'],
  [
    'form: TRANSFER_ID[] (a PHP list)',
    'CHAT_ID=1&TRANSFER_ID[]=5',
    true,
    400,
    'UNKNOWN_PARAMETER',
    'TRANSFER_ID takes one value',
  ],
  ['form: no destination', 'CHAT_ID=1&LEAVE=Y', true, 400, 'TRANSFER_ID_EMPTY', 'destination'],
  ['form: LEAVE=yes', 'CHAT_ID=1&USER_ID=1&LEAVE=yes', true, 400, 'INVALID_PARAMETER', 'LEAVE'],
  // PHP reads a form's entries in the order sent, the last one winning, whatever Hono's grouping by key.
  [
    'form: USER_ID, then as a list, then "abc" (PHP reads "abc")',
    'CHAT_ID=1&USER_ID=01&USER_ID[]=5&USER_ID=abc',
    true,
    400,
    'USER_ID_EMPTY',
    'USER_ID',
  ],
  [
    'form: CHAT_ID, then as a map, then empty (PHP reads "")',
    'CHAT_ID=1&CHAT_ID[0]=7&CHAT_ID=&TRANSFER_ID=queue1',
    true,
    400,
    'CHAT_ID_EMPTY',
    'CHAT_ID',
  ],
  ['form: an empty body', '', true, 400, 'CHAT_ID_EMPTY', 'missing'],
];

describe.each(rejected)('%s', (_name, body, form, status, code, fragment) => {
  it(`is answered ${status} ${code}, and never reaches Bitrix24`, async () => {
    const answer = await stack.post(TRANSFER, body, { form });
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: code, error_description: expect.stringContaining(fragment) });
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(received()).toEqual([]);
  });
});

describe('requests refused before validation', () => {
  const url = () => `${stack.gateway.url}${TRANSFER}`;

  it('a query string is UNKNOWN_PARAMETER', async () => {
    const answer = await stack.post(`${TRANSFER}?auth=abc`, { CHAT_ID: 1, USER_ID: 1 });
    expect([answer.status, answer.body.error]).toEqual([400, 'UNKNOWN_PARAMETER']);
  });

  it.each(['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/vnd.api+json'])(
    'Content-Type %s is 415 UNSUPPORTED_MEDIA_TYPE',
    async (contentType) => {
      const answer = await stack.post(TRANSFER, '{}', { headers: { 'content-type': contentType } });
      expect([answer.status, answer.body.error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    },
  );

  it('a body without a Content-Type is 415', async () => {
    const response = await fetch(url(), { method: 'POST', body: new Uint8Array([123, 125]) });
    expect([response.status, (await response.json()).error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('no body at all is CHAT_ID_EMPTY, as from Bitrix24', async () => {
    const response = await fetch(url(), { method: 'POST' });
    expect([response.status, (await response.json()).error]).toEqual([400, 'CHAT_ID_EMPTY']);
  });

  it('a body over the limit is 413 BODY_TOO_LARGE', async () => {
    const answer = await stack.post(TRANSFER, { CHAT_ID: 1, USER_ID: 1, CLIENT_ID: 'x'.repeat(20_000) });
    expect([answer.status, answer.body.error]).toEqual([413, 'BODY_TOO_LARGE']);
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('%s is 405 METHOD_NOT_ALLOWED with Allow: POST', async (method) => {
    const response = await fetch(url(), { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect((await response.json()).error).toBe('METHOD_NOT_ALLOWED');
  });

  it('an unknown path is 404 ERROR_METHOD_NOT_FOUND, in the envelope', async () => {
    const answer = await stack.post('/rest/imopenlines.bot.session.dialog.new', { CHAT_ID: 1 });
    expect([answer.status, answer.body.error]).toEqual([404, 'ERROR_METHOD_NOT_FOUND']);
  });

  afterAll(() => expect(received()).toEqual([]));
});

describe('the body limit', () => {
  it('holds for a chunked body too (no Content-Length)', async () => {
    const big = new TextEncoder().encode(JSON.stringify({ CHAT_ID: 1, USER_ID: 1, CLIENT_ID: 'x'.repeat(20_000) }));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 4_096) controller.enqueue(big.slice(i, i + 4_096));
        controller.close();
      },
    });
    const response = await fetch(`${stack.gateway.url}${TRANSFER}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect([response.status, (await response.json()).error]).toEqual([413, 'BODY_TOO_LARGE']);
    expect(received()).toEqual([]);
  });
});
