// The contract's properties, as predicates over generated requests. properties.test.ts runs them with
// @fast-check/vitest; each takes the stacks it talks to, so the same predicate can run against any gateway.
import { fc } from '@fast-check/vitest';
import { expect } from 'vitest';
import type { z } from 'zod';
import { zFinishResult, zMessageSendResult, zOperatorResult, zTransferResult } from '../generated/zod.gen';
import { isDocumentedError } from '../src/error-matrix';
import type { Stack } from '../src/test-support/stack';
import {
  arbitrariesFor,
  FINISH,
  form,
  type GeneratedRequest,
  isMarkedSecret,
  json,
  MESSAGE_SEND,
  type MethodName,
  methodOfPath,
  mixedRequest,
  OPERATOR,
  SECRET_MARK,
  TRANSFER,
} from './arbitraries';
import { type Answer, type MatrixRecorder, matrix, operationIdOf, send } from './matrix';
import { documentedOutcome, type ModelSettings, textProblem } from './model';

/** Each method's error matrix, as pairs, and the codes Bitrix24 may answer (x-source bitrix24 or both). */
const matrices = new Map<MethodName, { pairs: Set<string>; bitrix24Codes: Set<string> }>();
function matrixOf(method: MethodName) {
  let known = matrices.get(method);
  if (!known) {
    const rows = matrix(method);
    known = {
      pairs: new Set(rows.map((row) => `${row.status} ${row.code}`)),
      bitrix24Codes: new Set(rows.filter((row) => row.source !== 'gateway').map((row) => row.code)),
    };
    matrices.set(method, known);
  }
  return known;
}
/** Each method's 200 schema. */
const resultSchemas: Record<MethodName, z.ZodType> = {
  [TRANSFER]: zTransferResult,
  [OPERATOR]: zOperatorResult,
  [MESSAGE_SEND]: zMessageSendResult,
  [FINISH]: zFinishResult,
};
/**
 * Bitrix24's own checks of each method's parameters (the spec's step 2): CHAT_ID_EMPTY for every method,
 * the transfer's destination codes for the transfer.
 */
export const VALIDATION_CODES: Record<MethodName, string[]> = {
  [TRANSFER]: ['CHAT_ID_EMPTY', 'USER_ID_EMPTY', 'QUEUE_ID_EMPTY', 'TRANSFER_ID_EMPTY'],
  [OPERATOR]: ['CHAT_ID_EMPTY'],
  [MESSAGE_SEND]: ['CHAT_ID_EMPTY'],
  [FINISH]: ['CHAT_ID_EMPTY'],
};

export interface Stacks {
  /** Webhook mode, anonymous callers, the gateway's configured CLIENT_ID being DEFAULT_CLIENT_ID. */
  webhook: Stack;
  /** OAuth mode, anonymous callers. */
  oauth: Stack;
  /** Webhook mode with API_KEY as the only key, and no anonymous callers. */
  keyed: Stack;
  recorder: MatrixRecorder;
  /** How often a property's premise held, per method, so that a property cannot pass by never applying. */
  tally: Record<MethodName, Tally>;
  /** Every secret a request carried (CLIENT_ID, auth, a key in a header or a path): none may be logged. */
  secrets: Set<string>;
}
export interface Tally {
  bitrix24Rejections: number;
  forwarded: number;
  refused: number;
}
export const newTally = (): Tally => ({ bitrix24Rejections: 0, forwarded: 0, refused: 0 });
export const DEFAULT_CLIENT_ID = 'emulator.bot';
/** BODY_LIMIT_BYTES of the property stacks: the documented default, so that the longest MESSAGE fits. */
export const BODY_LIMIT_BYTES = 262_144;
const modelSettings: ModelSettings = { defaultClientId: DEFAULT_CLIENT_ID, bodyLimitBytes: BODY_LIMIT_BYTES };
/**
 * The one gateway API key of the `keyed` stack: a secret, so it carries SECRET_MARK, twice, so that each of
 * the near misses property 4 makes of it (one character changed, one cut off) still carries it.
 */
export const API_KEY = `key-${SECRET_MARK}-${SECRET_MARK}`;

/** Through the gateway, over HTTP; the answer's (status, code) is recorded for the matrix coverage. */
export async function viaGateway(
  stacks: Stacks,
  stack: Stack,
  request: GeneratedRequest,
  by: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  for (const secret of secretsOf(request, headers)) stacks.secrets.add(secret);
  const answer = await send(`${stack.gateway.url}${request.path}`, request, headers);
  stacks.recorder.note(answer, by, methodOfPath(request.path));
  return answer;
}

