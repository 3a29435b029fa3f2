import { describe, expect, it } from 'vitest';
import { createEmulator } from '.';
import { answerOf, error, get, OAUTH, postForm, postJson, valid, WEBHOOK } from './testing';

const unlimitedOptions = {
  rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
  operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
};
const unlimited = () => createEmulator(unlimitedOptions);
const SEND = '/rest/1/emulatorsecret/imopenlines.bot.session.message.send';

const CHAT_ID_EMPTY = error('CHAT_ID_EMPTY', "Chat ID can't be empty");
const USER_ID_EMPTY = error('USER_ID_EMPTY', "User ID can't be empty");
const QUEUE_ID_EMPTY = error('QUEUE_ID_EMPTY', "QUEUE ID can't be empty");
const TRANSFER_ID_EMPTY = error('TRANSFER_ID_EMPTY', "Queue ID or User ID can't be empty");
const BOT_ID_ERROR = error('BOT_ID_ERROR', 'Bot not found');
const INTERNAL_SERVER_ERROR = error('INTERNAL_SERVER_ERROR', 'Internal server error');
const NO_AUTH_FOUND = error('NO_AUTH_FOUND', 'Wrong authorization data');
const METHOD_NOT_FOUND = error('ERROR_METHOD_NOT_FOUND', 'Method not found!');

describe("the check order is the server's, not the docs'", () => {
  const bot = { CLIENT_ID: 'bot' };
  it.each([
    // A non-queue TRANSFER_ID beats USER_ID.
    [{ CHAT_ID: 5, USER_ID: 3, TRANSFER_ID: 'abc' }, 400, USER_ID_EMPTY],
    [{ CHAT_ID: 5, USER_ID: 0, TRANSFER_ID: 9 }, 200, undefined],
    // TRANSFER_ID=queueN beats QUEUE_ID.
    [{ CHAT_ID: 5, QUEUE_ID: 0, TRANSFER_ID: 'queue3' }, 200, undefined],
    [{ CHAT_ID: 5, QUEUE_ID: 3, TRANSFER_ID: 'queueX' }, 400, QUEUE_ID_EMPTY],
    // USER_ID beats a queue TRANSFER_ID.
    [{ CHAT_ID: 5, USER_ID: 0, TRANSFER_ID: 'queue3' }, 400, USER_ID_EMPTY],
    [{ CHAT_ID: 5, TRANSFER_ID: '' }, 400, USER_ID_EMPTY],
    [{ CHAT_ID: 5, TRANSFER_ID: 'abc' }, 400, USER_ID_EMPTY],
    [{ CHAT_ID: 5, TRANSFER_ID: 'Queue5' }, 400, USER_ID_EMPTY],
    [{ CHAT_ID: 5, TRANSFER_ID: 'queue' }, 400, QUEUE_ID_EMPTY],
    [{ CHAT_ID: 5, TRANSFER_ID: 'queueX' }, 400, QUEUE_ID_EMPTY],
    // PHP's (int), and null is not set.
    [{ CHAT_ID: '12abc', USER_ID: 3 }, 200, undefined],
    [{ CHAT_ID: 'abc', USER_ID: 3 }, 400, CHAT_ID_EMPTY],
    [{ CHAT_ID: null, USER_ID: 3 }, 400, CHAT_ID_EMPTY],
    [{ CHAT_ID: 5, USER_ID: null, QUEUE_ID: 3 }, 200, undefined],
    [{ CHAT_ID: 5, USER_ID: null }, 400, TRANSFER_ID_EMPTY],
    // Keys are case-sensitive.
    [{ chat_id: 5, USER_ID: 3 }, 400, CHAT_ID_EMPTY],
    [{ CHAT_ID: 5, user_id: 3 }, 400, TRANSFER_ID_EMPTY],
    // LEAVE other than Y is silently N.
    [{ CHAT_ID: 5, USER_ID: 3, LEAVE: 'yes' }, 200, undefined],
    // A non-scalar TRANSFER_ID is a PHP error, but only after the CHAT_ID check.
    [{ CHAT_ID: 5, TRANSFER_ID: [1] }, 500, INTERNAL_SERVER_ERROR],
    [{ CHAT_ID: 5, TRANSFER_ID: { a: 1 } }, 500, INTERNAL_SERVER_ERROR],
    [{ CHAT_ID: 0, TRANSFER_ID: [1] }, 400, CHAT_ID_EMPTY],
  ])('%j answers %d', async (params, status, body) => {
    const answer = await postJson(unlimited(), { ...params, ...bot });
    expect(answer.status).toBe(status);
    if (body) expect(answer.body).toEqual(body);
    else expect(answer.body).toMatchObject({ result: true });
  });

  it('checks the parameters before the bot: a webhook without CLIENT_ID', async () => {
    const emulator = unlimited();
    expect((await postJson(emulator, { CHAT_ID: 5 })).body).toEqual(TRANSFER_ID_EMPTY);
    expect(await postJson(emulator, { CHAT_ID: 5, USER_ID: 3 })).toMatchObject({ status: 400, body: BOT_ID_ERROR });
    expect(await postJson(emulator, { CHAT_ID: 5, USER_ID: 3, CLIENT_ID: '' })).toMatchObject({
      status: 400,
      body: BOT_ID_ERROR,
    });
    expect(await postJson(emulator, { CHAT_ID: 5, USER_ID: 3, CLIENT_ID: 'bot' })).toMatchObject({ status: 200 });
  });

  it('does not need CLIENT_ID over OAuth', async () => {
    expect(await postJson(unlimited(), { CHAT_ID: 5, USER_ID: 3, auth: 'token' }, OAUTH)).toMatchObject({
      status: 200,
    });
  });
});

