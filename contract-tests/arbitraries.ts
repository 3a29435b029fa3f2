// Generators of requests to the four session methods: valid, invalid and mixed, as JSON and as forms. A
// generated request is the exact bytes sent, so the same request can go to the gateway and, for comparison,
// straight to the emulator (Bitrix24's semantics). What is shared (ids, texts, odd JSON values, keys,
// encodings, URLs) is written once; each method adds only its parameters' domains (`domains` below), and
// `arbitrariesFor` builds the same families of requests from any of them.
import { randomBytes } from 'node:crypto';
import { fc } from '@fast-check/vitest';
import { phpInt } from '../src/bitrix24-semantics';
import { testValuesFor } from '../src/emulator';
import { bitrix24Methods } from '../src/operations';

export const ID_MAX = 2_147_483_647;

export const TRANSFER = 'imopenlines.bot.session.transfer';
export const OPERATOR = 'imopenlines.bot.session.operator';
export const MESSAGE_SEND = 'imopenlines.bot.session.message.send';
export const FINISH = 'imopenlines.bot.session.finish';
export const METHODS = [TRANSFER, OPERATOR, MESSAGE_SEND, FINISH] as const;
export type MethodName = (typeof METHODS)[number];

/** A method's two plain paths: Bitrix24's, and with its optional .json suffix. */
export const pathsOf = (method: MethodName) => [`/rest/${method}`, `/rest/${method}.json`] as const;
export const TRANSFER_PATHS = pathsOf(TRANSFER);

/** The method a generated request's path names (plain, .json or webhook-style, with a query or not). */
export function methodOfPath(target: string): MethodName {
  const path = target.split('?')[0]!;
  const name = /\/(imopenlines\.bot\.session\.[a-z.]+?)(?:\.json)?$/.exec(path)?.[1];
  const method = METHODS.find((known) => known === name);
  if (!method) throw new Error(`${target} names none of ${METHODS.join(', ')}`);
  return method;
}

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

// The emulator's test values (CHAT_ID 4001 to 5904, of every method) make it answer upstream errors, or
// hang for a minute; every id generated here stays outside that range, and so does anything PHP's (int)
// makes of a generated CHAT_ID ("12abc" is 12, 12.5 is 12, a non-empty array is 1). Properties that mean
// to use a test value say so.
const sentinels = new Set(bitrix24Methods.flatMap((method) => [...testValuesFor(method).keys()]));
const testValues = [...sentinels];
const lowestTestValue = Math.min(...testValues);
const highestTestValue = Math.max(...testValues);
/** Is `chatId`, as PHP's (int) reads it, one of the emulator's test values (of any method)? */
export const isTestValue = (chatId: unknown): boolean => sentinels.has(phpInt(chatId));
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
/**
 * This run's secret mark: 20 random hex digits drawn when the file loads, behind a fixed prefix. Every
 * secret the generators put where a secret goes (CLIENT_ID, `auth`, a key in Authorization or in the path)
 * carries it, and nothing else does: no generator can produce it, so a log line that holds it holds a
 * secret, never a chance match (ordinary words drawn as secrets, "constructor" say, were found inside
 * other logged fields, such as a request id "nconstructor").
 */
export const SECRET_MARK = `S3cr3t${randomBytes(10).toString('hex')}`;
/** Does `value` carry this run's secret mark? */
export const isMarkedSecret = (value: unknown): value is string =>
  typeof value === 'string' && value.includes(SECRET_MARK);
/**
 * Strings a caller might paste where a secret goes, every one carrying SECRET_MARK: valid as a CLIENT_ID
 * and as a key, too long, with a space or other scripts, so that a leak on any path shows.
 */