/**
 * The secrets a request carries (CLIENT_ID, `auth`, the key in Authorization or in the path): the ones
 * that carry this run's SECRET_MARK, which no other field can hold. The plain values in those places
 * ("my.bot", a random word) are sent too, but a log line holding one proves nothing: it may be a request id.
 */
function secretsOf(request: GeneratedRequest, headers: Record<string, string>): string[] {
  const values: unknown[] = [];
  try {
    const params =
      request.encoding === 'form' ? Object.fromEntries(new URLSearchParams(request.body)) : JSON.parse(request.body);
    values.push(params?.CLIENT_ID, params?.auth);
  } catch {
    // Not JSON: no parameters.
  }
  values.push(/^Bearer (\S+)$/.exec(headers.authorization ?? '')?.[1]);
  values.push(/^\/rest\/[^/]*\/([^/?]+)\//.exec(request.path)?.[1]);
  return values.filter(isMarkedSecret);
}

/** Straight to the emulator's webhook, as a caller of Bitrix24 would send it. */
const viaBitrix24 = (stack: Stack, request: GeneratedRequest) =>
  send(`${stack.emulator.webhookUrl}${request.path.slice('/rest/'.length)}`, request);

export const show = (request: GeneratedRequest) =>
  `${request.contentType} ${request.path} ${JSON.stringify(request.body)}`;

/** The examples each property always runs, per method, beside the random requests. */
interface Examples {
  answerIsDocumented: [GeneratedRequest, 'webhook' | 'oauth'][];
  onlyValidRequestsReachBitrix24: [GeneratedRequest][];
  bitrix24RejectionsKeepTheirCode: [GeneratedRequest][];
}

const transferExamples: Examples = {
  // One request per row that random requests reach, so that the matrix coverage never hangs on chance.
  answerIsDocumented: [
    [json({ CHAT_ID: 112, USER_ID: 12, LEAVE: 'N' }), 'webhook'],
    [json({ USER_ID: 12 }), 'webhook'],
    [json({ CHAT_ID: 5, USER_ID: 0 }), 'webhook'],
    [json({ CHAT_ID: 5, QUEUE_ID: -1 }), 'webhook'],
    [json({ CHAT_ID: 5 }), 'webhook'],
    [json('{"CHAT_ID":'), 'webhook'],
    [json({ CHAT_ID: 1, USER_ID: 1, leave: 'Y' }), 'webhook'],
    [form('CHAT_ID=12abc&USER_ID=1'), 'webhook'],
    [{ ...form('CHAT_ID=1&USER_ID=1'), contentType: 'text/plain' }, 'webhook'],
    [json({ CHAT_ID: 1, USER_ID: 1 }), 'oauth'],
  ],
  onlyValidRequestsReachBitrix24: [
    [json({ CHAT_ID: 1, USER_ID: 2, QUEUE_ID: 3, TRANSFER_ID: 'queue4' })],
    [json({ CHAT_ID: 1, QUEUE_ID: 3, TRANSFER_ID: 'queue4', LEAVE: 'Y' })],
    [json({ CHAT_ID: 1, USER_ID: 5, TRANSFER_ID: 9, CLIENT_ID: 'my.bot' })],
    [json({ CHAT_ID: 1, USER_ID: 5, CLIENT_ID: `bot-${SECRET_MARK}` })],
    [form('CHAT_ID=1&TRANSFER_ID=queue7&USER_ID=8')],
    [form('CHAT_ID=1&CHAT_ID=2&USER_ID=1')],
    [json({ CHAT_ID: 0, USER_ID: 1 })],
    [
      json(
        { CHAT_ID: 1, USER_ID: 1 },
        `/rest/7/gateway-key-${SECRET_MARK}/imopenlines.bot.session.transfer?bx24_request_id=r1&bx24_sdk_ver=1.0`,
      ),
    ],
    [json({ CHAT_ID: 1, USER_ID: 1 }, '/rest/imopenlines.bot.session.transfer?USER_ID=2')],
  ],
  bitrix24RejectionsKeepTheirCode: [
    [json({ USER_ID: 1 })],
    [json({ CHAT_ID: 5, TRANSFER_ID: 'abc' })],
    [json({ CHAT_ID: 5, USER_ID: 7, TRANSFER_ID: 'queueX' })],
    [form('CHAT_ID=12abc')],
    // PHP reads a form in the order sent, the last entry winning (a defect these found, now fixed).
    [form('CHAT_ID=1&USER_ID=01&USER_ID%5B%5D=5&USER_ID=abc')],
  ],
};

/** What every sibling's examples share: the rows random requests reach, and its Bitrix24 key handling. */
function siblingExamples(method: MethodName, valid: Record<string, unknown>): Examples {
  const { json, form, paths } = arbitrariesFor(method);
  return {
    answerIsDocumented: [
      [json(valid), 'webhook'],
      [json({ ...valid, CHAT_ID: 0 }), 'webhook'],
      [json('{"CHAT_ID":'), 'webhook'],
      [json({ ...valid, chat_id: 5 }), 'webhook'],
      [form(`CHAT_ID=12abc`), 'webhook'],
      [{ ...form('CHAT_ID=1'), contentType: 'text/plain' }, 'webhook'],
      [json(valid, paths[1]), 'oauth'],
    ],
    onlyValidRequestsReachBitrix24: [
      [json(valid)],
      [form(Object.entries(valid).map(([key, value]): [string, string] => [key, String(value)]))],
      [json(valid, paths[1])],
      [json(valid, `/rest/7/gateway-key-${SECRET_MARK}/${method}?bx24_request_id=r1&bx24_sdk_ver=1.0`)],
      [json({ ...valid, CHAT_ID: '5' })],
      [form('CHAT_ID=1&CHAT_ID=2')],
      [json({ ...valid, auth: `token-${SECRET_MARK}` })],
      [json(valid, `${paths[0]}?CHAT_ID=2`)],
    ],
    // The siblings' Bitrix24 upper-cases keys: `chat_id` is its CHAT_ID.
    bitrix24RejectionsKeepTheirCode: [
      [json({ chat_id: 0 })],
      [json({ ...valid, chat_id: 0 })],
      [form('chat_id=0&CHAT_ID=5')],
      [form('CHAT_ID=5&chat_id=0')],
      [form('CHAT_ID=12abc')],
      [form('CHAT_ID=1&CHAT_ID%5B%5D=5&CHAT_ID=abc')],
    ],
  };
}

const examplesOf: Record<MethodName, () => Examples> = {
  [TRANSFER]: () => transferExamples,
  [OPERATOR]: () => siblingExamples(OPERATOR, { CHAT_ID: 112 }),
  [MESSAGE_SEND]: () => {
    const { json, form } = arbitrariesFor(MESSAGE_SEND);
    const examples = siblingExamples(MESSAGE_SEND, { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'Hello' });
    examples.onlyValidRequestsReachBitrix24.push(
      [json({ CHAT_ID: 1, NAME: 'WELCOME' })],
      [json({ CHAT_ID: 1, NAME: 'WELCOME', MESSAGE: 'Hello' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '0' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: ' \t\n' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '00' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: 'x'.repeat(20_000) })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: 'x'.repeat(20_001) })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '😀'.repeat(20_000) })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: '😀'.repeat(20_001) })],
      [json({ CHAT_ID: 1, NAME: 'welcome' })],
      [json({ CHAT_ID: 1, NAME: 'DEFAULT', MESSAGE: 5 })],
      [form('CHAT_ID=1&NAME=DEFAULT&MESSAGE=%5BBR%5D')],
    );
    return examples;
  },
  [FINISH]: () => {
    const { json, form } = arbitrariesFor(FINISH);
    const examples = siblingExamples(FINISH, { CHAT_ID: 112 });
    examples.onlyValidRequestsReachBitrix24.push(
      [json({ CHAT_ID: 1, CLIENT_ID: 'my.bot' })],
      [form('CHAT_ID=1&CLIENT_ID=my.bot')],
      [json({ CHAT_ID: 1, CLIENT_ID: '0' })],
      [json({ CHAT_ID: 1, CLIENT_ID: '' })],
    );
    return examples;
  },
};