describe('the answer', () => {
  it("is Bitrix24's success with its time block", async () => {
    const at = Date.UTC(2024, 9, 11, 10, 0, 0, 456);
    const emulator = createEmulator({ now: () => at });
    const answer = await postJson(emulator, valid);
    expect(answer).toEqual({
      status: 200,
      contentType: 'application/json; charset=utf-8',
      body: {
        result: true,
        time: {
          start: 1728640800.456,
          finish: 1728640800.456,
          duration: 0,
          processing: 0,
          date_start: '2024-10-11T10:00:00+00:00',
          date_finish: '2024-10-11T10:00:00+00:00',
          operating: 0.01,
          // The basket of 10:00 leaves the ten-minute window at 10:10.
          operating_reset_at: 1728641400,
        },
      },
    });
  });

  it('leaves out operating_reset_at while no operating time is used', async () => {
    const emulator = createEmulator({
      operatingLimit: { enabled: true, limitSeconds: 480, costPerCallSeconds: 0, windowSeconds: 600 },
    });
    const { body } = await postJson(emulator, valid);
    expect(body).toMatchObject({ time: { operating: 0 } });
    expect((body as { time: object }).time).not.toHaveProperty('operating_reset_at');
  });

  it('is an exact error envelope in JSON', async () => {
    const answer = await postJson(unlimited(), {});
    expect(answer).toEqual({ status: 400, contentType: 'application/json; charset=utf-8', body: CHAT_ID_EMPTY });
  });
});