export const secretLooking = fc.oneof(
  fc.constantFrom(
    `sk_live_${SECRET_MARK}`,
    `eyJhbGciOiJIUzI1NiJ9.${SECRET_MARK}.c2lnbmF0dXJl`,
    `Bearer ${SECRET_MARK}`,
    `p4ssw0rd!${SECRET_MARK}`,
    `бот-${SECRET_MARK}`,
    `${SECRET_MARK}${'x'.repeat(1_024)}`,
  ),
  fc.stringMatching(/^[\x21-\x7E]{0,12}$/).map((tail) => `${SECRET_MARK}${tail}`),
);
const leaveText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Y', 'N') },
  { weight: 2, arbitrary: fc.constantFrom('y', 'n', 'yes', 'no', 'true', 'false', '1', '0', '', ' Y', 'Y ', 'YES') },
);
/** CLIENT_ID-looking text without a secret: the shapes that matter to validation. */
const plainClientIdText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('my.bot', 'emulator.bot', 'bot_42', 'a') },
  { weight: 2, arbitrary: offTestValues(fc.stringMatching(/^[\x21-\x7E]{1,24}$/)) },
  { weight: 1, arbitrary: fc.constantFrom('', 'my bot', 'бот', 'tab\tbot', 'x'.repeat(255), 'x'.repeat(256)) },
);
/** A CLIENT_ID: sometimes a secret (only in CLIENT_ID itself: other parameters take the plain ones). */
const clientIdText = fc.oneof({ weight: 7, arbitrary: plainClientIdText }, { weight: 2, arbitrary: secretLooking });
const anyText = fc.oneof(
  numericText,
  junkText,
  queueText,
  leaveText,
  plainClientIdText,
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

/** An id parameter's value: mostly plausible, sometimes anything. */
const idValue = fc.oneof(
  { weight: 6, arbitrary: validId },
  { weight: 2, arbitrary: nonPositiveId },
  { weight: 1, arbitrary: validId.map(String) },
  { weight: 3, arbitrary: anyJsonValue },
);
/** An id parameter's value in a form. */
const idText = fc.oneof(
  { weight: 6, arbitrary: validId.map(String) },
  { weight: 4, arbitrary: fc.oneof(numericText, junkText, anyText) },
);
const authValue = fc.oneof(secretLooking, fc.constantFrom<unknown>('', 'token', 42, null));
const authText = fc.oneof(secretLooking, fc.constantFrom('', 'token'));
const clientIdValue = fc.oneof({ weight: 4, arbitrary: clientIdText }, { weight: 1, arbitrary: anyJsonValue });
const clientIdFormText = fc.oneof({ weight: 4, arbitrary: clientIdText }, { weight: 1, arbitrary: anyText });
/** A valid CLIENT_ID, half of them secrets: "0" is refused, since Bitrix24 would read it as none. */
const validClientId = fc.oneof(
  fc.stringMatching(/^[\x21-\x7E]{1,32}$/).filter((id) => id !== '0'),
  fc.stringMatching(/^[\x21-\x7E]{0,12}$/).map((tail) => `${SECRET_MARK}${tail}`),
);
/** Present mostly, absent now and then. */
const usually = fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
/** Absent mostly, present now and then. */
const rarely = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const often = fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

/** MESSAGE-looking text: Bitrix24 sends nothing for an empty, blank or "0" one; long ones stay ASCII. */
const messageText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'Hello',
      'An operator will answer you in a minute.',
      '[b]Hi[/b]',
      'Привет',
      '👋 hi',
      'a',
    ),
  },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '0',
      '00',
      ' 0',
      '0 ',
      '\t\n\r',
      '\u0000',
      '\u000B',
      '\u00A0',
      '[BR]',
      ' x ',
      'x'.repeat(20_000),
      'x'.repeat(20_001),
      `${' '.repeat(19_999)}x`,
      // 20000 and 20001 characters, each one UTF-16 unit longer: the limit counts characters.
      `${'x'.repeat(19_999)}😀`,
      `${'x'.repeat(20_000)}😀`,
    ),
  },
  // Lone surrogates: JSON carries them as `\ud800` escapes (refused: no UTF-8 holds them); a form's
  // encoder writes U+FFFD for them, which is text like any other.
  { weight: 1, arbitrary: fc.constantFrom('hi \ud800', '\udfff', '\udc00\ud800', 'a\ud83db') },
);
/** NAME-looking text: the two names, their near misses. */
const nameText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('WELCOME', 'DEFAULT') },
  { weight: 2, arbitrary: fc.constantFrom('welcome', 'Default', 'HELLO', '', ' DEFAULT', 'WELCOME ', '0') },
);