/** Properties 1 to 3 for one method: the same predicates, that method's generators, matrix and model. */
export function propertiesFor(method: MethodName) {
  const arbitraries = arbitrariesFor(method);
  const examples = examplesOf[method]();
  const label = (name: string) => `${name} [${method}]`;

  // Property 1 -------------------------------------------------------------------------------------------

  const answerIsDocumented = {
    name: label(
      "property 1: the (status, error) pair of every answer is a row of the error matrix, and the body matches that status's schema",
    ),
    arbitraries: [
      arbitraries.anyUrl(arbitraries.mixedRequest),
      fc.constantFrom('webhook' as const, 'oauth' as const),
    ] as const,
    examples: examples.answerIsDocumented,
    async check(stacks: Stacks, request: GeneratedRequest, mode: 'webhook' | 'oauth'): Promise<void> {
      const answer = await viaGateway(stacks, stacks[mode], request, 'property 1');
      expectDocumentedAnswer(answer, `${show(request)} (${mode})`, method);
    },
  };

  // Property 2 -------------------------------------------------------------------------------------------

  const onlyValidRequestsReachBitrix24 = {
    name: label(
      method === TRANSFER
        ? 'property 2: a request the spec refuses never reaches Bitrix24; a valid one reaches it exactly once, normalised by the documented priority'
        : 'property 2: a request the spec refuses never reaches Bitrix24; a valid one reaches it exactly once, as validated',
    ),
    arbitraries: [arbitraries.anyUrl(arbitraries.mixedRequest)] as const,
    examples: examples.onlyValidRequestsReachBitrix24,
    async check(stacks: Stacks, request: GeneratedRequest): Promise<void> {
      const { emulator } = stacks.webhook;
      const tally = stacks.tally[method];
      // Counted by stats, not by received's length: the emulator keeps a bounded window of the calls.
      const before = emulator.stats.calls;
      const answer = await viaGateway(stacks, stacks.webhook, request, 'property 2');
      const calls = emulator.receivedSince(before);
      const reached = calls.map((call) => call.params);
      const documented = documentedOutcome(request, modelSettings);
      if (!documented.accepted) {
        tally.refused += 1;
        expect(
          reached,
          `${answer.status} ${answer.body?.error}, yet Bitrix24 was called, for ${show(request)} (the spec refuses it: ${documented.why})`,
        ).toEqual([]);
        expect(
          answer.status,
          `the gateway accepted ${show(request)}, which the spec refuses: ${documented.why}`,
        ).not.toBe(200);
        return;
      }
      tally.forwarded += 1;
      expect(
        reached,
        `the spec accepts ${show(request)}; the gateway answered ${answer.status} ${JSON.stringify(answer.body)}`,
      ).toEqual([documented.forwarded]);
      expect(methodOfPath(calls[0]!.path), `the method called for ${show(request)}`).toBe(method);
      // Bitrix24's own answer, success or error, is relayed; a forwarded request never gets a gateway code.
      if (answer.status !== 200)
        expect(
          matrixOf(method).bitrix24Codes.has(answer.body?.error),
          `a forwarded request answered ${answer.status} ${answer.body?.error}`,
        ).toBe(true);
    },
  };

  // Property 3 -------------------------------------------------------------------------------------------

  const bitrix24RejectionsKeepTheirCode = {
    name: label(
      'property 3: whenever Bitrix24 (the emulator) answers one of its validation codes, the gateway answers the same status and code',
    ),
    arbitraries: [arbitraries.parameterRequest] as const,
    examples: examples.bitrix24RejectionsKeepTheirCode,
    async check(stacks: Stacks, request: GeneratedRequest): Promise<void> {
      const bitrix24 = await viaBitrix24(stacks.webhook, request);
      const gateway = await viaGateway(stacks, stacks.webhook, request, 'property 3');
      if (bitrix24.status !== 400 || !VALIDATION_CODES[method].includes(bitrix24.body?.error)) return;
      stacks.tally[method].bitrix24Rejections += 1;
      // A body refused as text (the request's own step, before Bitrix24's checks) is INVALID_BODY instead.
      const asText = textProblem(request);
      expect(
        [gateway.status, gateway.body?.error],
        `${show(request)}: Bitrix24 answers ${bitrix24.body.error}${asText ? `, and the body has ${asText}` : ''}`,
      ).toEqual([400, asText ? 'INVALID_BODY' : bitrix24.body.error]);
    },
  };

  return { answerIsDocumented, onlyValidRequestsReachBitrix24, bitrix24RejectionsKeepTheirCode };
}

