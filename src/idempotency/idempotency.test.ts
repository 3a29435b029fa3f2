// Idempotency keys through a real listener, with the real emulator as Bitrix24: a retry with the same key
// and parameters never reaches Bitrix24 again, and gets the first answer.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const KEY_A = 'team-a-key-0123456789';
const KEY_B = 'team-b-key-0123456789';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: {
      apiKeys: new Map([
        [KEY_A, 'team-a'],
        [KEY_B, 'team-b'],
      ]),
      allowAnonymous: false,
    },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.reset());

let keys = 0;
const newKey = () => `key-${process.pid}-${++keys}`;
const headers = (key: string, apiKey = KEY_A) => ({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key });
const calls = () => stack.emulator.received.length;
const transfer = { CHAT_ID: 112, USER_ID: 12 };

describe('Idempotency-Key', () => {
  it('replays the first answer to a retry, marked Idempotent-Replayed, without calling Bitrix24 again', async () => {
    const key = newKey();
    const first = await stack.post(TRANSFER, transfer, { headers: headers(key) });
    const retry = await stack.post(TRANSFER, transfer, { headers: headers(key) });
    expect([first.status, retry.status]).toEqual([200, 200]);
    expect(retry.body).toEqual(first.body);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
    expect(calls()).toBe(1);
  });

  it('sends 20 concurrent requests with one key to Bitrix24 once; the others are 409 or the replay', async () => {
    const key = newKey();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => stack.post(TRANSFER, transfer, { headers: headers(key) })),
    );
    expect(calls()).toBe(1);
    for (const answer of answers) {
      if (answer.status === 409) {
        expect(answer.body.error).toBe('IDEMPOTENCY_KEY_IN_USE');
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      } else expect(answer.status).toBe(200);
    }
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThanOrEqual(1);
  });

  it('takes "k" and k as one key, and a form and a JSON body of one call as one request', async () => {
    const key = newKey();
    await stack.post(TRANSFER, transfer, { headers: headers(`"${key}"`) });
    const form = await stack.post(TRANSFER, 'CHAT_ID=112&USER_ID=12', { form: true, headers: headers(key) });
    expect([form.status, form.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(calls()).toBe(1);
  });

  it('refuses the key with other parameters (409 IDEMPOTENCY_KEY_MISMATCH), sending nothing', async () => {
    const key = newKey();
    await stack.post(TRANSFER, transfer, { headers: headers(key) });
    const other = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 13 }, { headers: headers(key) });
    expect([other.status, other.body.error]).toEqual([409, 'IDEMPOTENCY_KEY_MISMATCH']);
    expect(calls()).toBe(1);
  });

  it("keeps two teams' keys apart, and one key of two methods apart", async () => {
    const key = newKey();
    await stack.post(TRANSFER, transfer, { headers: headers(key) });
    const b = await stack.post(TRANSFER, transfer, { headers: headers(key, KEY_B) });
    const finish = await stack.post(
      '/rest/imopenlines.bot.session.finish',
      { CHAT_ID: 112 },
      { headers: headers(key) },
    );
    expect([b.status, b.headers.get('idempotent-replayed'), finish.status]).toEqual([200, null, 200]);
    expect(calls()).toBe(3);
  });

  it('replays a timeout (504) to the retry: the transfer may have happened, so it is never sent again', async () => {
    const key = newKey();
    const slow = { CHAT_ID: 5904, USER_ID: 1 };
    const first = await stack.post(TRANSFER, slow, { headers: headers(key) });
    const retry = await stack.post(TRANSFER, slow, { headers: headers(key) });
    expect([first.status, first.body.error]).toEqual([504, 'UPSTREAM_TIMEOUT']);
    expect([retry.status, retry.body, retry.headers.get('idempotent-replayed')]).toEqual([504, first.body, 'true']);
    expect(calls()).toBe(1);
  });

  it("replays a relayed error of Bitrix24's, and a message.send", async () => {
    const key = newKey();
    await stack.post(TRANSFER, { CHAT_ID: 4002, USER_ID: 1 }, { headers: headers(key) });
    const retry = await stack.post(TRANSFER, { CHAT_ID: 4002, USER_ID: 1 }, { headers: headers(key) });
    expect([retry.status, retry.body.error, retry.headers.get('idempotent-replayed')]).toEqual([
      400,
      'OPERATOR_WRONG',
      'true',
    ]);
    const message = { CHAT_ID: 7, NAME: 'DEFAULT', MESSAGE: 'Hello' };
    const send = '/rest/imopenlines.bot.session.message.send';
    await stack.post(send, message, { headers: headers(key) });
    expect((await stack.post(send, message, { headers: headers(key) })).headers.get('idempotent-replayed')).toBe(
      'true',
    );
    expect(calls()).toBe(2);
  });

  it('releases the key when Bitrix24 certainly did not execute: its QUERY_LIMIT_EXCEEDED', async () => {
    const key = newKey();
    const limited = { CHAT_ID: 5031, USER_ID: 1 };
    const first = await stack.post(TRANSFER, limited, { headers: headers(key) });
    const sent = calls();
    const retry = await stack.post(TRANSFER, limited, { headers: headers(key) });
    expect([first.status, first.body.error]).toEqual([503, 'QUERY_LIMIT_EXCEEDED']);
    expect([retry.status, retry.headers.get('idempotent-replayed')]).toEqual([503, null]);
    expect(calls()).toBeGreaterThan(sent);
  });

  it('claims nothing for a request refused before the call: the same key then serves a valid one', async () => {
    const key = newKey();
    expect((await stack.post(TRANSFER, { CHAT_ID: 112 }, { headers: headers(key) })).body.error).toBe(
      'TRANSFER_ID_EMPTY',
    );
    const valid = await stack.post(TRANSFER, transfer, { headers: headers(key) });
    expect([valid.status, valid.headers.get('idempotent-replayed')]).toEqual([200, null]);
    expect(calls()).toBe(1);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'a b'],
    ['with a backslash', 'a\\b'],
    ['over 255 characters', 'k'.repeat(256)],
    ['a lone quote', '"'],
    ['quoted and empty', '""'],
  ])('refuses a key %s with 400 INVALID_PARAMETER, never echoing it', async (_name, key) => {
    const answer = await stack.post(TRANSFER, transfer, { headers: headers(key) });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_PARAMETER']);
    expect(answer.body.error_description).toContain('idempotency-key header must be');
    if (key.length > 3) expect(answer.body.error_description).not.toContain(key);
    expect(calls()).toBe(0);
  });
});