/**
 * What one method adds: its parameters (in the order a request usually gives them, `auth` last), each
 * one's values as JSON and as form text, which of them a request carries, and a valid request built by
 * construction (values as JSON types the spec allows), so that valid requests are common in the runs.
 */
export interface ParameterDomain {
  method: MethodName;
  parameters: readonly string[];
  json: Record<string, fc.Arbitrary<unknown>>;
  form: Record<string, fc.Arbitrary<string>>;
  keySet: fc.Arbitrary<Record<string, boolean>>;
  valid: fc.Arbitrary<Record<string, unknown>>;
}

/** Builds a valid request's parameters: CHAT_ID first or last, the rest as drawn. */
const withChatId = (rest: fc.Arbitrary<Record<string, unknown>>) =>
  fc
    .tuple(validId, rest, fc.boolean())
    .map(([CHAT_ID, others, chatFirst]) => (chatFirst ? { CHAT_ID, ...others } : { ...others, CHAT_ID }));

const transferId = fc.oneof(
  validId,
  validId.map(String),
  validId.map((id) => `queue${id}`),
);
const transferDomain: ParameterDomain = {
  method: TRANSFER,
  parameters: ['CHAT_ID', 'USER_ID', 'QUEUE_ID', 'TRANSFER_ID', 'LEAVE', 'CLIENT_ID', 'auth'],
  json: {
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
    CLIENT_ID: clientIdValue,
    auth: authValue,
  },
  form: {
    CHAT_ID: idText,
    USER_ID: idText,
    QUEUE_ID: idText,
    TRANSFER_ID: fc.oneof(
      { weight: 3, arbitrary: validId.map(String) },
      { weight: 3, arbitrary: queueText },
      { weight: 3, arbitrary: fc.oneof(numericText, junkText, anyText) },
    ),
    LEAVE: fc.oneof({ weight: 3, arbitrary: leaveText }, { weight: 1, arbitrary: anyText }),
    CLIENT_ID: clientIdFormText,
    auth: authText,
  },
  keySet: fc.record({
    CHAT_ID: usually,
    USER_ID: fc.boolean(),
    QUEUE_ID: often,
    TRANSFER_ID: often,
    LEAVE: fc.boolean(),
    CLIENT_ID: often,
    auth: rarely,
  }),
  valid: withChatId(
    fc
      .tuple(
        fc.oneof(
          fc.record({ USER_ID: validId }),
          fc.record({ QUEUE_ID: validId }),
          fc.record({ TRANSFER_ID: transferId }),
          fc.record({ USER_ID: validId, QUEUE_ID: validId, TRANSFER_ID: transferId }, { requiredKeys: [] }),
        ),
        fc.record({ LEAVE: fc.constantFrom('Y', 'N'), CLIENT_ID: validClientId }, { requiredKeys: [] }),
      )
      .map(([destination, optional]) => ({ ...destination, ...optional })),
  ),
};

const operatorDomain: ParameterDomain = {
  method: OPERATOR,
  parameters: ['CHAT_ID', 'auth'],
  json: { CHAT_ID: idValue, auth: authValue },
  form: { CHAT_ID: idText, auth: authText },
  keySet: fc.record({ CHAT_ID: usually, auth: rarely }),
  valid: withChatId(fc.constant({})),
};

