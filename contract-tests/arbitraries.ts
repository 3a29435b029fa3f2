// Generators of requests to imopenlines.bot.session.transfer: valid, invalid and mixed, as JSON and as
// forms. A generated request is the exact bytes sent, so the same request can go to the gateway and, for
// comparison, straight to the emulator (Bitrix24's semantics).
import { fc } from '@fast-check/vitest';
import { phpInt } from '../src/bitrix24-semantics';
import { testValuesFor } from '../src/emulator';
import { transfer } from '../src/operations/transfer';

export const TRANSFER_PATHS = [
  '/rest/imopenlines.bot.session.transfer',
  '/rest/imopenlines.bot.session.transfer.json',
] as const;
export const ID_MAX = 2_147_483_647;
export const PARAMETERS = ['CHAT_ID', 'USER_ID', 'QUEUE_ID', 'TRANSFER_ID', 'LEAVE', 'CLIENT_ID', 'auth'] as const;
export type Parameter = (typeof PARAMETERS)[number];

export type Encoding = 'json' | 'form' | 'other';

/** One request, as sent. */
export interface GeneratedRequest {
  /** The path, and the query string if any: one of TRANSFER_PATHS, or a webhook-style path (see `anyUrl`). */
  path: string;
  encoding: Encoding;
  /** The Content-Type header sent. */
  contentType: string;
  /** The body, byte for byte. */
  body: string;
}

// The emulator's test values (CHAT_ID 4001 to 5904) make it answer upstream errors, or hang for a
// minute; every id generated here stays outside that range, and so does anything PHP's (int) makes of a
// generated CHAT_ID ("12abc" is 12, 12.5 is 12, a non-empty array is 1). Properties that mean to use a
// test value say so.
const sentinels = testValuesFor(transfer);
const testValues = [...sentinels.keys()];
const lowestTestValue = Math.min(...testValues);
const highestTestValue = Math.max(...testValues);
/** Random text, kept off the test values: "4291" or "5904x" would be read as one. */
const offTestValues = (text: fc.Arbitrary<string>) => text.filter((value) => !sentinels.has(phpInt(value)));

/** A valid Bitrix24 id (1..2147483647) that is not one of the emulator's test values. */
export const validId = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: Math.min(999, lowestTestValue - 1) }) },
  { weight: 2, arbitrary: fc.integer({ min: highestTestValue + 1, max: ID_MAX }) },
  { weight: 1, arbitrary: fc.constantFrom(1, lowestTestValue - 1, highestTestValue + 1, ID_MAX) },
);
const nonPositiveId = fc.oneof(fc.constantFrom(0, -1, -ID_MAX - 1), fc.integer({ min: -ID_MAX - 1, max: 0 }));
const outOfRangeId = fc.constantFrom(ID_MAX + 1, 2 ** 32, 2 ** 53, 1e21);
const float = fc.oneof(
  fc
    .tuple(validId, fc.constantFrom(0.5, 0.25, 0.999))
    .map(([id, fraction]) => (id < ID_MAX ? id + fraction : fraction)),
  fc.constantFrom(0.5, -1.5, 1e-7),
);

/** Text that looks like a number to someone, in every way Bitrix24 reads differently from the spec. */
const numericText = fc.oneof(
  { weight: 3, arbitrary: validId.map(String) },
  { weight: 1, arbitrary: nonPositiveId.map(String) },
  { weight: 1, arbitrary: validId.map((id) => `0${id}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '0',
      '-0',
      '007',
      '+5',
      ' 5',
      '5 ',
      '1e3',
      '0x1A',
      '1.0',
      '1.5',
      '2147483648',
      '99999999999',
    ),
  },
);
/** Text with a numeric prefix or none: PHP's (int) reads "12abc" as 12 and "abc" as 0. */
const junkText = fc.oneof(
  validId.map((id) => `${id}abc`),
  fc.constantFrom('abc', '', ' ', 'null', 'true', 'NaN', 'Infinity', '12 34'),
);
/** TRANSFER_ID-looking text: `queue<N>` and its near misses. */
const queueText = fc.oneof(
  { weight: 3, arbitrary: validId.map((id) => `queue${id}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'queue0',
      'queue-1',
      'Queue5',
      'QUEUE5',
      'queueX',
      'queue',
      'queue007',
      'queue 5',
      'queue2147483648',
      'queue12abc',
    ),
  },
);
/** Strings a caller might paste where a secret goes: the gateway must never log them. */
export const secretLooking = fc.constantFrom(
  'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl',
  'Bearer abcdef0123456789',
  'p4ssw0rd!secret',
  '0123456789abcdef0123456789abcdef',
);
const leaveText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Y', 'N') },
  { weight: 2, arbitrary: fc.constantFrom('y', 'n', 'yes', 'no', 'true', 'false', '1', '0', '', ' Y', 'Y ', 'YES') },
);
const clientIdText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('my.bot', 'emulator.bot', 'bot_42', 'a') },
  { weight: 2, arbitrary: offTestValues(fc.stringMatching(/^[\x21-\x7E]{1,24}$/)) },
  { weight: 1, arbitrary: secretLooking },
  { weight: 1, arbitrary: fc.constantFrom('', 'my bot', 'бот', 'tab\tbot', 'x'.repeat(255), 'x'.repeat(256)) },
);
const anyText = fc.oneof(
  numericText,
  junkText,
  queueText,
  leaveText,
  clientIdText,
  offTestValues(fc.string({ maxLength: 12 })),
);

