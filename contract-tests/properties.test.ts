// Property-based contract tests: arbitrary requests through the real gateway over HTTP, with the real
// emulator as Bitrix24, then targeted requests for the rows random ones cannot reach, then the matrix
// coverage: every (status, code) row of the spec's error matrix must have been answered by the gateway.
// One file on purpose: vitest isolates test files (each gets its own module graph, in its own worker), so
// the recorder of produced rows can only see the answers of the tests that share its file.
// FC_RUNS, FC_SEED, FC_PATH: see PROPERTIES.md.
import { it } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, it as example, expect } from 'vitest';
import type { Config } from '../src/config';
import { sendRaw } from '../src/test-support/raw-http';
import { type Stack, startStack } from '../src/test-support/stack';
import { form, type GeneratedRequest, json, TRANSFER_PATHS } from './arbitraries';
import { answerOf, MatrixRecorder, matrix } from './matrix';
import {
  API_KEY,
  answerIsDocumented,
  bitrix24RejectionsKeepTheirCode,
  expectDocumentedAnswer,
  keysGuardTheGateway,
  onlyValidRequestsReachBitrix24,
  type Stacks,
  viaGateway,
} from './properties';
import { PATH, PROPERTY_TIMEOUT_MS, RUNS, runParameters } from './runs';
import { closedPort, requestDuringShutdown, testValueAnswers } from './targeted';

const recorder = new MatrixRecorder();
const tally = { bitrix24Rejections: 0, forwarded: 0, refused: 0 };
/** The log lines of the stacks the targeted requests start and close. */
const closedStackLogs: string[] = [];
let stacks: Stacks;

beforeAll(async () => {
  // The emulator's "slow" test value answers in 200 ms here: should a generator ever produce it, a run
  // would not wait a minute. Its operating-time limit is off: tens of thousands of runs would exhaust it.
  const emulator = {
    slowResponseMs: 200,
    operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  };
  const [webhook, oauth, keyed] = await Promise.all([
    startStack({ emulator }),
    startStack({ emulator, mode: 'oauth' }),
    startStack({ emulator, config: { apiKeys: new Map([[API_KEY, 'contract-tests']]), allowAnonymous: false } }),
  ]);
  stacks = { webhook, oauth, keyed, recorder, tally, secrets: new Set() };
});
afterAll(async () => {
  await Promise.all([stacks?.webhook.close(), stacks?.oauth.close(), stacks?.keyed.close()]);
});

describe('properties', () => {
  it.prop([...answerIsDocumented.arbitraries], runParameters(answerIsDocumented.examples))(
    answerIsDocumented.name,
    (request, mode) => answerIsDocumented.check(stacks, request, mode),
    PROPERTY_TIMEOUT_MS,
  );

  it.prop([...onlyValidRequestsReachBitrix24.arbitraries], runParameters(onlyValidRequestsReachBitrix24.examples))(
    onlyValidRequestsReachBitrix24.name,
    (request) => onlyValidRequestsReachBitrix24.check(stacks, request),
    PROPERTY_TIMEOUT_MS,
  );

  it.prop([...bitrix24RejectionsKeepTheirCode.arbitraries], runParameters(bitrix24RejectionsKeepTheirCode.examples))(
    bitrix24RejectionsKeepTheirCode.name,
    (request) => bitrix24RejectionsKeepTheirCode.check(stacks, request),
    PROPERTY_TIMEOUT_MS,
  );

  it.prop([...keysGuardTheGateway.arbitraries], runParameters(keysGuardTheGateway.examples))(
    keysGuardTheGateway.name,
    (request, authorization) => keysGuardTheGateway.check(stacks, request, authorization),
    PROPERTY_TIMEOUT_MS,
  );

  // A property that never meets its premise proves nothing: the generators must keep producing requests
  // the spec accepts, requests it refuses, and requests Bitrix24 itself rejects.
  example.runIf(RUNS >= 100 && PATH === undefined)(
    'the premises of properties 2 and 3 held in a good share of the runs',
    () => {
      expect(tally.forwarded, 'valid requests (property 2)').toBeGreaterThan(RUNS / 10);
      expect(tally.refused, 'refused requests (property 2)').toBeGreaterThan(RUNS / 10);
      expect(tally.bitrix24Rejections, "Bitrix24's own rejections (property 3)").toBeGreaterThan(RUNS / 10);
    },
  );
});

