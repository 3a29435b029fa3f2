import { describe, expect, it } from 'vitest';
import { specMatrix, statusOf } from '../error-matrix';
import { bitrix24Methods } from '../operations';
import { transfer } from '../operations/transfer';
import { spec } from '../spec';
import { createEmulator, sentinels } from '.';
import { error, OAUTH, postJson, valid, WEBHOOK } from './testing';

const errorRows = Object.entries(sentinels).flatMap(([chatId, sentinel]) =>
  sentinel.kind === 'error' ? [{ chatId: Number(chatId), ...sentinel }] : [],
);

describe('the test values', () => {
  it("are the table in the spec's info.description", () => {
    const description = (spec.info as { description: string }).description;
    const table = description.split("## The embedded emulator's test values")[1]!;
    const rows = [...table.matchAll(/^\| (\d{4}) \| (\d{3}|—) \| (.+) \|$/gm)].map((m) => {
      const answer = /^`(\w+)`(?: \(([a-z, ]+)\))?$/.exec(m[3]!);
      return {
        chatId: Number(m[1]),
        status: m[2] === '—' ? undefined : Number(m[2]),
        code: answer?.[1],
        // A method's own test value names the methods it acts for ("transfer, finish").
        methods: answer?.[2]?.split(', '),
      };
    });
    expect(rows).toHaveLength(22);
    // The platform's test values, and each method's own (the code; its status is the matrix's).
    const shortName = (name: string) => name.replace('imopenlines.bot.session.', '').replace('.send', '');
    for (const row of rows) {
      const sentinel = sentinels[row.chatId];
      const owners = bitrix24Methods.filter((method) => Object.hasOwn(method.testValues, row.chatId));
      expect(Boolean(sentinel) !== owners.length > 0, `${row.chatId}: the platform's or some methods'`).toBe(true);
      if (sentinel && row.code) {
        expect(sentinel).toMatchObject({ kind: 'error', status: row.status, error: row.code });
        expect(row.methods).toBeUndefined();
      }
      for (const method of owners) {
        const code = method.testValues[row.chatId];
        expect([code, statusOf(code as never)]).toEqual([row.code, row.status]);
      }
      if (owners.length > 0) expect(owners.map((method) => shortName(method.name))).toEqual(row.methods);
    }
    const keys = new Set([
      ...Object.keys(sentinels),
      ...bitrix24Methods.flatMap((method) => Object.keys(method.testValues)),
    ]);
    expect([...keys].map(Number).sort()).toEqual(rows.map((row) => row.chatId));
  });

  it.each(errorRows.filter((row) => row.error !== 'I_AM_A_TEAPOT'))(
    "$chatId answers $status $error with the text of the spec's example",
    async ({ chatId, status, error: code }) => {
      const row = specMatrix().find((r) => r.code === code);
      const answer = await postJson(createEmulator(), { ...valid, CHAT_ID: chatId });
      expect(answer).toEqual({
        status: row!.status,
        contentType: 'application/json; charset=utf-8',
        body: row!.example,
      });
      expect(answer.status).toBe(status);
    },
  );

  it('5902 answers an undocumented status and code', async () => {
    const answer = await postJson(createEmulator(), { ...valid, CHAT_ID: 5902 });
    expect(answer).toMatchObject({ status: 418, body: error('I_AM_A_TEAPOT', 'undocumented') });
  });

  it('5901 answers 200 with a body that is not JSON', async () => {
    const response = await createEmulator().app.request(
      `http://portal.test${WEBHOOK}?CHAT_ID=5901&USER_ID=1&CLIENT_ID=b`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    await expect(response.json()).rejects.toThrow();
  });

  it('5903 drops the connection; in-process, where there is none, the request rejects', async () => {
    const emulator = createEmulator();
    await expect(postJson(emulator, { ...valid, CHAT_ID: 5903 })).rejects.toThrow(/dropped the connection/);
    // Nothing else is thrown: an ordinary failure is a 500 answer.
    expect(await postJson(emulator, { ...valid, TRANSFER_ID: [] })).toMatchObject({ status: 500 });
  });

  it('5904 answers success after slowResponseMs', async () => {
    const emulator = createEmulator({ slowResponseMs: 40 });
    const started = performance.now();
    const answer = await postJson(emulator, { ...valid, CHAT_ID: 5904 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    expect(answer).toMatchObject({ status: 200, body: { result: true } });
  });

  it('5904 gives up waiting when the client goes away', async () => {
    const emulator = createEmulator({ slowResponseMs: 60_000 });
    const started = performance.now();
    await postJson(emulator, { ...valid, CHAT_ID: 5904 }, WEBHOOK, { signal: AbortSignal.timeout(20) }).catch(() => {});
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('apply only to the exact (int) CHAT_ID', async () => {
    const emulator = createEmulator();
    expect(await postJson(emulator, { ...valid, CHAT_ID: 40010 })).toMatchObject({ status: 200 });
    expect(await postJson(emulator, { ...valid, CHAT_ID: 400 })).toMatchObject({ status: 200 });
    expect(await postJson(emulator, { ...valid, CHAT_ID: '4001abc' })).toMatchObject({
      status: 400,
      body: { error: 'BOT_ID_ERROR' },
    });
    expect(await postJson(emulator, { ...valid, USER_ID: 4001 })).toMatchObject({ status: 200 });
  });
});

describe('where the test values act in the check order', () => {
  const noDestination = { CHAT_ID: 0, CLIENT_ID: 'bot' };

  it("the platform's answer before the method's checks", async () => {
    const emulator = createEmulator();
    for (const chatId of [4004, 4011, 4012, 4032, 4033, 4034, 4035, 4041, 4291, 5001, 5002, 5003, 5031, 5032]) {
      const answer = await postJson(emulator, { ...noDestination, CHAT_ID: chatId });
      expect(answer.status, `${chatId}`).toBe(sentinels[chatId]!.kind === 'error' && sentinels[chatId]!.status);
    }
  });

  it('WRONG_AUTH_TYPE at step 1, before the parameters', async () => {
    expect(await postJson(createEmulator(), { CHAT_ID: 4031 })).toMatchObject({
      status: 403,
      body: { error: 'WRONG_AUTH_TYPE' },
    });
  });

  it('BOT_ID_ERROR, OPERATOR_WRONG and WRONG_CHAT after the parameters', async () => {
    const emulator = createEmulator();
    for (const chatId of [4001, 4002, 4003]) {
      expect(await postJson(emulator, { ...noDestination, CHAT_ID: chatId })).toMatchObject({
        body: { error: 'TRANSFER_ID_EMPTY' },
      });
    }
  });

  it('OPERATOR_WRONG and WRONG_CHAT after the bot is found', async () => {
    const emulator = createEmulator();
    for (const chatId of [4002, 4003]) {
      expect(await postJson(emulator, { CHAT_ID: chatId, USER_ID: 1 })).toMatchObject({
        body: { error: 'BOT_ID_ERROR' },
      });
      expect(await postJson(emulator, { CHAT_ID: chatId, USER_ID: 1, auth: 't' }, OAUTH)).toMatchObject({
        status: 400,
        body: { error: transfer.testValues[chatId] },
      });
    }
  });

  it('all of them after auth', async () => {
    for (const chatId of Object.keys(sentinels)) {
      expect(await postJson(createEmulator(), { ...valid, CHAT_ID: Number(chatId) }, OAUTH)).toMatchObject({
        status: 401,
        body: { error: 'NO_AUTH_FOUND' },
      });
    }
  });
});