/** Any JSON value a caller might put under any key: mixed types on purpose. */
const anyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: validId },
  { weight: 1, arbitrary: nonPositiveId },
  { weight: 1, arbitrary: outOfRangeId },
  { weight: 1, arbitrary: float },
  { weight: 3, arbitrary: anyText },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constant([]),
      fc.array(fc.oneof(validId, numericText), { minLength: 1, maxLength: 2 }),
      fc.constant({}),
      fc.record({ id: validId }),
      fc.dictionary(fc.constantFrom('0', 'id', 'CHAT_ID'), fc.oneof(validId, numericText), { minKeys: 1, maxKeys: 2 }),
    ),
  },
);

/** The value of each parameter, mostly plausible for that parameter, sometimes anything. */
const idValue = fc.oneof(
  { weight: 6, arbitrary: validId },
  { weight: 2, arbitrary: nonPositiveId },
  { weight: 1, arbitrary: validId.map(String) },
  { weight: 3, arbitrary: anyJsonValue },
);
const jsonValueOf: Record<Parameter, fc.Arbitrary<unknown>> = {
  CHAT_ID: idValue,
  USER_ID: idValue,
  QUEUE_ID: idValue,
  TRANSFER_ID: fc.oneof(
    { weight: 3, arbitrary: validId },
    { weight: 2, arbitrary: validId.map(String) },
    { weight: 3, arbitrary: queueText },
    { weight: 1, arbitrary: nonPositiveId },
    { weight: 3, arbitrary: anyJsonValue },
  ),
  LEAVE: fc.oneof(
    { weight: 3, arbitrary: leaveText },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(1, 0, true, false, null, ['Y']) },
  ),
  CLIENT_ID: fc.oneof({ weight: 4, arbitrary: clientIdText }, { weight: 1, arbitrary: anyJsonValue }),
  auth: fc.oneof(secretLooking, fc.constantFrom<unknown>('', 'token', 42, null)),
};
const formValueOf: Record<Parameter, fc.Arbitrary<string>> = {
  CHAT_ID: fc.oneof(
    { weight: 6, arbitrary: validId.map(String) },
    { weight: 4, arbitrary: fc.oneof(numericText, junkText, anyText) },
  ),
  USER_ID: fc.oneof(
    { weight: 6, arbitrary: validId.map(String) },
    { weight: 4, arbitrary: fc.oneof(numericText, junkText, anyText) },
  ),
  QUEUE_ID: fc.oneof(
    { weight: 6, arbitrary: validId.map(String) },
    { weight: 4, arbitrary: fc.oneof(numericText, junkText, anyText) },
  ),
  TRANSFER_ID: fc.oneof(
    { weight: 3, arbitrary: validId.map(String) },
    { weight: 3, arbitrary: queueText },
    { weight: 3, arbitrary: fc.oneof(numericText, junkText, anyText) },
  ),
  LEAVE: fc.oneof({ weight: 3, arbitrary: leaveText }, { weight: 1, arbitrary: anyText }),
  CLIENT_ID: fc.oneof({ weight: 4, arbitrary: clientIdText }, { weight: 1, arbitrary: anyText }),
  auth: fc.oneof(secretLooking, fc.constantFrom('', 'token')),
};

/** Keys the method does not define: lower-case and near-miss names, and plain unknown ones. */
const extraKey = fc.oneof(
  fc.constantFrom(
    'chat_id',
    'Chat_Id',
    'user_id',
    'queue_id',
    'transfer_id',
    'leave',
    'Leave',
    'client_id',
    'AUTH',
    'CHAT_ID ',
    ' CHAT_ID',
  ),
  fc.constantFrom(
    'foo',
    'BOT_ID',
    'DIALOG_ID',
    'SESSION_ID',
    '',
    'constructor',
    'toString',
    '__proto__',
    'hasOwnProperty',
  ),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/).filter((key) => !(PARAMETERS as readonly string[]).includes(key)),
);