/** A MESSAGE the spec takes: a character other than blanks, not "0" alone, 1 to 20000 characters. */
const validMessage = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.string({ maxLength: 20 }),
        fc.constantFrom('a', 'Я', '👋', '[BR]x', '0 1', '.', '\u00A0'),
        fc.string({ maxLength: 20 }),
      )
      .map((parts) => parts.join('')),
  },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(20_000), `${'\n'.repeat(19_999)}x`, '00', ' 0') },
);
const messageSendDomain: ParameterDomain = {
  method: MESSAGE_SEND,
  parameters: ['CHAT_ID', 'NAME', 'MESSAGE', 'auth'],
  json: {
    CHAT_ID: idValue,
    NAME: fc.oneof({ weight: 6, arbitrary: nameText }, { weight: 1, arbitrary: anyJsonValue }),
    MESSAGE: fc.oneof({ weight: 6, arbitrary: messageText }, { weight: 1, arbitrary: anyJsonValue }),
    auth: authValue,
  },
  form: {
    CHAT_ID: idText,
    NAME: fc.oneof({ weight: 6, arbitrary: nameText }, { weight: 1, arbitrary: anyText }),
    MESSAGE: fc.oneof({ weight: 6, arbitrary: messageText }, { weight: 1, arbitrary: anyText }),
    auth: authText,
  },
  keySet: fc.record({ CHAT_ID: usually, NAME: usually, MESSAGE: fc.boolean(), auth: rarely }),
  valid: withChatId(
    fc.oneof(
      fc.constant({ NAME: 'WELCOME' }),
      validMessage.map((MESSAGE) => ({ NAME: 'DEFAULT', MESSAGE })),
    ),
  ),
};

const finishDomain: ParameterDomain = {
  method: FINISH,
  parameters: ['CHAT_ID', 'CLIENT_ID', 'auth'],
  json: { CHAT_ID: idValue, CLIENT_ID: clientIdValue, auth: authValue },
  form: { CHAT_ID: idText, CLIENT_ID: clientIdFormText, auth: authText },
  keySet: fc.record({ CHAT_ID: usually, CLIENT_ID: fc.boolean(), auth: rarely }),
  valid: withChatId(fc.record({ CLIENT_ID: validClientId }, { requiredKeys: [] })),
};

export const domains: Record<MethodName, ParameterDomain> = {
  [TRANSFER]: transferDomain,
  [OPERATOR]: operatorDomain,
  [MESSAGE_SEND]: messageSendDomain,
  [FINISH]: finishDomain,
};

/** Every parameter of any method: a key another method defines is an unknown key to this one. */
const allParameters = [...new Set(Object.values(domains).flatMap((domain) => domain.parameters))];

/**
 * Keys the method does not define: its parameters' names in other cases and with blanks (the siblings'
 * Bitrix24 upper-cases keys, so `chat_id` is CHAT_ID to it), other methods' parameters, unknown ones.
 */
function extraKeyOf(parameters: readonly string[]): fc.Arbitrary<string> {
  const own = new Set(parameters);
  const respelt = parameters.flatMap((name) => [
    name.toLowerCase(),
    name.toUpperCase(),
    name.charAt(0) + name.slice(1).toLowerCase(),
    name.toLowerCase().replace(/(^|_)([a-z])/g, (_all, start: string, letter: string) => start + letter.toUpperCase()),
    `${name} `,
    ` ${name}`,
  ]);
  const unknown = new Set([...respelt, ...allParameters].filter((key) => !own.has(key)));
  return fc.oneof(
    fc.constantFrom(...unknown),
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
    fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/).filter((key) => !own.has(key)),
  );
}

/** A parameter's name as a caller with another habit spells it: lower case, or capitalised. */
const respell = (name: string, how: number) =>
  how === 0 ? name.toLowerCase() : name.charAt(0) + name.slice(1).toLowerCase();

