// Idempotency keys in OAuth mode, through a real gateway and the real emulator as the portal: the caller's
// access token (`auth`) is no part of a key's parameters, so a retry with a refreshed token is the same call;
// and so a key needs a gateway API key, whose team scopes it (issue 31).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const API_KEY = 'oauth-team-key-0123456789';
const OLD_TOKEN = 'access-token-before-refresh';
const NEW_TOKEN = 'access-token-after-refresh';
let keys = 0;
const newKey = () => `oauth-${process.pid}-${++keys}`;
const transfer = (auth: string, chatId = 112) => ({ CHAT_ID: chatId, USER_ID: 12, auth });

describe('OAuth mode, with API keys', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Anonymous callers are let in too (a development setting), to show that only they are refused a key.
    stack = await startStack({
      mode: 'oauth',
      config: { apiKeys: new Map([[API_KEY, 'team-a']]), allowAnonymous: true },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.reset());
  const keyed = (key: string) => ({ authorization: `Bearer ${API_KEY}`, 'idempotency-key': key });

  it('replays the first answer to a retry with a refreshed token: one call at the portal, with the first token', async () => {
    const key = newKey();
    const first = await stack.post(TRANSFER, transfer(OLD_TOKEN), { headers: keyed(key) });
    const retry = await stack.post(TRANSFER, transfer(NEW_TOKEN), { headers: keyed(key) });
    expect([first.status, retry.status]).toEqual([200, 200]);
    expect([retry.body, retry.headers.get('idempotent-replayed')]).toEqual([first.body, 'true']);
    expect(stack.emulator.received.map((call) => call.params.auth)).toEqual([OLD_TOKEN]);
  });

  it('sends the retry after expired_token, with the refreshed token, under the same key', async () => {
    const key = newKey();
    const expired = await stack.post(TRANSFER, transfer(OLD_TOKEN, 4012), { headers: keyed(key) });
    expect([expired.status, expired.body.error]).toEqual([401, 'expired_token']);
    const retry = await stack.post(TRANSFER, transfer(NEW_TOKEN, 4012), { headers: keyed(key) });
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(stack.emulator.received.map((call) => call.params.auth)).toEqual([OLD_TOKEN, NEW_TOKEN]);
  });

  it('still refuses the key with other parameters (409 IDEMPOTENCY_KEY_MISMATCH)', async () => {
    const key = newKey();
    await stack.post(TRANSFER, transfer(OLD_TOKEN), { headers: keyed(key) });
    const other = await stack.post(TRANSFER, transfer(OLD_TOKEN, 113), { headers: keyed(key) });
    expect([other.status, other.body.error]).toEqual([409, 'IDEMPOTENCY_KEY_MISMATCH']);
    expect(stack.emulator.received).toHaveLength(1);
  });

  it('refuses a key from a caller without an API key (400 IDEMPOTENCY_KEY_UNSCOPED), sending nothing', async () => {
    const refused = await stack.post(TRANSFER, transfer(OLD_TOKEN), { headers: { 'idempotency-key': newKey() } });
    expect([refused.status, refused.body.error]).toEqual([400, 'IDEMPOTENCY_KEY_UNSCOPED']);
    expect(stack.emulator.received).toHaveLength(0);
    expect((await stack.post(TRANSFER, transfer(OLD_TOKEN))).status).toBe(200);
  });
});

describe('OAuth mode, without API keys', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ mode: 'oauth' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.reset());

  it.each([
    [TRANSFER, transfer(OLD_TOKEN)],
    ['/rest/imopenlines.bot.session.operator', { CHAT_ID: 112, auth: OLD_TOKEN }],
    ['/rest/imopenlines.bot.session.message.send.json', { CHAT_ID: 112, NAME: 'WELCOME', auth: OLD_TOKEN }],
    ['/rest/1/any-secret-of-a-webhook-url/imopenlines.bot.session.finish', { CHAT_ID: 112, auth: OLD_TOKEN }],
  ])('%s: a call with an Idempotency-Key is 400 IDEMPOTENCY_KEY_UNSCOPED, and nothing is sent', async (path, body) => {
    const key = newKey();
    const refused = await stack.post(path, body, { headers: { 'idempotency-key': key } });
    expect([refused.status, refused.body.error]).toEqual([400, 'IDEMPOTENCY_KEY_UNSCOPED']);
    expect(refused.body.error_description).not.toContain(key);
    expect(stack.emulator.received).toHaveLength(0);
    // Without the header the same call is served.
    expect((await stack.post(path, body)).status).toBe(200);
    expect(stack.emulator.received).toHaveLength(1);
  });

  it('serves its document without the Idempotency-Key header, and says why', async () => {
    const served = (await (await fetch(`${stack.gateway.url}/openapi.json`)).json()) as {
      info: { description: string };
      paths: Record<string, { post?: { parameters?: { $ref?: string }[] } }>;
    };
    const refs = Object.values(served.paths).flatMap((item) => item.post?.parameters ?? []);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.map((parameter) => parameter.$ref)).not.toContain('#/components/parameters/IdempotencyKey');
    expect(served.info.description).toContain('`Idempotency-Key` is left out of every operation');
  });
});