describe('routes', () => {
  it.each([
    ['POST', WEBHOOK],
    ['POST', `${WEBHOOK}.json`],
    ['GET', WEBHOOK],
    ['PUT', WEBHOOK],
    ['POST', '/rest/1/emulatorsecret/IMOPENLINES.BOT.SESSION.TRANSFER'],
    ['POST', `${OAUTH}.json?auth=token`],
  ])('%s %s is the method', async (method, path) => {
    const emulator = unlimited();
    const response = await emulator.app.request(
      `http://portal.test${path}${path.includes('?') ? '&' : '?'}CHAT_ID=1&USER_ID=2&CLIENT_ID=b`,
      { method },
    );
    expect(response.status).toBe(200);
  });

  it.each([
    `${WEBHOOK.replace('transfer', 'dialog.new')}`,
    '/rest/1/emulatorsecret/imopenlines.bot.session.transfer.xml',
    '/rest/profile?auth=token',
    '/nothing/here',
  ])('%s is not found', async (path) => {
    expect(await get(unlimited(), path)).toEqual({
      status: 404,
      contentType: 'application/json; charset=utf-8',
      body: METHOD_NOT_FOUND,
    });
  });
});

describe("server.time (the gateway's probe)", () => {
  it('answers the time with the webhook, counts in the bucket, and is not a call received', async () => {
    const emulator = createEmulator({ ...unlimitedOptions, rateLimit: { enabled: true, drainPerSecond: 2, burst: 1 } });
    const first = await postJson(emulator, {}, '/rest/1/emulatorsecret/server.time');
    expect(first.status).toBe(200);
    const body = first.body as { result: string; time: object };
    expect(body.result).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    expect(body.time).toMatchObject({ operating: 0 });
    expect(await postJson(emulator, {}, '/rest/1/emulatorsecret/server.time.json')).toMatchObject({ status: 503 });
    expect(emulator.stats).toMatchObject({ calls: 0, rejectedByRateLimit: 1, maxBucketLevel: 1 });
    expect(emulator.received).toEqual([]);
  });

  it('is refused as any method without the webhook or a token', async () => {
    for (const path of ['/rest/1/wrong/server.time', '/rest/server.time']) {
      expect(await postJson(unlimited(), {}, path)).toMatchObject({ status: 401, body: NO_AUTH_FOUND });
    }
  });
});

describe('auth', () => {
  it.each([
    '/rest/2/emulatorsecret/imopenlines.bot.session.transfer',
    '/rest/1/wrong/imopenlines.bot.session.transfer',
    '/rest/1/wrong/no.such.method',
    OAUTH,
    `${OAUTH}?auth=`,
  ])('%s is refused', async (path) => {
    const emulator = unlimited();
    expect(await postJson(emulator, valid, path)).toMatchObject({ status: 401, body: NO_AUTH_FOUND });
    expect(emulator.received).toEqual([]);
    expect(emulator.stats.calls).toBe(0);
  });

  it('takes any OAuth token, from the query or the body', async () => {
    const emulator = unlimited();
    expect(await postJson(emulator, valid, `${OAUTH}?auth=anything`)).toMatchObject({ status: 200 });
    expect(await postJson(emulator, { ...valid, auth: 'x' }, OAUTH)).toMatchObject({ status: 200 });
    expect(await postForm(emulator, 'CHAT_ID=1&USER_ID=2&auth=x', OAUTH)).toMatchObject({ status: 200 });
  });

  it('uses the configured webhook', async () => {
    const emulator = createEmulator({ webhook: { userId: '7', code: 'abc' } });
    expect(await postJson(emulator, valid, WEBHOOK)).toMatchObject({ status: 401 });
    expect(await postJson(emulator, valid, '/rest/7/abc/imopenlines.bot.session.transfer')).toMatchObject({
      status: 200,
    });
  });
});