/** Every family of requests, for one method. */
export interface MethodArbitraries {
  method: MethodName;
  paths: readonly [string, string];
  /** A JSON object of parameters: the method's keys with arbitrary values, and sometimes extra keys. */
  jsonParameters: fc.Arbitrary<Record<string, unknown>>;
  /** Form entries: the usual parameters, then sometimes extra entries (repeated keys, `KEY[]`, unknown). */
  formEntries: fc.Arbitrary<[string, string][]>;
  /** A request whose body is a JSON object or a form: the domain of the method's parameters. */
  parameterRequest: fc.Arbitrary<GeneratedRequest>;
  /** Any request: JSON or form (and, rarely, another content type). */
  anyRequest: fc.Arbitrary<GeneratedRequest>;
  /** A valid request, as a JSON object of parameters. */
  validParameters: fc.Arbitrary<Record<string, unknown>>;
  /** A valid request, in either encoding. */
  validRequest: fc.Arbitrary<GeneratedRequest>;
  /** Mostly arbitrary requests, with valid ones mixed in so that both outcomes are exercised. */
  mixedRequest: fc.Arbitrary<GeneratedRequest>;
  /** `requests` at another URL now and then: the webhook-style path, a query string, or both. */
  anyUrl(requests: fc.Arbitrary<GeneratedRequest>): fc.Arbitrary<GeneratedRequest>;
  json(params: unknown, path?: string): GeneratedRequest;
  form(entries: [string, string][] | string, path?: string): GeneratedRequest;
}

const path = (method: MethodName) => fc.constantFrom(...pathsOf(method));
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

export const formBodyOf = (entries: [string, string][]) => new URLSearchParams(entries).toString();

const cache = new Map<MethodName, MethodArbitraries>();