describe('Idempotency-Key, kept for the retention', () => {
  let short: Stack;
  beforeAll(async () => {
    short = await startStack({ config: { idempotency: { retentionMs: 150, maxKeys: 100, maxBytes: 1_048_576 } } });
  });
  afterAll(() => short.close());

  it('is a new transfer once the key expired', async () => {
    const key = newKey();
    await short.post(TRANSFER, transfer, { headers: { 'idempotency-key': key } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const again = await short.post(TRANSFER, transfer, { headers: { 'idempotency-key': key } });
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([200, null]);
    expect(short.emulator.received).toHaveLength(2);
  });
});

describe('Idempotency-Key, the in-process store full', () => {
  let small: Stack;
  beforeAll(async () => {
    small = await startStack({ config: { idempotency: { retentionMs: 60_000, maxKeys: 2, maxBytes: 1_048_576 } } });
  });
  afterAll(() => small.close());

  it('refuses a new key with 503 IDEMPOTENCY_STORE_UNAVAILABLE and never evicts a live one', async () => {
    const [a, b, c] = [newKey(), newKey(), newKey()];
    for (const key of [a, b]) await small.post(TRANSFER, transfer, { headers: { 'idempotency-key': key } });
    const full = await small.post(TRANSFER, transfer, { headers: { 'idempotency-key': c } });
    expect([full.status, full.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    // Retry-After is when the first key frees: a's retention (60 s) from when its call ended, moments ago.
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(55);
    expect(Number(full.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const replay = await small.post(TRANSFER, transfer, { headers: { 'idempotency-key': a } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(small.emulator.received).toHaveLength(2);
  });
});

describe('IDEMPOTENCY_KEY=required', () => {
  let strict: Stack;
  beforeAll(async () => {
    strict = await startStack({
      config: { idempotency: { retentionMs: 60_000, maxKeys: 100, maxBytes: 1_048_576, required: true } },
    });
  });
  afterAll(() => strict.close());

  it('refuses a call without a key with 400 INVALID_PARAMETER, sending nothing, and serves the header as required', async () => {
    const refused = await strict.post(TRANSFER, transfer);
    expect([refused.status, refused.body.error]).toEqual([400, 'INVALID_PARAMETER']);
    expect(refused.body.error_description).toContain('Idempotency-Key header is required');
    expect(strict.emulator.received).toHaveLength(0);
    expect((await strict.post(TRANSFER, transfer, { headers: { 'idempotency-key': newKey() } })).status).toBe(200);
    const served = (await (await fetch(`${strict.gateway.url}/openapi.json`)).json()) as {
      components: { parameters: Record<string, { required?: boolean }> };
    };
    expect(served.components.parameters.IdempotencyKey?.required).toBe(true);
  });
});

describe('Idempotency-Key in flight', () => {
  // The lease of a claim: QUEUE_MAX_WAIT_MS + RETRY_DEADLINE_MS + UPSTREAM_TIMEOUT_MS + 5 s.
  const leaseOf = (maxWaitMs: number) => maxWaitMs + 500 + 1_500 + 5_000;
  it.each([
    ['over a minute', 70_000],
    ['a few seconds', 500],
  ])(
    'answers 409 with Retry-After the time left of the lease, however long: a lease of %s',
    async (_name, maxWaitMs) => {
      const slow = await startStack({
        emulator: { slowResponseMs: 600 },
        config: {
          rateLimit: { drainPerSecond: 10_000, burst: 10_000, maxQueue: 1_000, maxWaitMs, shaping: true },
          retry: { deadlineMs: 500, baseDelayMs: 50 },
          upstreamTimeoutMs: 1_500,
        },
      });
      try {
        const key = newKey();
        const body = { CHAT_ID: 5904, USER_ID: 1 };
        const started = Date.now();
        const first = slow.post(TRANSFER, body, { headers: { 'idempotency-key': key } });
        await new Promise((resolve) => setTimeout(resolve, 150));
        const inFlight = await slow.post(TRANSFER, body, { headers: { 'idempotency-key': key } });
        const elapsed = Date.now() - started;
        expect([inFlight.status, inFlight.body.error]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
        // The lease left when the retry came: between lease − elapsed and the whole lease, rounded up.
        const retryAfter = Number(inFlight.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(Math.floor((leaseOf(maxWaitMs) - elapsed) / 1_000));
        expect(retryAfter).toBeLessThanOrEqual(Math.ceil(leaseOf(maxWaitMs) / 1_000));
        expect((await first).status).toBe(200);
        expect(slow.emulator.received).toHaveLength(1);
      } finally {
        await slow.close();
      }
    },
  );
});
