import fc from 'fast-check';
import { Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { callerAuth, KeyRing } from '.';

const alphaKey = 'alpha-key-0123456789';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: {
      apiKeys: new Map([
        [alphaKey, 'alpha'],
        ['beta-key-0123456789', 'beta'],
      ]),
      allowAnonymous: false,
    },
  });
});
afterAll(() => stack.close());

const transfer = (headers: Record<string, string>) => stack.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 }, { headers });

describe('caller authentication', () => {
  it('lets a caller with a configured key through', async () => {
    expect((await transfer({ authorization: `Bearer ${alphaKey}` })).status).toBe(200);
  });

  it('takes the scheme name in any case', async () => {
    expect((await transfer({ authorization: `bearer ${alphaKey}` })).status).toBe(200);
  });

  it.each([
    ['no Authorization header', {}, 'GATEWAY_AUTH_REQUIRED'],
    ['a wrong key', { authorization: 'Bearer wrong-key-0123456789' }, 'GATEWAY_AUTH_INVALID'],
    ['a key one character short', { authorization: `Bearer ${alphaKey.slice(0, -1)}` }, 'GATEWAY_AUTH_INVALID'],
    ['another scheme', { authorization: `Basic ${alphaKey}` }, 'GATEWAY_AUTH_INVALID'],
    ['an empty bearer', { authorization: 'Bearer ' }, 'GATEWAY_AUTH_INVALID'],
  ])('answers %s with 401 %s and a Bearer challenge, without calling Bitrix24', async (_name, headers, code) => {
    stack.emulator.reset();
    const answer = await transfer(headers);
    expect([answer.status, answer.body.error]).toEqual([401, code]);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="bitrix24-transfer-gateway"/);
    expect(answer.headers.get('x-request-id'), 'every answer carries X-Request-Id').toMatch(/^[\w-]{1,255}$/);
    expect(stack.emulator.received).toEqual([]);
    // The code reaches the access log (and so the metrics), as every error's does.
    expect(stack.logs.at(-1)).toMatchObject({ status: 401, code });
  });

  it("echoes the caller's X-Request-Id on a 401 too", async () => {
    const answer = await transfer({ 'x-request-id': 'trace-401', authorization: 'Bearer wrong-key-0123456789' });
    expect([answer.status, answer.headers.get('x-request-id')]).toEqual([401, 'trace-401']);
  });

  it('authenticates before it validates', async () => {
    const answer = await stack.post(TRANSFER, { chat_id: 'x' });
    expect([answer.status, answer.body.error]).toEqual([401, 'GATEWAY_AUTH_REQUIRED']);
  });

  it('leaves the service endpoints open', async () => {
    expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
  });

  it('never logs a key', async () => {
    await transfer({ authorization: `Bearer ${alphaKey}` });
    await transfer({ authorization: 'Bearer wrong-key-0123456789' });
    expect(stack.rawLogs.join('\n')).not.toMatch(/alpha-key|beta-key|wrong-key/);
  });
});

describe('anonymous callers, when allowed', () => {
  it('pass without a header, but a wrong key is still refused', async () => {
    const open = await startStack({ config: { apiKeys: new Map([[alphaKey, 'alpha']]), allowAnonymous: true } });
    try {
      expect((await open.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 })).status).toBe(200);
      const wrong = await open.post(
        TRANSFER,
        { CHAT_ID: 1, USER_ID: 2 },
        { headers: { authorization: 'Bearer nope-nope-nope-nope' } },
      );
      expect([wrong.status, wrong.body.error]).toEqual([401, 'GATEWAY_AUTH_INVALID']);
    } finally {
      await open.close();
    }
  });
});

