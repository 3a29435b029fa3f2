// The order in which a transfer request is judged, so that the answer is the one Bitrix24 would give
// first: Bitrix24's own checks (its codes), then the spec's schema (the gateway's codes).
import type { z } from 'zod';
import { checkTransfer, isSet, type PhpParams, phpFormParams, validationMessages } from '../bitrix24-semantics';
import { type ErrorBody, type ErrorStatus, gatewayError } from '../error-matrix';
import { preview } from '../preview';
import type { UpstreamMode } from './normalise';

export type Rejection = { status: ErrorStatus; body: ErrorBody };
export type BodyKind = 'json' | 'form';

/** The parameters, in the order Bitrix24 reads them; unknown keys come after all of them. */
const parameterOrder = ['CHAT_ID', 'LEAVE', 'TRANSFER_ID', 'USER_ID', 'QUEUE_ID', 'CLIENT_ID', 'auth'] as const;
type Parameter = (typeof parameterOrder)[number];
const secretParameters = new Set<string>(['CLIENT_ID', 'auth']);

/** What the parsed body no longer shows of the body as sent. */
export interface AsSent {
  /**
   * A form's entries in the order they were sent: PHP reads them in that order, and Hono's record groups
   * them by key, which loses it (`A=1&A[]=2&A=0` is `A=0` to PHP).
   */
  entries?: Iterable<[string, string]>;
  /** A JSON body's top-level key that was sent twice (JSON.parse keeps the last, silently). */
  repeatedKey?: string;
}

/**
 * Judges a request body: `undefined` when it may go on to Bitrix24, otherwise the documented rejection.
 * `raw` is the body as parsed (JSON value, or Hono's form record); `parsed` is the spec schema's verdict.
 */
export function judge(
  kind: BodyKind,
  raw: unknown,
  parsed: z.ZodSafeParseResult<unknown>,
  mode: UpstreamMode,
  { entries: sent, repeatedKey }: AsSent = {},
): Rejection | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return gatewayError(
      'INVALID_BODY',
      `The body must be a JSON object of the method's parameters, got ${typeName(raw)}`,
    );
  }
  const record = raw as Record<string, unknown>;
  const php = kind === 'form' ? phpFormParams(sent ?? formEntries(record)) : record;

  // Bitrix24 authenticates before it reads any parameter.
  if (mode === 'oauth' && !isSet(php, 'auth')) {
    return gatewayError('NO_AUTH_FOUND', 'Wrong authorization data: send the Bitrix24 access token in "auth"');
  }
  const verdict = checkTransfer(php);
  if (verdict.outcome === 'rejected') {
    return gatewayError(
      verdict.code,
      `${validationMessages[verdict.code]}: ${explainBitrix24(verdict.code, php, record)}`,
    );
  }
  const issues = parsed.success ? [] : parsed.error.issues;
  const problems = [
    ...parameterProblems(issues, record, kind),
    ...modeProblems(record, mode),
    ...repeatedProblems(repeatedKey),
  ];
  problems.sort((a, b) => a.rank - b.rank);
  return problems[0]?.rejection;
}

interface Problem {
  rank: number;
  rejection: Rejection;
}

function parameterProblems(issues: z.core.$ZodIssue[], record: Record<string, unknown>, kind: BodyKind): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ rank: parameterOrder.length, rejection: unknownParameter(key) }));
    }
    const parameter = issue.path[0];
    if (!isParameter(parameter)) {
      return [{ rank: parameterOrder.length, rejection: gatewayError('INVALID_BODY', issue.message) }];
    }
    return [
      { rank: parameterOrder.indexOf(parameter), rejection: invalidParameter(parameter, own(record, parameter), kind) },
    ];
  });
}

function repeatedProblems(key: string | undefined): Problem[] {
  if (key === undefined) return [];
  const rank = isParameter(key) ? parameterOrder.indexOf(key) : parameterOrder.length;
  return [
    {
      rank,
      rejection: gatewayError(
        'INVALID_PARAMETER',
        `${isParameter(key) ? key : show(key)} is given more than once; give it once`,
      ),
    },
  ];
}

function modeProblems(record: Record<string, unknown>, mode: UpstreamMode): Problem[] {
  if (mode === 'oauth' || own(record, 'auth') === undefined) return [];
  const rejection = gatewayError(
    'INVALID_PARAMETER',
    'auth is not accepted: this gateway calls Bitrix24 through its own webhook',
  );
  return [{ rank: parameterOrder.indexOf('auth'), rejection }];
}

/**
 * A parameter the schema refuses: when Bitrix24 would refuse the same value on its own, its code;
 * when Bitrix24 would coerce or ignore it, the gateway's INVALID_PARAMETER.
 */
