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
import {
  arbitrariesFor,
  FINISH,
  form,
  type GeneratedRequest,
  json,
  MESSAGE_SEND,
  METHODS,
  type MethodName,
  methodOfPath,
  OPERATOR,
  SECRET_MARK,
  TRANSFER,
  TRANSFER_PATHS,
} from './arbitraries';
import { answerOf, MatrixRecorder, matrix } from './matrix';
import {
  API_KEY,
  BODY_LIMIT_BYTES,
  expectDocumentedAnswer,
  keysGuardTheGateway,
  newTally,
  propertiesFor,
  type Stacks,
  viaGateway,
} from './properties';
import { PATH, PROPERTY_TIMEOUT_MS, RUNS, replayNote, runParameters, runsFor } from './runs';
import { closedPort, requestsDuringShutdown, testValueAnswersFor } from './targeted';

const recorder = new MatrixRecorder();
const tally = Object.fromEntries(METHODS.map((method) => [method, newTally()])) as Stacks['tally'];
const SIBLINGS = METHODS.filter((method) => method !== TRANSFER);
/** A request `method`'s spec accepts, for chat `chatId` (a test value, or 1). */
function validFor(method: MethodName, chatId = 1): GeneratedRequest {
  const params =
    method === TRANSFER
      ? { CHAT_ID: chatId, USER_ID: 1 }
      : method === MESSAGE_SEND
        ? { CHAT_ID: chatId, NAME: 'WELCOME' }
        : { CHAT_ID: chatId };
  return arbitrariesFor(method).json(params);
}
/** The log lines of the stacks the targeted requests start and close. */
const closedStackLogs: string[] = [];
let stacks: Stacks;

beforeAll(async () => {
  // The emulator's "slow" test value answers in 200 ms here: should a generator ever produce it, a run
  // would not wait a minute. Its operating-time limit is off: tens of thousands of runs would exhaust it.
  // The webhook's code is a secret of this run too (see SECRET_MARK).
  const emulator = {
    webhook: { userId: '1', code: `code-${SECRET_MARK}` },
    slowResponseMs: 200,
    operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  };
  // BODY_LIMIT_BYTES at its documented default, so that message.send's longest MESSAGE fits.
  const config = { bodyLimitBytes: BODY_LIMIT_BYTES };
  const [webhook, oauth, keyed] = await Promise.all([
    startStack({ emulator, config }),
    startStack({ emulator, config, mode: 'oauth' }),
    startStack({ emulator, config: { apiKeys: new Map([[API_KEY, 'contract-tests']]), allowAnonymous: false } }),
  ]);
  stacks = { webhook, oauth, keyed, recorder, tally, secrets: new Set() };
});
afterAll(async () => {
  await Promise.all([stacks?.webhook.close(), stacks?.oauth.close(), stacks?.keyed.close()]);
});