/**
 * An answer of `method`'s operations as the spec documents it: a 200 with its result schema, or a row of
 * its error matrix with its status's schema; JSON, with X-Request-Id ("every answer carries"), Retry-After
 * on 429 and 503 but OVERLOAD_LIMIT, and Allow on 405.
 */
export function expectDocumentedAnswer(answer: Answer, context: string, method: MethodName = TRANSFER): void {
  expect(answer.headers.get('content-type'), context).toMatch(/^application\/json/);
  expect(answer.headers.get('x-request-id'), `X-Request-Id, for ${context}`).toBeTruthy();
  if (answer.status === 200) {
    expect(
      resultSchemas[method].safeParse(answer.body).success,
      `200 off ${method}'s result schema: ${JSON.stringify(answer.body)}`,
    ).toBe(true);
    return;
  }
  const pair = `${answer.status} ${answer.body?.error}`;
  expect(matrixOf(method).pairs.has(pair), `${pair} is not a row of ${method}'s error matrix, for ${context}`).toBe(
    true,
  );
  expect(
    isDocumentedError(answer.status, answer.body, operationIdOf(method)),
    `a body off the ${answer.status} schema: ${JSON.stringify(answer.body)}`,
  ).toBe(true);
  if ((answer.status === 429 || answer.status === 503) && answer.body.error !== 'OVERLOAD_LIMIT') {
    expect(answer.headers.get('retry-after'), `Retry-After on ${pair}`).toMatch(/^[1-9][0-9]*$/);
  }
  if (answer.status === 405) expect(answer.headers.get('allow'), 'Allow on 405').toBeTruthy();
  if (answer.status === 401)
    expect(answer.headers.get('www-authenticate'), `WWW-Authenticate on ${pair}`).toMatch(/^Bearer realm="/);
}

// Property 4 ---------------------------------------------------------------------------------------------

/** An Authorization header that does not carry API_KEY (undefined: no header at all). */
const wrongAuthorization = fc.oneof(
  fc.constant(undefined),
  fc
    .stringMatching(/^[A-Za-z0-9._~+/-]{1,40}$/)
    .filter((token) => token !== API_KEY)
    .map((token) => `Bearer ${token}`),
  fc.stringMatching(/^[A-Za-z0-9._~+/-]{0,12}$/).map((tail) => `Bearer ${SECRET_MARK}${tail}`),
  fc
    .nat(API_KEY.length - 1)
    .map((at) => `Bearer ${API_KEY.slice(0, at)}${API_KEY[at] === 'x' ? 'y' : 'x'}${API_KEY.slice(at + 1)}`),
  fc.constantFrom(
    `Bearer ${API_KEY}x`,
    `Bearer ${API_KEY.slice(1)}`,
    API_KEY,
    `Basic ${Buffer.from(`team:${API_KEY}`).toString('base64')}`,
    'Bearer',
    `Token ${API_KEY}`,
    `Bearer ${API_KEY} ${API_KEY}`,
  ),
);

export const keysGuardTheGateway = {
  name: 'property 4: with API keys configured, a request without a valid key is answered 401 GATEWAY_AUTH_REQUIRED (no header) or GATEWAY_AUTH_INVALID, and never reaches Bitrix24',
  arbitraries: [
    mixedRequest,
    fc.oneof({ weight: 4, arbitrary: wrongAuthorization }, { weight: 1, arbitrary: fc.constant(`Bearer ${API_KEY}`) }),
  ] as const,
  examples: [
    [json({ CHAT_ID: 1, USER_ID: 1 }), undefined],
    [json({ CHAT_ID: 1, USER_ID: 1 }), 'Bearer wrong-key'],
    [json({ CHAT_ID: 1, USER_ID: 1 }), `Bearer wrong-key-${SECRET_MARK}`],
    [json({ CHAT_ID: 1, USER_ID: 1 }), `Bearer ${API_KEY}`],
  ] as [GeneratedRequest, string | undefined][],
  async check(stacks: Stacks, request: GeneratedRequest, authorization: string | undefined): Promise<void> {
    const { emulator } = stacks.keyed;
    const before = emulator.stats.calls;
    const answer = await viaGateway(
      stacks,
      stacks.keyed,
      request,
      'property 4',
      authorization === undefined ? {} : { authorization },
    );
    const pair = [answer.status, answer.body?.error];
    if (authorization === `Bearer ${API_KEY}`) {
      expect(pair, show(request)).not.toEqual([401, 'GATEWAY_AUTH_INVALID']);
      expect(pair, show(request)).not.toEqual([401, 'GATEWAY_AUTH_REQUIRED']);
      return;
    }
    expect(pair, `${show(request)} with Authorization ${JSON.stringify(authorization)}`).toEqual([
      401,
      authorization === undefined ? 'GATEWAY_AUTH_REQUIRED' : 'GATEWAY_AUTH_INVALID',
    ]);
    expectDocumentedAnswer(answer, `${show(request)} with Authorization ${JSON.stringify(authorization)}`);
    expect(emulator.stats.calls, 'an unauthenticated request reached Bitrix24').toBe(before);
  },
};