function invalidParameter(parameter: Parameter, value: unknown, kind: BodyKind): Rejection {
  if (Array.isArray(value) && kind === 'form') {
    return gatewayError('INVALID_PARAMETER', `${parameter} is given more than once; give it once`);
  }
  const alone = parameter === 'CHAT_ID' ? { CHAT_ID: value, USER_ID: 1 } : { CHAT_ID: 1, [parameter]: value };
  const verdict = ['CHAT_ID', 'USER_ID', 'QUEUE_ID', 'TRANSFER_ID'].includes(parameter)
    ? checkTransfer(alone)
    : undefined;
  if (verdict?.outcome === 'rejected') {
    return gatewayError(verdict.code, `${validationMessages[verdict.code]}: ${parameter} ${show(value)} is not valid`);
  }
  const got = secretParameters.has(parameter) ? '' : `, got ${show(value)}`;
  return gatewayError('INVALID_PARAMETER', `${parameter} must be ${expectations[parameter](kind)}${got}`);
}

const id = (kind: BodyKind) => `an integer from 1 to 2147483647${kind === 'form' ? ', written in decimal digits' : ''}`;
const expectations: Record<Parameter, (kind: BodyKind) => string> = {
  CHAT_ID: id,
  USER_ID: id,
  QUEUE_ID: id,
  TRANSFER_ID: (kind) =>
    `${id(kind).replace('an integer', 'a user id')}, its digits as a string, or "queue<N>" for queue N`,
  LEAVE: () => '"Y" or "N" exactly (Bitrix24 reads anything but "Y" as "N")',
  CLIENT_ID: () =>
    'a string of 1 to 255 printable ASCII characters without spaces, other than "0" (which Bitrix24 reads as none)',
  auth: () =>
    'a string of 1 to 1024 printable ASCII characters without spaces, other than "0" (which Bitrix24 reads as none)',
};

function unknownParameter(key: string): Rejection {
  const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  const meant = parameterOrder.find((p) => p.toLowerCase() === key.toLowerCase() || `${p}[]` === key);
  const hint = meant
    ? meant.toLowerCase() === key.toLowerCase()
      ? `parameter names are case-sensitive (did you mean "${meant}"?)`
      : `${meant} takes one value, not a list`
    : `the method takes ${parameterOrder.join(', ')}`;
  return gatewayError('UNKNOWN_PARAMETER', `Unknown parameter ${JSON.stringify(name)}: ${hint}`);
}

/** Why Bitrix24 rejects the request with `code`, naming the parameter. */
function explainBitrix24(code: string, php: PhpParams, record: Record<string, unknown>): string {
  switch (code) {
    case 'CHAT_ID_EMPTY': {
      if (isSet(php, 'CHAT_ID'))
        return `CHAT_ID ${show(own(record, 'CHAT_ID') ?? own(php, 'CHAT_ID'))} is not a positive integer`;
      const lookalike = Object.keys(record).find((key) => key !== 'CHAT_ID' && key.toLowerCase() === 'chat_id');
      return lookalike
        ? `CHAT_ID is missing (parameter names are case-sensitive; got "${lookalike}")`
        : 'CHAT_ID is missing';
    }
    case 'TRANSFER_ID_EMPTY':
      return 'give a destination: USER_ID, QUEUE_ID or TRANSFER_ID';
    case 'USER_ID_EMPTY':
    case 'QUEUE_ID_EMPTY': {
      const named = code === 'USER_ID_EMPTY' ? 'USER_ID' : 'QUEUE_ID';
      const source = isSet(php, 'TRANSFER_ID') ? 'TRANSFER_ID' : named;
      return `${source} ${show(own(record, source) ?? own(php, source))} is not ${source === 'TRANSFER_ID' ? 'a user id or "queue<N>"' : 'a positive integer'}`;
    }
    default:
      return code;
  }
}

/**
 * A form as the entries PHP would parse, when the entries as sent are not at hand: Hono's record (repeated
 * keys as lists) when the schema refused it, or the schema's output (integers already decoded) when it
 * passed. Entries of different keys lose their relative order.
 */
function formEntries(record: Record<string, unknown>): [string, string][] {
  return Object.entries(record).flatMap(([key, value]) =>
    (Array.isArray(value) ? value : [value]).map((v): [string, string] => [key, String(v)]),
  );
}

function isParameter(key: unknown): key is Parameter {
  return typeof key === 'string' && (parameterOrder as readonly string[]).includes(key);
}

const show = (value: unknown) => preview(value, 40);

/** A parameter as sent: own properties only, never one inherited through a prototype. */
const own = (record: Record<string, unknown>, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

const queryParameters = ['bx24_request_id', 'bx24_sdk_ver', 'bx24_sdk_type'];

/** A query string or webhook-style path the spec refuses. */
export function judgeUrl(target: 'query' | 'param', issues: z.core.$ZodIssue[]): Rejection {
  const issue = issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const names = issue.keys.map((key) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)).join(', ');
    return gatewayError(
      'UNKNOWN_PARAMETER',
      `The query string takes only ${queryParameters.join(', ')}; the method's parameters go in the body (got ${names})`,
    );
  }
  const name = String(issue?.path[0] ?? target);
  if (target === 'param') {
    return gatewayError(
      'INVALID_PARAMETER',
      name === 'userId'
        ? 'The user id in the URL must be a positive integer'
        : 'The key in the URL is not a valid gateway API key',
    );
  }
  return gatewayError(
    'INVALID_PARAMETER',
    `${name} must be 1 to ${name === 'bx24_request_id' ? 64 : 32} letters, digits, "_", "." or "-"`,
  );
}
