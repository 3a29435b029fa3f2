// The attack suite, upstream side: a portal that is down, slow, broken or hostile. For each, what the caller
// gets, and how often the portal was called: one request never makes two calls unless Bitrix24 said the
// first was not executed (QUERY_LIMIT_EXCEEDED).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closedPort } from '../test-support/ports';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

type Portal = (request: IncomingMessage, response: ServerResponse) => void;

const WEBHOOK_CODE = 'hostileportalcode';
const CLIENT_ID = 'gateway.bot.client';
let behave: Portal = () => undefined;
let calls = 0;
let portal: Server;
let portalUrl: string;
let stack: Stack;

beforeAll(async () => {
  portal = createServer((request, response) => {
    calls += 1;
    request.resume();
    request.once('end', () => behave(request, response));
  });
  await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
  portalUrl = `http://127.0.0.1:${(portal.address() as AddressInfo).port}`;
  stack = await startStack({
    upstreamBase: new URL(`${portalUrl}/rest/1/${WEBHOOK_CODE}/`),
    config: {
      upstreamTimeoutMs: 400,
      upstreamBodyLimitBytes: 65_536,
      operatingPauseMs: 7_000,
      retry: { deadlineMs: 2_000, baseDelayMs: 20 },
    },
  });
});
afterAll(async () => {
  await stack.close();
  portal.closeAllConnections();
  await new Promise((resolve) => portal.close(resolve));
});
beforeEach(() => {
  calls = 0;
});

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Portal =>
  (_request, response) => {
    response
      .writeHead(status, { 'content-type': 'application/json', ...headers })
      .end(typeof body === 'string' ? body : JSON.stringify(body));
  };
const time = {
  start: 1,
  finish: 2,
  duration: 1,
  processing: 1,
  date_start: '2026-12-01T10:00:00+00:00',
  date_finish: '2026-12-01T10:00:01+00:00',
};
const transfer = () => stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });

// [name, status, code, calls, the portal]
const faults: [string, number, string, number, Portal][] = [
  [
    'answers HTML',
    502,
    'UPSTREAM_BAD_RESPONSE',
    1,
    (_q, r) => r.writeHead(200, { 'content-type': 'text/html' }).end('<html>Maintenance</html>'),
  ],
  ['answers bytes that are not HTTP', 502, 'UPSTREAM_BAD_RESPONSE', 1, (q) => q.socket.end('SURPRISE\r\n\r\n')],
  [
    'answers 10 MB',
    502,
    'UPSTREAM_BAD_RESPONSE',
    1,
    (_q, r) =>
      r.writeHead(200, { 'content-type': 'application/json' }).end(`{"result":true,"x":"${'x'.repeat(10_000_000)}"}`),
  ],
  [
    'answers invalid UTF-8',
    502,
    'UPSTREAM_BAD_RESPONSE',
    1,
    (_q, r) =>
      r
        .writeHead(400, { 'content-type': 'application/json' })
        .end(
          Buffer.concat([
            Buffer.from('{"error":"BOT_ID_ERROR","error_description":"'),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('"}'),
          ]),
        ),
  ],
  [
    'redirects elsewhere (never followed)',
    502,
    'UPSTREAM_BAD_RESPONSE',
    1,
    (_q, r) => r.writeHead(302, { location: 'http://127.0.0.1:9/rest/steal' }).end(),
  ],
  ['answers result: false with 200', 502, 'UPSTREAM_BAD_RESPONSE', 1, json(200, { result: false, time })],
  [
    'answers an undocumented code',
    502,
    'UPSTREAM_BAD_RESPONSE',
    1,
    json(400, { error: 'SOMETHING_NEW', error_description: 'x' }),
  ],
  ['answers an empty 200', 502, 'UPSTREAM_BAD_RESPONSE', 1, (_q, r) => r.writeHead(200).end()],
  [
    'resets the connection mid-body',
    502,
    'UPSTREAM_UNREACHABLE',
    1,
    (_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' }).write('{"result":tr');
      setTimeout(() => r.socket?.destroy(), 20);
    },
  ],
  ['hangs up without answering', 502, 'UPSTREAM_UNREACHABLE', 1, (q) => q.socket.destroy()],
  [
    'sends headers, then nothing',
    504,
    'UPSTREAM_TIMEOUT',
    1,
    (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).write('{'),
  ],
  ['is too slow to answer at all', 504, 'UPSTREAM_TIMEOUT', 1, () => undefined],
  [
    'fails with its own 500 (not retried: it may have run)',
    500,
    'INTERNAL_SERVER_ERROR',
    1,
    json(500, { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' }),
  ],
];

describe('a portal that misbehaves', () => {
  it.each(faults)(
    '%s: the caller gets %i %s, the portal is called %i time(s)',
    async (_name, status, code, expectedCalls, fault) => {
      behave = fault;
      const answer = await transfer();
      expect([answer.status, answer.body.error]).toEqual([status, code]);
      expect(answer.headers.get('x-request-id')).toBeTruthy();
      // A late or reset call may still be counted by the portal a moment after the caller's answer.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls).toBe(expectedCalls);
    },
  );

  it('that is down: 502 UPSTREAM_UNREACHABLE', async () => {
    const port = await closedPort();
    const down = await startStack({ upstreamBase: new URL(`http://127.0.0.1:${port}/rest/1/${WEBHOOK_CODE}/`) });
    try {
      const answer = await down.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
      expect([answer.status, answer.body.error]).toEqual([502, 'UPSTREAM_UNREACHABLE']);
    } finally {
      await down.close();
    }
  });

  it('said the first call was not executed (QUERY_LIMIT_EXCEEDED): only then a second call', async () => {
    let answered = 0;
    behave = (request, response) =>
      (answered++ === 0
        ? json(503, { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' })
        : json(200, { result: true, time }))(request, response);
    const answer = await transfer();
    expect([answer.status, answer.body.result, calls]).toEqual([200, true, 2]);
  });
});

// An Idempotency-Key is freed only by an answer whose code says Bitrix24 did not execute the call, read from
// the body whatever the status; a portal that says so once and then executes the call gets it twice, never a
// portal whose answer carries a result.
describe('a portal that refused a keyed call before executing it', () => {
  const keyed = (key: string) =>
    stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 }, { headers: { 'idempotency-key': key } });
  const onceThen = (first: Portal): Portal => {
    let answered = 0;
    return (request, response) => (answered++ === 0 ? first : json(200, { result: true, time }))(request, response);
  };

  it.each([
    [
      '503 OVERLOAD_LIMIT',
      503,
      'OVERLOAD_LIMIT',
      json(503, { error: 'OVERLOAD_LIMIT', error_description: 'REST API is blocked due to overload' }),
    ],
    [
      '401 expired_token',
      401,
      'expired_token',
      json(401, { error: 'expired_token', error_description: 'The access token provided has expired' }),
    ],
    [
      'OVERLOAD_LIMIT with an undocumented status (relayed as 502)',
      502,
      'UPSTREAM_BAD_RESPONSE',
      json(500, { error: 'OVERLOAD_LIMIT', error_description: 'REST API is blocked due to overload' }),
    ],
  ])('%s: the retry with the same key is sent, and executed', async (_name, status, code, refusal) => {
    behave = onceThen(refusal);
    const key = `portal-refused-${status}-${code}`;
    const first = await keyed(key);
    expect([first.status, first.body.error]).toEqual([status, code]);
    const retry = await keyed(key);
    expect([retry.status, retry.body.result, retry.headers.get('idempotent-replayed')]).toEqual([200, true, null]);
    const again = await keyed(key);
    expect([again.status, again.headers.get('idempotent-replayed'), calls]).toEqual([200, 'true', 2]);
  });

  it('a success that also names a limit code is a success: replayed, never sent again', async () => {
    behave = json(200, { result: true, time, error: 'QUERY_LIMIT_EXCEEDED' });
    const key = 'portal-result-and-error';
    const first = await keyed(key);
    const retry = await keyed(key);
    expect([first.status, retry.status, retry.headers.get('idempotent-replayed'), calls]).toEqual([
      200,
      200,
      'true',
      1,
    ]);
  });
});

describe('a portal that quotes secrets', () => {
  it('has the webhook code and the CLIENT_ID redacted from what is relayed', async () => {
    behave = (request, response) =>
      json(400, {
        error: 'INVALID_REQUEST',
        error_description: `Https required for ${request.url} (client ${CLIENT_ID}, webhook ${WEBHOOK_CODE})`,
      })(request, response);
    const answer = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12, CLIENT_ID });
    expect([answer.status, answer.body.error]).toEqual([400, 'INVALID_REQUEST']);
    const text = JSON.stringify(answer.body);
    expect(text).not.toContain(WEBHOOK_CODE);
    expect(text).not.toContain(CLIENT_ID);
    expect(answer.body.error_description).toContain('[redacted]');
  });
});

describe("a portal that refuses the gateway's webhook and quotes it", () => {
  it("is answered as the gateway's webhook refused, its status and code kept, the code redacted in any case", async () => {
    behave = json(401, {
      error: 'NO_AUTH_FOUND',
      error_description: `No webhook ${WEBHOOK_CODE.toUpperCase()} (${WEBHOOK_CODE}) for user 1`,
    });
    const answer = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
    expect([answer.status, answer.body.error]).toEqual([401, 'NO_AUTH_FOUND']);
    expect(answer.body.error_description).toMatch(/^Bitrix24 refused the gateway's own webhook/);
    expect(JSON.stringify(answer.body).toLowerCase()).not.toContain(WEBHOOK_CODE);
    expect(answer.body.error_description).toContain('No webhook [redacted] ([redacted]) for user 1');
  });
});

describe('a portal whose operating_reset_at cannot be believed', () => {
  it.each([
    ['1e400 (Infinity once parsed)', '1e400'],
    ['a time in the past', '1'],
    ['a year ahead', String(Math.round(Date.now() / 1000) + 31_536_000)],
    ['a string', '"soon"'],
  ])('%s: the configured pause applies, Retry-After a finite whole number', async (_name, resetAt) => {
    const paused = await startStack({
      upstreamBase: new URL(`${portalUrl}/rest/1/${WEBHOOK_CODE}/`),
      config: { operatingPauseMs: 7_000 },
    });
    try {
      behave = json(
        429,
        `{"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked due to operation time limit.","time":{"operating_reset_at":${resetAt}}}`,
      );
      const first = await paused.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
      expect([first.status, first.body.error, first.headers.get('retry-after')]).toEqual([
        429,
        'OPERATION_TIME_LIMIT',
        '7',
      ]);
      const callsBefore = calls;
      const second = await paused.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
      expect([second.status, second.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(second.headers.get('retry-after'))).toBeLessThanOrEqual(7);
      expect(calls, 'the paused method does not call the portal').toBe(callsBefore);
    } finally {
      await paused.close();
    }
  });
});