describe('bodies', () => {
  it('merges the query with a JSON body, the body winning', async () => {
    const emulator = unlimited();
    expect(await postJson(emulator, { CHAT_ID: 5 }, `${WEBHOOK}?CHAT_ID=0&USER_ID=3&CLIENT_ID=b`)).toMatchObject({
      status: 200,
    });
    expect(emulator.received[0]?.params).toEqual({ CHAT_ID: 5, USER_ID: '3', CLIENT_ID: 'b' });
  });

  it('reads invalid JSON, or JSON that is not an object, as no parameters', async () => {
    const emulator = unlimited();
    expect((await postJson(emulator, '{"CHAT_ID": 5,')).body).toEqual(CHAT_ID_EMPTY);
    expect((await postJson(emulator, '5')).body).toEqual(CHAT_ID_EMPTY);
    expect(await postJson(emulator, '{"CHAT_ID": 5', `${WEBHOOK}?CHAT_ID=1&USER_ID=2&CLIENT_ID=b`)).toMatchObject({
      status: 200,
    });
    expect(emulator.received.map((call) => call.params)).toEqual([
      {},
      {},
      { CHAT_ID: '1', USER_ID: '2', CLIENT_ID: 'b' },
    ]);
  });

  it("parses a form with PHP's key rules, keeping the order of the entries", async () => {
    const emulator = unlimited();
    expect(await postForm(emulator, 'USER_ID=3&CHAT_ID=1&CHAT_ID=7&CLIENT_ID=b&LEAVE=Y')).toMatchObject({
      status: 200,
    });
    expect(await postForm(emulator, 'CHAT_ID=7&TRANSFER_ID[]=1&CLIENT_ID=b')).toMatchObject({
      status: 500,
      body: INTERNAL_SERVER_ERROR,
    });
    const [first, second] = emulator.received;
    expect(Object.entries(first!.params)).toEqual([
      ['USER_ID', '3'],
      ['CHAT_ID', '7'],
      ['CLIENT_ID', 'b'],
      ['LEAVE', 'Y'],
    ]);
    expect(first!.contentType).toBe('application/x-www-form-urlencoded');
    expect(second!.params).toEqual({ CHAT_ID: '7', TRANSFER_ID: { 0: '1' }, CLIENT_ID: 'b' });
  });

  it('parses a multipart form, leaving files out', async () => {
    const emulator = unlimited();
    const form = new FormData();
    form.append('CHAT_ID', '5');
    form.append('QUEUE_ID', '2');
    form.append('CLIENT_ID', 'b');
    form.append('USER_ID', new Blob(['1']), 'user.txt');
    const answer = await answerOf(
      await emulator.app.request(`http://portal.test${WEBHOOK}`, { method: 'POST', body: form }),
    );
    expect(answer.status).toBe(200);
    expect(emulator.received[0]?.params).toEqual({ CHAT_ID: '5', QUEUE_ID: '2', CLIENT_ID: 'b' });
    expect(emulator.received[0]?.contentType).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('ignores a body of another type', async () => {
    const emulator = unlimited();
    const response = await emulator.app.request(`http://portal.test${WEBHOOK}?CHAT_ID=3`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'CHAT_ID=4&USER_ID=1',
    });
    expect(await answerOf(response)).toMatchObject({ status: 400, body: TRANSFER_ID_EMPTY });
  });
});

describe('received', () => {
  it('records every call past auth, newest last, and reset() clears it and the stats in place', async () => {
    let now = 1000;
    const emulator = createEmulator({ now: () => now });
    const { stats } = emulator;
    await postJson(emulator, valid, `${WEBHOOK}.json`);
    now = 2000;
    await postJson(emulator, {}, WEBHOOK);
    await postJson(emulator, valid, '/rest/1/bad/imopenlines.bot.session.transfer');
    expect(emulator.received).toEqual([
      {
        path: `${WEBHOOK}.json`,
        method: 'POST',
        params: valid,
        contentType: 'application/json',
        headers: { 'content-type': 'application/json' },
        at: 1000,
      },
      {
        path: WEBHOOK,
        method: 'POST',
        params: {},
        contentType: 'application/json',
        headers: { 'content-type': 'application/json' },
        at: 2000,
      },
    ]);
    expect(stats.calls).toBe(2);
    emulator.reset();
    expect(emulator.received).toEqual([]);
    expect(stats).toEqual({ maxBucketLevel: 0, rejectedByRateLimit: 0, calls: 0, receivedDropped: 0 });
  });

  it('is a copy: changing it changes nothing the emulator keeps', async () => {
    const emulator = unlimited();
    await postJson(emulator, valid);
    const copy = emulator.received;
    copy.length = 0;
    expect(emulator.received).toHaveLength(1);
  });

  it('keeps the most recent maxReceivedCalls, in order; stats count every call and those dropped', async () => {
    const emulator = createEmulator({ ...unlimitedOptions, maxReceivedCalls: 3 });
    for (let chat = 1; chat <= 7; chat++) await postJson(emulator, { ...valid, CHAT_ID: chat });
    expect(emulator.received.map((call) => call.params.CHAT_ID)).toEqual([5, 6, 7]);
    expect(emulator.stats).toMatchObject({ calls: 7, receivedDropped: 4 });
    // What one request sent, though the window was full before it.
    const before = emulator.stats.calls;
    await postJson(emulator, { ...valid, CHAT_ID: 8 });
    await postJson(emulator, { ...valid, CHAT_ID: 0 });
    expect(emulator.receivedSince(before).map((call) => call.params.CHAT_ID)).toEqual([8, 0]);
    expect(emulator.receivedSince(emulator.stats.calls)).toEqual([]);
    expect(emulator.receivedSince(0).map((call) => call.params.CHAT_ID)).toEqual([7, 8, 0]);
  });

  it('keeps at most maxReceivedBytes of calls, the newest whatever its size', async () => {
    const emulator = createEmulator({ ...unlimitedOptions, maxReceivedBytes: 100_000 });
    const send = (chat: number, characters: number) =>
      postJson(emulator, { CHAT_ID: chat, NAME: 'DEFAULT', MESSAGE: 'x'.repeat(characters) }, SEND);
    // Two bytes a character: 40 KB each, two fit, a third does not.
    for (let chat = 1; chat <= 4; chat++) await send(chat, 20_000);
    expect(emulator.received.map((call) => call.params.CHAT_ID)).toEqual([3, 4]);
    expect(emulator.stats).toMatchObject({ calls: 4, receivedDropped: 2 });
    await send(5, 60_000);
    expect(emulator.received.map((call) => call.params.CHAT_ID)).toEqual([5]);
    expect(emulator.received[0]!.params.MESSAGE).toHaveLength(60_000);
    expect(emulator.stats).toMatchObject({ calls: 5, receivedDropped: 4 });
  });

  it('keeps 1,000 calls and 16 MiB of them by default', async () => {
    const emulator = unlimited();
    for (let chat = 1; chat <= 1_010; chat++) await postJson(emulator, { ...valid, CHAT_ID: chat });
    const chats = emulator.received.map((call) => call.params.CHAT_ID);
    expect([chats.length, chats[0], chats.at(-1)]).toEqual([1_000, 11, 1_010]);
    expect(emulator.stats).toMatchObject({ calls: 1_010, receivedDropped: 10 });
    // 20,000 characters of two UTF-16 units a call: 80 KB by its count, 208 of them in 16 MiB.
    for (let chat = 1; chat <= 300; chat++)
      await postJson(emulator, { CHAT_ID: chat, NAME: 'DEFAULT', MESSAGE: '😀'.repeat(20_000) }, SEND);
    expect(emulator.received.length).toBeGreaterThan(200);
    expect(emulator.received.length).toBeLessThan(210);
    expect(emulator.received.at(-1)!.params.CHAT_ID).toBe(300);
  });

  it('keeps a header named __proto__ as a header like any other', async () => {
    const emulator = unlimited();
    await emulator.app.request(`http://portal.test${WEBHOOK}`, {
      method: 'POST',
      headers: [
        ['content-type', 'application/json'],
        ['__proto__', 'polluted'],
      ],
      body: JSON.stringify(valid),
    });
    const { headers } = emulator.received[0]!;
    expect(Object.hasOwn(headers, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('polluted');
    expect(Object.getPrototypeOf(headers)).toBe(null);
  });
});