/** The generators of `method`'s requests, built from its domain by the rules every method shares. */
export function arbitrariesFor(method: MethodName): MethodArbitraries {
  const known = cache.get(method);
  if (known) return known;
  const domain = domains[method];
  const { parameters } = domain;
  const own = (keys: Record<string, boolean>) => parameters.filter((key) => keys[key]);
  const extraKey = extraKeyOf(parameters);
  const paths = pathsOf(method);

  // Now and then one of the method's own keys is sent in another case (`chat_id`), in place of its own.
  const respelling = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat(1)) },
  );
  const respelt = <T>(entries: [string, T][], how: [number, number] | undefined): [string, T][] => {
    if (!how || entries.length === 0) return entries;
    const at = how[0] % entries.length;
    return entries.map(([key, value], i): [string, T] => [i === at ? respell(key, how[1]) : key, value]);
  };

  const jsonParameters: fc.Arbitrary<Record<string, unknown>> = fc
    .tuple(
      domain.keySet,
      fc.record(domain.json),
      fc.oneof(
        { weight: 4, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: fc.array(fc.tuple(extraKey, anyJsonValue), { minLength: 1, maxLength: 2 }) },
      ),
      fc.boolean(),
      respelling,
    )
    .map(([keys, values, extras, extrasFirst, how]) => {
      const entries = respelt(
        own(keys).map((key) => [key, values[key]] as [string, unknown]),
        how,
      );
      return Object.fromEntries(extrasFirst ? [...extras, ...entries] : [...entries, ...extras]);
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
    { weight: 8, arbitrary: fc.constantFrom(...parameters.filter((p) => p !== 'auth')) },
    { weight: 1, arbitrary: fc.constantFrom(...parameters).map((p) => `${p}[]`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...parameters.flatMap((p) => [`${p}[0]`, `${p}[id]`, `${p}[][]`])),
    },
    { weight: 1, arbitrary: extraKey },
    { weight: 1, arbitrary: fc.constant('auth') },
  );

  const formEntries: fc.Arbitrary<[string, string][]> = fc
    .tuple(
      domain.keySet,
      fc.record(domain.form),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        {
          weight: 1,
          arbitrary: fc.array(
            formKey.chain((key) => {
              const base = key.replace(/\[.*$/, '');
              const value = parameters.includes(base) ? domain.form[base]! : anyText;
              return value.map((v): [string, string] => [key, v]);
            }),
            { minLength: 1, maxLength: 3 },
          ),
        },
      ),
      fc.nat(),
      respelling,
    )
    .map(([keys, values, extras, at, how]) => {
      const entries = respelt(
        own(keys).map((key): [string, string] => [key, values[key]!]),
        how,
      );
      const cut = entries.length === 0 ? 0 : at % (entries.length + 1);
      return [...entries.slice(0, cut), ...extras, ...entries.slice(cut)];
    });

  const jsonRequest = (body: fc.Arbitrary<string>) =>
    fc.record({ path: path(method), encoding: fc.constant<Encoding>('json'), contentType: jsonType, body });
  const formRequest = (body: fc.Arbitrary<string>) =>
    fc.record({ path: path(method), encoding: fc.constant<Encoding>('form'), contentType: formType, body });

  const parameterRequest = fc.oneof(
    jsonRequest(jsonParameters.map((p) => JSON.stringify(p))),
    formRequest(formEntries.map(formBodyOf)),
  );
  const anyRequest: fc.Arbitrary<GeneratedRequest> = fc.oneof(
    { weight: 10, arbitrary: jsonRequest(jsonBody) },
    { weight: 10, arbitrary: formRequest(formEntries.map(formBodyOf)) },
    {
      weight: 1,
      arbitrary: fc.record({
        path: path(method),
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
  const validParameters = domain.valid;
  const validRequest = fc.oneof(
    jsonRequest(validParameters.map((p) => JSON.stringify(p))),
    formRequest(validParameters.map((p) => formBodyOf(Object.entries(p).map(([key, value]) => [key, String(value)])))),
  );
  const mixedRequest = fc.oneof({ weight: 3, arbitrary: anyRequest }, { weight: 1, arbitrary: validRequest });

  const arbitraries: MethodArbitraries = {
    method,
    paths,
    jsonParameters,
    formEntries,
    parameterRequest,
    anyRequest,
    validParameters,
    validRequest,
    mixedRequest,
    anyUrl: (requests) => atAnyUrl(method, requests),
    json: (params, at = paths[0]) => ({
      path: at,
      encoding: 'json',
      contentType: 'application/json',
      body: typeof params === 'string' ? params : JSON.stringify(params),
    }),
    form: (entries, at = paths[0]) => ({
      path: at,
      encoding: 'form',
      contentType: 'application/x-www-form-urlencoded',
      body: typeof entries === 'string' ? entries : formBodyOf(entries),
    }),
  };
  cache.set(method, arbitraries);
  return arbitraries;
}

// The URL: the webhook-style path that Bitrix24 SDKs build (`/rest/{userId}/{secret}/method`, the secret
// being the caller's gateway key), and the query string, which takes only @bitrix24/b24jssdk's bookkeeping.
const userIdSegment = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 99_999 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('9999999999', '0', '01', '-1', 'abc', '12345678901') },
);
/** The key in a webhook-style path: mostly a secret of the spec's shape, sometimes one of another. */
const secretSegment = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{0,14}$/).map((tail) => `${SECRET_MARK}${tail}`) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{16,40}$/).filter((secret) => !/^\.+$/.test(secret)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'short',
      'fifteen-chars-x',
      'x'.repeat(257),
      `${SECRET_MARK}${'x'.repeat(231)}`,
      `${SECRET_MARK}!`,
      `has%20a-space-${SECRET_MARK}`,
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

function atAnyUrl(method: MethodName, requests: fc.Arbitrary<GeneratedRequest>): fc.Arbitrary<GeneratedRequest> {
  return fc
    .tuple(
      requests,
      fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.tuple(userIdSegment, secretSegment) },
      ),
      fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: queryString }),
    )
    .map(([request, hook, query]) => {
      const path = hook ? `/rest/${hook[0]}/${hook[1]}/${method}` : request.path;
      return { ...request, path: query === undefined ? path : `${path}?${query}` };
    });
}

// The transfer's generators under the names they had before the siblings came (the transfer is the
// method with the most rules; other files and examples name these).
const transferArbitraries = arbitrariesFor(TRANSFER);
export const {
  jsonParameters,
  formEntries,
  parameterRequest,
  anyRequest,
  validParameters,
  validRequest,
  mixedRequest,
  anyUrl,
  json,
  form,
} = transferArbitraries;