describe('every 401 says how to authenticate (RFC 9110)', () => {
  it("Bitrix24's own NO_AUTH_FOUND and expired_token, relayed, challenge for Bitrix24's token", async () => {
    for (const [chatId, challenge] of [
      [4011, 'Bearer realm="bitrix24"'],
      [4012, 'Bearer realm="bitrix24", error="invalid_token"'],
    ] as const) {
      const answer = await stack.post(
        TRANSFER,
        { CHAT_ID: chatId, USER_ID: 2 },
        { headers: { authorization: `Bearer ${alphaKey}` } },
      );
      expect([answer.status, answer.headers.get('www-authenticate')]).toEqual([401, challenge]);
      expect(answer.headers.get('x-request-id')).toBeTruthy();
    }
  });

  it("the gateway's NO_AUTH_FOUND in OAuth mode, for a missing auth", async () => {
    const oauth = await startStack({ mode: 'oauth' });
    try {
      const answer = await oauth.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 });
      expect([answer.status, answer.body.error, answer.headers.get('www-authenticate')]).toEqual([
        401,
        'NO_AUTH_FOUND',
        'Bearer realm="bitrix24"',
      ]);
      expect(answer.headers.get('x-request-id')).toBeTruthy();
    } finally {
      await oauth.close();
    }
  });
});

describe('KeyRing', () => {
  it('remembers only keys that matched, however many wrong ones are presented, and forgets them on rotation', () => {
    const ring = new KeyRing(new Map([[alphaKey, 'alpha']]));
    for (let i = 0; i < 20_000; i += 1) expect(ring.teamOf(`wrong-key-${i}`)).toBeUndefined();
    expect(ring.teamOf('__proto__')).toBeUndefined();
    expect(ring.teamOf('constructor')).toBeUndefined();
    expect(ring.remembered).toBe(0);
    expect([ring.teamOf(alphaKey), ring.teamOf(alphaKey), ring.remembered]).toEqual(['alpha', 'alpha', 1]);
    ring.replace(new Map([['gamma-key-0123456789', 'gamma']]));
    expect([ring.teamOf(alphaKey), ring.remembered]).toEqual([undefined, 0]);
    expect(ring.teamOf('gamma-key-0123456789')).toBe('gamma');
  });
});

describe("callerAuth against Hono's bearerAuth", () => {
  // The reference: Hono's own middleware, as the gateway used it before callerAuth read the header itself.
  // Both answer the same statuses; what is compared is which of the three refusals (or none) each makes.
  const keys = new KeyRing(new Map([[alphaKey, 'alpha']]));
  const verdictOf = async (app: Hono, authorization: string | undefined) => {
    const response = await app.request('/', authorization === undefined ? {} : { headers: { authorization } });
    return response.status === 200 ? 'passed' : (response.headers.get('www-authenticate') ?? 'no challenge');
  };
  const challenges = {
    required: 'Bearer realm="bitrix24-transfer-gateway"',
    malformed: 'Bearer realm="bitrix24-transfer-gateway", error="invalid_request"',
    unknown: 'Bearer realm="bitrix24-transfer-gateway", error="invalid_token"',
  };
  const ours = new Hono();
  ours.use(callerAuth({ keys, allowAnonymous: false }) as MiddlewareHandler);
  ours.get('/', (c) => c.text('passed'));
  const hono = new Hono();
  hono.use(
    bearerAuth({
      realm: 'bitrix24-transfer-gateway',
      verifyToken: (token) => keys.teamOf(token) !== undefined,
      noAuthenticationHeader: { wwwAuthenticateHeader: challenges.required },
      invalidAuthenticationHeader: { wwwAuthenticateHeader: challenges.malformed },
      invalidToken: { wwwAuthenticateHeader: challenges.unknown },
    }),
  );
  hono.get('/', (c) => c.text('passed'));

  it('makes the same refusal, or lets the same caller through, for any Authorization header', async () => {
    const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer\t', '', 'Bear');
    const token = fc.oneof(fc.constant(alphaKey), fc.string(), fc.stringMatching(/^[A-Za-z0-9._~+/=-]{0,30}$/));
    const header = fc.oneof(
      fc.constant(undefined),
      fc.string().filter((text) => !/[\r\n\0]/.test(text)),
      fc.tuple(scheme, fc.constantFrom(' ', '  ', '', ' \t'), token).map(([s, gap, t]) => `${s}${gap}${t}`),
    );
    await fc.assert(
      fc.asyncProperty(
        header.filter((value) => value === undefined || /^[\t\x20-\x7e\x80-\xff]*$/.test(value)),
        async (authorization) => {
          expect(await verdictOf(ours, authorization)).toBe(await verdictOf(hono, authorization));
        },
      ),
      { numRuns: 500 },
    );
  });
});