describe('rows random requests cannot reach', () => {
  const transfer = (params: unknown) => json(params);
  /** A fresh stack for one targeted request (a test value can pause the method, or fill the limiter). */
  async function withStack<T>(
    options: Parameters<typeof startStack>[0],
    run: (stack: Stack) => Promise<T>,
  ): Promise<T> {
    const stack = await startStack(options);
    try {
      return await run(stack);
    } finally {
      await stack.close();
      closedStackLogs.push(...stack.rawLogs);
    }
  }
  const quickUpstream: Partial<Config> = { upstreamTimeoutMs: 300, retry: { deadlineMs: 300, baseDelayMs: 20 } };

  example.each(testValueAnswers)(
    "the emulator's test value %i: the gateway answers %i %s",
    async (chatId, status, code) => {
      await withStack({ config: quickUpstream, emulator: { slowResponseMs: 3_000 } }, async (stack) => {
        const answer = await viaGateway(
          stacks,
          stack,
          transfer({ CHAT_ID: chatId, USER_ID: 1 }),
          `test value ${chatId}`,
        );
        expect([answer.status, answer.body?.error]).toEqual([status, code]);
        expectDocumentedAnswer(answer, 'a targeted request');
      });
    },
  );

  example('OPERATION_TIME_LIMIT from the gateway itself, while it holds the method paused', async () => {
    await withStack({}, async (stack) => {
      await viaGateway(stacks, stack, transfer({ CHAT_ID: 4291, USER_ID: 1 }), 'test value 4291');
      const calls = stack.emulator.received.length;
      const answer = await viaGateway(stacks, stack, transfer({ CHAT_ID: 1, USER_ID: 1 }), 'the paused method');
      expect([answer.status, answer.body?.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
      expectDocumentedAnswer(answer, 'a targeted request');
      expect(stack.emulator.received.length).toBe(calls);
    });
  });

  example('QUERY_LIMIT_EXCEEDED from the gateway itself, when its queue is full', async () => {
    const rateLimit = { drainPerSecond: 0.01, burst: 2, maxQueue: 0, maxWaitMs: 10 };
    await withStack({ config: { rateLimit } }, async (stack) => {
      await viaGateway(stacks, stack, transfer({ CHAT_ID: 1, USER_ID: 1 }), 'the limiter');
      const answer = await viaGateway(stacks, stack, transfer({ CHAT_ID: 1, USER_ID: 1 }), 'the full limiter');
      expect([answer.status, answer.body?.error]).toEqual([503, 'QUERY_LIMIT_EXCEEDED']);
      expectDocumentedAnswer(answer, 'a targeted request');
      expect(stack.emulator.received.length).toBe(1);
    });
  });

  example('UPSTREAM_UNREACHABLE when nothing listens where Bitrix24 should be', async () => {
    const port = await closedPort();
    await withStack({ upstreamBase: new URL(`http://127.0.0.1:${port}/rest/1/secretcode/`) }, async (stack) => {
      const answer = await viaGateway(stacks, stack, transfer({ CHAT_ID: 1, USER_ID: 1 }), 'a closed port');
      expect([answer.status, answer.body?.error]).toEqual([502, 'UPSTREAM_UNREACHABLE']);
      expectDocumentedAnswer(answer, 'a targeted request');
    });
  });

  example('NO_AUTH_FOUND from the gateway itself, in OAuth mode without auth', async () => {
    const answer = await viaGateway(stacks, stacks.oauth, form('CHAT_ID=1&USER_ID=1'), 'OAuth without auth');
    expect([answer.status, answer.body?.error]).toEqual([401, 'NO_AUTH_FOUND']);
    expectDocumentedAnswer(answer, 'a targeted request');
  });

  example.each(TRANSFER_PATHS.flatMap((path) => ['GET', 'PUT', 'DELETE', 'PATCH'].map((method) => [method, path])))(
    '%s %s is 405 METHOD_NOT_ALLOWED',
    async (method, path) => {
      const answer = await answerOf(await fetch(`${stacks.webhook.gateway.url}${path}`, { method }));
      recorder.note(answer, `${method} ${path}`);
      expect([answer.status, answer.body?.error]).toEqual([405, 'METHOD_NOT_ALLOWED']);
      expectDocumentedAnswer(answer, 'a targeted request');
    },
  );

  example.each([
    ['JSON', json({ CHAT_ID: 1, USER_ID: 1, CLIENT_ID: 'x'.repeat(20_000) })],
    [
      'form',
      form([
        ['CHAT_ID', '1'],
        ['USER_ID', '1'],
        ['CLIENT_ID', 'x'.repeat(20_000)],
      ]),
    ],
  ])('a %s body over the limit is 413 BODY_TOO_LARGE', async (_name, request) => {
    const answer = await viaGateway(stacks, stacks.webhook, request as GeneratedRequest, 'a large body');
    expect([answer.status, answer.body?.error]).toEqual([413, 'BODY_TOO_LARGE']);
    expectDocumentedAnswer(answer, 'a targeted request');
  });

  /** A transfer sent with an Idempotency-Key, noted as every targeted answer is. */
  async function withKey(stack: Stack, key: string, body: unknown, what: string) {
    const response = await fetch(`${stack.gateway.url}${TRANSFER_PATHS[0]}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    const answer = await answerOf(response);
    recorder.note(answer, what);
    expectDocumentedAnswer(answer, 'a targeted request');
    return answer;
  }

  example('409 IDEMPOTENCY_KEY_IN_USE and IDEMPOTENCY_KEY_MISMATCH for a key in flight, then reused', async () => {
    await withStack({ config: quickUpstream, emulator: { slowResponseMs: 3_000 } }, async (stack) => {
      const first = withKey(stack, 'targeted-key', { CHAT_ID: 5904, USER_ID: 1 }, 'a slow call with a key');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const inFlight = await withKey(stack, 'targeted-key', { CHAT_ID: 5904, USER_ID: 1 }, 'the key in flight');
      expect([inFlight.status, inFlight.body?.error]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
      await first;
      const reused = await withKey(stack, 'targeted-key', { CHAT_ID: 5904, USER_ID: 2 }, 'the key reused');
      expect([reused.status, reused.body?.error]).toEqual([409, 'IDEMPOTENCY_KEY_MISMATCH']);
      expect(stack.emulator.received).toHaveLength(1);
    });
  });

  example('503 IDEMPOTENCY_STORE_UNAVAILABLE when the Redis of the keys cannot be reached', async () => {
    const url = new URL(`redis://127.0.0.1:${await closedPort()}`);
    const redis = { url, keyPrefix: 'targeted', replicas: 2, scope: 'shared' as const, commandTimeoutMs: 100 };
    await withStack({ config: { redis } }, async (stack) => {
      const answer = await withKey(stack, 'targeted-key', { CHAT_ID: 1, USER_ID: 1 }, 'no Redis');
      expect([answer.status, answer.body?.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
      expect(stack.emulator.received).toHaveLength(0);
    });
  });

  example('a body without a Content-Type is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await fetch(`${stacks.webhook.gateway.url}${TRANSFER_PATHS[0]}`, {
      method: 'POST',
      body: new Uint8Array([123, 125]),
    });
    const answer = await answerOf(response);
    recorder.note(answer, 'no Content-Type');
    expect([answer.status, answer.body?.error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expectDocumentedAnswer(answer, 'a targeted request');
  });

  example.each([
    [
      'a duplicate Content-Length',
      400,
      'INVALID_HTTP_REQUEST',
      [`POST ${TRANSFER_PATHS[0]} HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} `],
    ],
    ['headers that arrive too slowly', 408, 'REQUEST_TIMEOUT', [`POST ${TRANSFER_PATHS[0]} HTTP/1.1\r\nHost: g\r\n`]],
    [
      'a 17 KB header',
      431,
      'HEADERS_TOO_LARGE',
      [`POST ${TRANSFER_PATHS[0]} HTTP/1.1\r\nHost: g\r\nX-Big: ${'a'.repeat(17_408)}\r\n\r\n`],
    ],
  ])('%s is answered by the HTTP parser %i %s', async (name, status, code, chunks) => {
    await withStack({ config: { headersTimeoutMs: 300, requestTimeoutMs: 600 } }, async (stack) => {
      const [answer] = (await sendRaw(stack.gateway.url, chunks, { timeoutMs: 3_000 })).answers;
      recorder.note(answer!, name);
      expect([answer?.status, answer?.body?.error]).toEqual([status, code]);
      expectDocumentedAnswer(answer!, 'a targeted request');
    });
  });

  example('GATEWAY_SHUTTING_DOWN for a request that arrives while the gateway drains', async () => {
    const stack = await startStack({ emulator: { slowResponseMs: 1_200 }, config: { upstreamTimeoutMs: 5_000 } });
    try {
      // In flight, waiting for Bitrix24, it keeps the gateway draining while the next request arrives.
      const slow = fetch(`${stack.gateway.url}${TRANSFER_PATHS[0]}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ CHAT_ID: 5904, USER_ID: 1 }),
      });
      while (stack.emulator.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const answer = await requestDuringShutdown(stack, transfer({ CHAT_ID: 1, USER_ID: 1 }), slow);
      recorder.note(answer, 'a stopping gateway');
      expect([answer.status, answer.body?.error]).toEqual([503, 'GATEWAY_SHUTTING_DOWN']);
      expectDocumentedAnswer(answer, 'a targeted request');
      expect(stack.emulator.received.length).toBe(1);
    } finally {
      await stack.close();
      closedStackLogs.push(...stack.rawLogs);
    }
  });
});

describe('the error matrix', () => {
  example("every row of the spec's error matrix was answered by the gateway, end to end", () => {
    const rows = matrix();
    const missing = recorder.missing(rows);
    expect(missing, `rows never produced (${missing.length} of ${rows.length}): ${missing.join(', ')}`).toEqual([]);
    expect(recorder.offMatrix(rows), 'answers off the matrix').toEqual([]);
  });
});

describe('the logs', () => {
  example(
    'no secret a request carried (CLIENT_ID, auth, a gateway key) nor the webhook code is in a line the gateways logged',
    () => {
      const { webhook, oauth, keyed, secrets } = stacks;
      const webhookCode = new URL(webhook.emulator.webhookUrl).pathname.split('/')[3]!;
      const lines = [...webhook.rawLogs, ...oauth.rawLogs, ...keyed.rawLogs, ...closedStackLogs];
      const leaks = [...secrets, webhookCode].flatMap((secret) =>
        lines.filter((line) => line.includes(secret)).map((line) => `${secret} in ${line}`),
      );
      expect(leaks, `secrets in the logs:\n${leaks.join('\n')}`).toEqual([]);
      expect(secrets.size, 'secrets sent').toBeGreaterThan(1);
      expect(lines.length, 'the gateways logged').toBeGreaterThan(RUNS);
    },
  );
});