describe('properties', () => {
  // Properties 1 to 3 for each method; the siblings, with fewer rules, take fewer runs (see runs.ts).
  for (const method of METHODS) {
    const { answerIsDocumented, onlyValidRequestsReachBitrix24, bitrix24RejectionsKeepTheirCode } =
      propertiesFor(method);
    const runs = runsFor(method);

    it.prop([...answerIsDocumented.arbitraries], runParameters(answerIsDocumented.examples, runs))(
      answerIsDocumented.name,
      (request, mode) => answerIsDocumented.check(stacks, request, mode),
      PROPERTY_TIMEOUT_MS,
    );

    it.prop(
      [...onlyValidRequestsReachBitrix24.arbitraries],
      runParameters(onlyValidRequestsReachBitrix24.examples, runs),
    )(
      onlyValidRequestsReachBitrix24.name,
      (request) => onlyValidRequestsReachBitrix24.check(stacks, request),
      PROPERTY_TIMEOUT_MS,
    );

    it.prop(
      [...bitrix24RejectionsKeepTheirCode.arbitraries],
      runParameters(bitrix24RejectionsKeepTheirCode.examples, runs),
    )(
      bitrix24RejectionsKeepTheirCode.name,
      (request) => bitrix24RejectionsKeepTheirCode.check(stacks, request),
      PROPERTY_TIMEOUT_MS,
    );
  }

  it.prop([...keysGuardTheGateway.arbitraries], runParameters(keysGuardTheGateway.examples))(
    keysGuardTheGateway.name,
    (request, authorization) => keysGuardTheGateway.check(stacks, request, authorization),
    PROPERTY_TIMEOUT_MS,
  );

  // A property that never meets its premise proves nothing: the generators must keep producing requests
  // the spec accepts, requests it refuses, and requests Bitrix24 itself rejects.
  example.runIf(RUNS >= 100 && PATH === undefined).each(METHODS)(
    'the premises of properties 2 and 3 held in a good share of the runs for %s',
    (method) => {
      const runs = runsFor(method);
      const replay = `; ${replayNote()}`;
      expect(tally[method].forwarded, `valid requests (property 2)${replay}`).toBeGreaterThan(runs / 10);
      expect(tally[method].refused, `refused requests (property 2)${replay}`).toBeGreaterThan(runs / 10);
      expect(tally[method].bitrix24Rejections, `Bitrix24's own rejections (property 3)${replay}`).toBeGreaterThan(
        runs / 10,
      );
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

  // Each method's own test values, and the platform's, which act for every method.
  example.each(METHODS.flatMap((method) => testValueAnswersFor(method).map((row) => [method, ...row] as const)))(
    "%s: the emulator's test value %i: the gateway answers %i %s",
    async (method, chatId, status, code) => {
      await withStack({ config: quickUpstream, emulator: { slowResponseMs: 3_000 } }, async (stack) => {
        const answer = await viaGateway(stacks, stack, validFor(method, chatId), `test value ${chatId}`);
        expect([answer.status, answer.body?.error]).toEqual([status, code]);
        expectDocumentedAnswer(answer, 'a targeted request', method);
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

  example.each(METHODS)('%s: NO_AUTH_FOUND from the gateway itself, in OAuth mode without auth', async (method) => {
    const request = method === TRANSFER ? form('CHAT_ID=1&USER_ID=1') : validFor(method);
    const answer = await viaGateway(stacks, stacks.oauth, request, 'OAuth without auth');
    expect([answer.status, answer.body?.error]).toEqual([401, 'NO_AUTH_FOUND']);
    expectDocumentedAnswer(answer, 'a targeted request', method);
  });

  example.each(METHODS)(
    '%s: IDEMPOTENCY_KEY_UNSCOPED for a key from a caller without an API key, in OAuth mode',
    async (method) => {
      const calls = stacks.oauth.emulator.received.length;
      const answer = await viaGateway(stacks, stacks.oauth, validFor(method), 'OAuth, a key without an API key', {
        'idempotency-key': 'targeted-key',
      });
      expect([answer.status, answer.body?.error]).toEqual([400, 'IDEMPOTENCY_KEY_UNSCOPED']);
      expectDocumentedAnswer(answer, 'a targeted request', method);
      expect(stacks.oauth.emulator.received.length).toBe(calls);
    },
  );

  // Property 4 keeps to the transfer; the key check is the same step for every method.
  example.each(
    SIBLINGS.flatMap((method) => [
      [method, undefined, 'GATEWAY_AUTH_REQUIRED'],
      [method, `Bearer wrong-key-${SECRET_MARK}`, 'GATEWAY_AUTH_INVALID'],
    ]),
  )('%s: with API keys configured, Authorization %s is 401 %s', async (method, authorization, code) => {
    const calls = stacks.keyed.emulator.stats.calls;
    const answer = await viaGateway(
      stacks,
      stacks.keyed,
      validFor(method as MethodName),
      'a keyed gateway',
      authorization === undefined ? {} : { authorization },
    );
    expect([answer.status, answer.body?.error]).toEqual([401, code]);
    expectDocumentedAnswer(answer, 'a targeted request', method as MethodName);
    expect(stacks.keyed.emulator.stats.calls).toBe(calls);
  });

  example.each(
    METHODS.flatMap((method) =>
      arbitrariesFor(method).paths.flatMap((path) =>
        ['GET', 'PUT', 'DELETE', 'PATCH'].map((verb) => [verb, path, method] as const),
      ),
    ),
  )('%s %s is 405 METHOD_NOT_ALLOWED', async (verb, path, method) => {
    const answer = await answerOf(await fetch(`${stacks.webhook.gateway.url}${path}`, { method: verb }));
    recorder.note(answer, `${verb} ${path}`, method);
    expect([answer.status, answer.body?.error]).toEqual([405, 'METHOD_NOT_ALLOWED']);
    expectDocumentedAnswer(answer, 'a targeted request', method);
  });

  // Over the property stacks' BODY_LIMIT_BYTES (the CLIENT_ID alone, or the MESSAGE, is over it).
  const large = 'x'.repeat(BODY_LIMIT_BYTES + 1);
  example.each([
    ['JSON', json({ CHAT_ID: 1, USER_ID: 1, CLIENT_ID: large })],
    [
      'form',
      form([
        ['CHAT_ID', '1'],
        ['USER_ID', '1'],
        ['CLIENT_ID', large],
      ]),
    ],
    ...SIBLINGS.map((method) => [`${method} JSON`, arbitrariesFor(method).json({ CHAT_ID: 1, MESSAGE: large })]),
    ...SIBLINGS.map((method) => [
      `${method} form`,
      arbitrariesFor(method).form([
        ['CHAT_ID', '1'],
        ['MESSAGE', large],
      ]),
    ]),
  ])('a %s body over the limit is 413 BODY_TOO_LARGE', async (_name, request) => {
    const answer = await viaGateway(stacks, stacks.webhook, request as GeneratedRequest, 'a large body');
    expect([answer.status, answer.body?.error]).toEqual([413, 'BODY_TOO_LARGE']);
    expectDocumentedAnswer(answer, 'a targeted request', methodOfPath((request as GeneratedRequest).path));
  });

  /** A valid call of `method` for chat `chatId`, sent with an Idempotency-Key, noted as every targeted answer is. */
  const validBody: Record<MethodName, Record<string, unknown>> = {
    [TRANSFER]: { USER_ID: 1 },
    [OPERATOR]: {},
    [MESSAGE_SEND]: { NAME: 'WELCOME' },
    [FINISH]: {},
  };
  async function withKey(stack: Stack, method: MethodName, key: string, chatId: number, what: string) {
    const response = await fetch(`${stack.gateway.url}${arbitrariesFor(method).paths[0]}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ CHAT_ID: chatId, ...validBody[method] }),
    });
    const answer = await answerOf(response);
    recorder.note(answer, what, method);
    expectDocumentedAnswer(answer, 'a targeted request', method);
    return answer;
  }

  example.each(METHODS)(
    '%s: 409 IDEMPOTENCY_KEY_IN_USE and IDEMPOTENCY_KEY_MISMATCH for a key in flight, then reused',
    async (method) => {
      await withStack({ config: quickUpstream, emulator: { slowResponseMs: 3_000 } }, async (stack) => {
        const first = withKey(stack, method, 'targeted-key', 5904, 'a slow call with a key');
        await new Promise((resolve) => setTimeout(resolve, 100));
        const inFlight = await withKey(stack, method, 'targeted-key', 5904, 'the key in flight');
        expect([inFlight.status, inFlight.body?.error]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
        await first;
        const reused = await withKey(stack, method, 'targeted-key', 112, 'the key reused');
        expect([reused.status, reused.body?.error]).toEqual([409, 'IDEMPOTENCY_KEY_MISMATCH']);
        expect(stack.emulator.received).toHaveLength(1);
      });
    },
  );

  example(
    '503 IDEMPOTENCY_STORE_UNAVAILABLE, for every method, when the Redis of the keys cannot be reached',
    async () => {
      const url = new URL(`redis://127.0.0.1:${await closedPort()}`);
      const redis = { url, keyPrefix: 'targeted', replicas: 2, scope: 'shared' as const, commandTimeoutMs: 100 };
      await withStack({ config: { redis } }, async (stack) => {
        for (const method of METHODS) {
          const answer = await withKey(stack, method, 'targeted-key', 1, 'no Redis');
          expect([answer.status, answer.body?.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
        }
        expect(stack.emulator.received).toHaveLength(0);
      });
    },
  );

  example.each(METHODS)(
    '%s: an Expect other than 100-continue is 417 EXPECTATION_FAILED, and a Content-Encoding 415',
    async (method) => {
      const path = arbitrariesFor(method).paths[0];
      const body = '{"CHAT_ID":112}';
      const requestWith = (header: string) =>
        `POST ${path} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Type: application/json\r\n${header}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const calls = stacks.webhook.emulator.stats.calls;
      for (const [header, status, code] of [
        ['Expect: foo', 417, 'EXPECTATION_FAILED'],
        ['Content-Encoding: gzip', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ] as const) {
        const [answer] = (await sendRaw(stacks.webhook.gateway.url, [requestWith(header)], { timeoutMs: 3_000 }))
          .answers;
        recorder.note(answer!, header, method);
        expect([answer?.status, answer?.body?.error], header).toEqual([status, code]);
        expectDocumentedAnswer(answer!, 'a targeted request', method);
      }
      expect(stacks.webhook.emulator.stats.calls, 'nothing sent').toBe(calls);
    },
  );

  example.each(METHODS)('%s: a body without a Content-Type is 415 UNSUPPORTED_MEDIA_TYPE', async (method) => {
    const response = await fetch(`${stacks.webhook.gateway.url}${arbitrariesFor(method).paths[0]}`, {
      method: 'POST',
      body: new Uint8Array([123, 125]),
    });
    const answer = await answerOf(response);
    recorder.note(answer, 'no Content-Type', method);
    expect([answer.status, answer.body?.error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expectDocumentedAnswer(answer, 'a targeted request', method);
  });

  example.each([
    [
      'a duplicate Content-Length',
      400,
      'INVALID_HTTP_REQUEST',
      (path: string) => [`POST ${path} HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} `],
    ],
    [
      'headers that arrive too slowly',
      408,
      'REQUEST_TIMEOUT',
      (path: string) => [`POST ${path} HTTP/1.1\r\nHost: g\r\n`],
    ],
    [
      'a 17 KB header',
      431,
      'HEADERS_TOO_LARGE',
      (path: string) => [`POST ${path} HTTP/1.1\r\nHost: g\r\nX-Big: ${'a'.repeat(17_408)}\r\n\r\n`],
    ],
  ] as const)('%s is answered by the HTTP parser %i %s, at every method', async (name, status, code, chunks) => {
    await withStack({ config: { headersTimeoutMs: 300, requestTimeoutMs: 600 } }, async (stack) => {
      await Promise.all(
        METHODS.map(async (method) => {
          const path = arbitrariesFor(method).paths[0];
          const [answer] = (await sendRaw(stack.gateway.url, chunks(path), { timeoutMs: 3_000 })).answers;
          recorder.note(answer!, name, method);
          expect([answer?.status, answer?.body?.error], method).toEqual([status, code]);
          expectDocumentedAnswer(answer!, 'a targeted request', method);
        }),
      );
    });
  });

  example('GATEWAY_SHUTTING_DOWN for a request that arrives while the gateway drains, at every method', async () => {
    const stack = await startStack({ emulator: { slowResponseMs: 1_200 }, config: { upstreamTimeoutMs: 5_000 } });
    try {
      // In flight, waiting for Bitrix24, it keeps the gateway draining while the next requests arrive.
      const slow = fetch(`${stack.gateway.url}${TRANSFER_PATHS[0]}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ CHAT_ID: 5904, USER_ID: 1 }),
      });
      while (stack.emulator.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // One drain for all four methods: each waits 1.2 s.
      const answers = await requestsDuringShutdown(
        stack,
        METHODS.map((method) => validFor(method)),
        slow,
      );
      for (const [i, method] of METHODS.entries()) {
        const answer = answers[i]!;
        recorder.note(answer, 'a stopping gateway', method);
        expect([answer.status, answer.body?.error], method).toEqual([503, 'GATEWAY_SHUTTING_DOWN']);
        expectDocumentedAnswer(answer, 'a targeted request', method);
      }
      expect(stack.emulator.received.length).toBe(1);
    } finally {
      await stack.close();
      closedStackLogs.push(...stack.rawLogs);
    }
  });
});

describe('the error matrix', () => {
  example.each(METHODS)("every row of %s's error matrix was answered by the gateway, end to end", (method) => {
    const rows = matrix(method);
    const missing = recorder.missing(rows, method);
    expect(
      missing,
      `rows never produced (${missing.length} of ${rows.length}): ${missing.join(', ')}; ${replayNote()}`,
    ).toEqual([]);
    expect(recorder.offMatrix(rows, method), 'answers off the matrix').toEqual([]);
  });
});

describe('the logs', () => {
  example(
    'no secret a request carried (CLIENT_ID, auth, a gateway key) nor the webhook code is in a line the gateways logged',
    () => {
      const { webhook, oauth, keyed, secrets } = stacks;
      const webhookCode = new URL(webhook.emulator.webhookUrl).pathname.split('/')[3]!;
      const lines = [...webhook.rawLogs, ...oauth.rawLogs, ...keyed.rawLogs, ...closedStackLogs];
      // Every secret carries SECRET_MARK and nothing else does: the mark finds a secret logged whole or in part.
      const leaks = [SECRET_MARK, ...secrets, webhookCode].flatMap((secret) =>
        lines.filter((line) => line.includes(secret)).map((line) => `${secret} in ${line}`),
      );
      expect(leaks, `secrets in the logs (${replayNote()}):\n${leaks.join('\n')}`).toEqual([]);
      expect(secrets.size, 'secrets sent').toBeGreaterThan(1);
      expect(lines.length, 'the gateways logged').toBeGreaterThan(RUNS);
    },
  );
});