/** Which parameters a request carries: CHAT_ID usually, a destination often, the rest sometimes. */
const keySet = fc.record({
  CHAT_ID: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  USER_ID: fc.boolean(),
  QUEUE_ID: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  TRANSFER_ID: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  LEAVE: fc.boolean(),
  CLIENT_ID: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  auth: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const path = fc.constantFrom(...TRANSFER_PATHS);
const jsonType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'),
  },
);
const formType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('application/x-www-form-urlencoded; charset=UTF-8', 'APPLICATION/X-WWW-FORM-URLENCODED'),
  },
);

/** A JSON object of parameters: the method's keys with arbitrary values, and sometimes extra keys. */
export const jsonParameters: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    keySet,
    fc.record(jsonValueOf),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(fc.tuple(extraKey, anyJsonValue), { minLength: 1, maxLength: 2 }) },
    ),
    fc.boolean(),
  )
  .map(([keys, values, extras, extrasFirst]) => {
    const own = PARAMETERS.filter((key) => keys[key]).map((key) => [key, values[key]] as [string, unknown]);
    return Object.fromEntries(extrasFirst ? [...extras, ...own] : [...own, ...extras]);
  });

/** A JSON body: mostly an object of parameters, sometimes not an object, or not JSON at all. */
const jsonBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: jsonParameters.map((params) => JSON.stringify(params)) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom(
        '',
        '{',
        '{"CHAT_ID":',
        '{"CHAT_ID":1,}',
        "{'CHAT_ID':1}",
        'CHAT_ID=1&USER_ID=2',
        '[1]',
        'null',
        '"CHAT_ID"',
        '42',
        'true',
      ),
      fc.array(anyJsonValue, { maxLength: 2 }).map((list) => JSON.stringify(list)),
    ),
  },
);

/** A form entry's key: a parameter, once or repeated, as a PHP list or map, lower-cased, or unknown. */
const formKey = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PARAMETERS.filter((p) => p !== 'auth')) },
  { weight: 1, arbitrary: fc.constantFrom(...PARAMETERS).map((p) => `${p}[]`) },
  { weight: 1, arbitrary: fc.constantFrom('CHAT_ID[0]', 'TRANSFER_ID[id]', 'USER_ID[][]') },
  { weight: 1, arbitrary: extraKey },
  { weight: 1, arbitrary: fc.constant('auth') },
);

/** Form entries: the usual parameters, then sometimes extra entries (repeated keys, `KEY[]`, unknown). */
export const formEntries: fc.Arbitrary<[string, string][]> = fc
  .tuple(
    keySet,
    fc.record(formValueOf),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          formKey.chain((key) => {
            const base = key.replace(/\[.*$/, '') as Parameter;
            const value = (PARAMETERS as readonly string[]).includes(base) ? formValueOf[base] : anyText;
            return value.map((v): [string, string] => [key, v]);
          }),
          { minLength: 1, maxLength: 3 },
        ),
      },
    ),
    fc.nat(),
  )
  .map(([keys, values, extras, at]) => {
    const own = PARAMETERS.filter((key) => keys[key]).map((key): [string, string] => [key, values[key]]);
    const cut = own.length === 0 ? 0 : at % (own.length + 1);
    return [...own.slice(0, cut), ...extras, ...own.slice(cut)];
  });

export const formBodyOf = (entries: [string, string][]) => new URLSearchParams(entries).toString();

/** A request whose body is a JSON object or a form: the domain of the method's parameters. */
export const parameterRequest: fc.Arbitrary<GeneratedRequest> = fc.oneof(
  fc.record({
    path,
    encoding: fc.constant<Encoding>('json'),
    contentType: jsonType,
    body: jsonParameters.map((p) => JSON.stringify(p)),
  }),
  fc.record({
    path,
    encoding: fc.constant<Encoding>('form'),
    contentType: formType,
    body: formEntries.map(formBodyOf),
  }),
);

/** Any request: JSON or form (and, rarely, another content type). */
export const anyRequest: fc.Arbitrary<GeneratedRequest> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ path, encoding: fc.constant<Encoding>('json'), contentType: jsonType, body: jsonBody }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      path,
      encoding: fc.constant<Encoding>('form'),
      contentType: formType,
      body: formEntries.map(formBodyOf),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      path,
      encoding: fc.constant<Encoding>('other'),
      contentType: fc.constantFrom(
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/vnd.api+json',
        'application/jsonx',
        'json',
      ),
      body: fc.oneof(
        jsonParameters.map((p) => JSON.stringify(p)),
        formEntries.map(formBodyOf),
      ),
    }),
  },
);

