// What reaches the caller when Bitrix24 (the real emulator, over HTTP) answers with an error, answers
// garbage, hangs up, is slow, or is down.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sentinels } from '../emulator';
import { statusOf } from '../error-matrix';
import { transfer } from '../operations/transfer';
import { spec } from '../spec';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: { upstreamTimeoutMs: 300, retry: { deadlineMs: 200, baseDelayMs: 50 } },
    emulator: { slowResponseMs: 5_000 },
  });
});
afterAll(() => stack.close());

// OPERATION_TIME_LIMIT pauses the method for the whole gateway: it has its own test below.
// The platform's test values, and the transfer's own.
const relayedErrors = [
  ...Object.entries(sentinels).flatMap(([chatId, sentinel]) =>
    sentinel.kind === 'error' && sentinel.status !== 418 && sentinel.error !== 'OPERATION_TIME_LIMIT'
      ? [[Number(chatId), sentinel.status, sentinel.error] as const]
      : [],
  ),
  ...Object.entries(transfer.testValues).map(
    ([chatId, code]) => [Number(chatId), statusOf(code as never), code] as const,
  ),
];

describe('a documented Bitrix24 error', () => {
  it.each(relayedErrors)(
    "CHAT_ID %i: Bitrix24's %i %s is relayed with its status and body",
    async (chatId, status, code) => {
      const answer = await stack.post(TRANSFER, { CHAT_ID: chatId, USER_ID: 1 });
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ error: code, error_description: expect.any(String) });
    },
  );

  it('covers every Bitrix24-only code of the spec', () => {
    const fromEmulator = new Set(relayedErrors.map(([, , code]) => code));
    const bitrixOnly = spec.paths['/rest/imopenlines.bot.session.transfer']!.post!;
    expect(bitrixOnly).toBeDefined();
    fromEmulator.add('OPERATION_TIME_LIMIT');
    for (const code of [
      'BOT_ID_ERROR',
      'OPERATOR_WRONG',
      'WRONG_CHAT',
      'INVALID_REQUEST',
      'expired_token',
      'WRONG_AUTH_TYPE',
      'ACCESS_DENIED',
      'INVALID_CREDENTIALS',
      'insufficient_scope',
      'user_access_error',
      'ERROR_MANIFEST_IS_NOT_AVAILABLE',
      'ERROR_UNEXPECTED_ANSWER',
      'PORTAL_DELETED',
      'OVERLOAD_LIMIT',
    ]) {
      expect(fromEmulator).toContain(code);
    }
  });
});

describe("Bitrix24's operating-time limit", () => {
  it('is relayed with Retry-After, then answered by the gateway at once while the method is paused', async () => {
    const paused = await startStack({ config: { operatingPauseMs: 5_000 } });
    try {
      const first = await paused.post(TRANSFER, { CHAT_ID: 4291, USER_ID: 1 });
      expect([first.status, first.body.error, first.headers.get('retry-after')]).toEqual([
        429,
        'OPERATION_TIME_LIMIT',
        '5',
      ]);
      const second = await paused.post(TRANSFER, { CHAT_ID: 1, USER_ID: 1 });
      expect([second.status, second.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(4);
      expect(paused.emulator.received.map((call) => call.params.CHAT_ID)).toEqual([4291]);
    } finally {
      await paused.close();
    }
  });
});

describe('an answer off the contract', () => {
  it.each([
    [5901, 'a body that is not JSON', 'not JSON'],
    [5902, 'an undocumented status and code', 'I_AM_A_TEAPOT'],
  ])('CHAT_ID %i (%s) is 502 UPSTREAM_BAD_RESPONSE, and the log says why', async (chatId, _name, reason) => {
    const answer = await stack.post(TRANSFER, { CHAT_ID: chatId, USER_ID: 1 });
    expect([answer.status, answer.body.error]).toEqual([502, 'UPSTREAM_BAD_RESPONSE']);
    expect(stack.logs.some((line) => String(line.reason).includes(reason))).toBe(true);
  });
});

describe('no answer', () => {
  it('a hang-up is 502 UPSTREAM_UNREACHABLE', async () => {
    const answer = await stack.post(TRANSFER, { CHAT_ID: 5903, USER_ID: 1 });
    expect([answer.status, answer.body.error]).toEqual([502, 'UPSTREAM_UNREACHABLE']);
  });

  it('a slow Bitrix24 is 504 UPSTREAM_TIMEOUT after UPSTREAM_TIMEOUT_MS', async () => {
    const answer = await stack.post(TRANSFER, { CHAT_ID: 5904, USER_ID: 1 });
    expect([answer.status, answer.body.error]).toEqual([504, 'UPSTREAM_TIMEOUT']);
  });

  it('a Bitrix24 that is down is 502 UPSTREAM_UNREACHABLE', async () => {
    const port = await closedPort();
    const down = await startStack({ upstreamBase: new URL(`http://127.0.0.1:${port}/rest/1/secretcode/`) });
    try {
      const answer = await down.post(TRANSFER, { CHAT_ID: 1, USER_ID: 1 });
      expect([answer.status, answer.body.error]).toEqual([502, 'UPSTREAM_UNREACHABLE']);
      expect(answer.body.error_description).toContain('ECONNREFUSED');
      expect(down.rawLogs.join('\n')).not.toContain('secretcode');
    } finally {
      await down.close();
    }
  });
});

describe('OAuth mode', () => {
  let oauth: Stack;
  beforeAll(async () => {
    oauth = await startStack({ mode: 'oauth' });
  });
  afterAll(() => oauth.close());

  it("forwards the caller's access token in auth, and no CLIENT_ID", async () => {
    const answer = await oauth.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2, auth: 'access-token-1' });
    expect(answer.status).toBe(200);
    expect(oauth.emulator.received.map((call) => [call.path, call.params])).toEqual([
      ['/rest/imopenlines.bot.session.transfer', { CHAT_ID: 1, USER_ID: 2, LEAVE: 'N', auth: 'access-token-1' }],
    ]);
  });

  it('answers NO_AUTH_FOUND itself when auth is missing, before any parameter check', async () => {
    oauth.emulator.reset();
    const answer = await oauth.post(TRANSFER, { CHAT_ID: 0 });
    expect([answer.status, answer.body.error]).toEqual([401, 'NO_AUTH_FOUND']);
    expect(oauth.emulator.received).toEqual([]);
  });

  it('relays expired_token from Bitrix24', async () => {
    const answer = await oauth.post(TRANSFER, { CHAT_ID: 4012, USER_ID: 2, auth: 'old' });
    expect([answer.status, answer.body.error]).toEqual([401, 'expired_token']);
  });
});

describe('the rate limit of Bitrix24', () => {
  it('is relayed as 503 QUERY_LIMIT_EXCEEDED', async () => {
    const limited = await startStack({ emulator: { rateLimit: { enabled: true, drainPerSecond: 0.001, burst: 1 } } });
    try {
      expect((await limited.post(TRANSFER, { CHAT_ID: 1, USER_ID: 1 })).status).toBe(200);
      const answer = await limited.post(TRANSFER, { CHAT_ID: 1, USER_ID: 1 });
      expect([answer.status, answer.body.error]).toEqual([503, 'QUERY_LIMIT_EXCEEDED']);
    } finally {
      await limited.close();
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