// A request that the spec accepts, built by construction: each value drawn from the parameter's own
// domain. Used to make sure valid requests are not only possible but common in the runs.
const validDestinations = fc.oneof(
  fc.record({ USER_ID: validId }),
  fc.record({ QUEUE_ID: validId }),
  fc.record({
    TRANSFER_ID: fc.oneof(
      validId,
      validId.map(String),
      validId.map((id) => `queue${id}`),
    ),
  }),
  fc.record(
    {
      USER_ID: validId,
      QUEUE_ID: validId,
      TRANSFER_ID: fc.oneof(
        validId,
        validId.map(String),
        validId.map((id) => `queue${id}`),
      ),
    },
    { requiredKeys: [] },
  ),
);
const validOptionals = fc.record(
  // CLIENT_ID "0" is refused: Bitrix24 would read it as none.
  { LEAVE: fc.constantFrom('Y', 'N'), CLIENT_ID: fc.stringMatching(/^[\x21-\x7E]{1,32}$/).filter((id) => id !== '0') },
  { requiredKeys: [] },
);

/** A valid request, as a JSON object of parameters (values as JSON types the spec allows). */
export const validParameters: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(validId, validDestinations, validOptionals, fc.boolean())
  .map(([CHAT_ID, destination, optional, chatFirst]) =>
    chatFirst ? { CHAT_ID, ...destination, ...optional } : { ...optional, ...destination, CHAT_ID },
  );

/** A valid request, in either encoding. */
export const validRequest: fc.Arbitrary<GeneratedRequest> = fc.oneof(
  fc.record({
    path,
    encoding: fc.constant<Encoding>('json'),
    contentType: jsonType,
    body: validParameters.map((p) => JSON.stringify(p)),
  }),
  fc.record({
    path,
    encoding: fc.constant<Encoding>('form'),
    contentType: formType,
    body: validParameters.map((p) => formBodyOf(Object.entries(p).map(([key, value]) => [key, String(value)]))),
  }),
);

/** Mostly arbitrary requests, with valid ones mixed in so that both outcomes are exercised. */
export const mixedRequest: fc.Arbitrary<GeneratedRequest> = fc.oneof(
  { weight: 3, arbitrary: anyRequest },
  { weight: 1, arbitrary: validRequest },
);

// The URL: the webhook-style path that Bitrix24 SDKs build (`/rest/{userId}/{secret}/method`, the secret
// being the caller's gateway key), and the query string, which takes only @bitrix24/b24jssdk's bookkeeping.
const userIdSegment = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 99_999 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('9999999999', '0', '01', '-1', 'abc', '12345678901') },
);
const secretSegment = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{16,40}$/).filter((secret) => !/^\.+$/.test(secret)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'short',
      'fifteen-chars-x',
      'x'.repeat(257),
      'sixteen-chars-ok!',
      'has%20a-space-inside',
    ),
  },
);
const sdkQueryName = fc.constantFrom('bx24_request_id', 'bx24_sdk_ver', 'bx24_sdk_type');
const queryEntry = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(sdkQueryName, fc.stringMatching(/^[A-Za-z0-9_.-]{1,24}$/)) },
  { weight: 1, arbitrary: fc.tuple(sdkQueryName, fc.constantFrom('', 'a b', 'é', 'x'.repeat(33), 'x'.repeat(65))) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom('CHAT_ID', 'USER_ID', 'auth', 'foo', 'BX24_SDK_VER', 'bx24_request_id[]'),
      fc.constantFrom('0', '1', 'abc', ''),
    ),
  },
);
const queryString = fc
  .array(queryEntry, { minLength: 1, maxLength: 3 })
  .map((entries) => new URLSearchParams(entries).toString());

/** `request` at another URL now and then: the webhook-style path, a query string, or both. */
export const anyUrl = (requests: fc.Arbitrary<GeneratedRequest>): fc.Arbitrary<GeneratedRequest> =>
  fc
    .tuple(
      requests,
      fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.tuple(userIdSegment, secretSegment) },
      ),
      fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: queryString }),
    )
    .map(([request, hook, query]) => {
      const path = hook ? `/rest/${hook[0]}/${hook[1]}/imopenlines.bot.session.transfer` : request.path;
      return { ...request, path: query === undefined ? path : `${path}?${query}` };
    });

export const json = (params: unknown, path: string = TRANSFER_PATHS[0]): GeneratedRequest => ({
  path,
  encoding: 'json',
  contentType: 'application/json',
  body: typeof params === 'string' ? params : JSON.stringify(params),
});
export const form = (entries: [string, string][] | string, path: string = TRANSFER_PATHS[0]): GeneratedRequest => ({
  path,
  encoding: 'form',
  contentType: 'application/x-www-form-urlencoded',
  body: typeof entries === 'string' ? entries : formBodyOf(entries),
});
