// The order in which a request body is judged, so that the answer is the one Bitrix24 would give first:
// Bitrix24's own checks (its codes), then the spec's schema (the gateway's codes), of several problems the
// one of the parameter Bitrix24 reads first. Generic: every fact of the method comes from the spec (through
// MethodOperation) or from the method's module.
import type { z } from 'zod';
import { isSet, type PhpParams, phpFormParams, upperCaseKeys } from '../bitrix24-semantics';
import { gatewayError, type Rejection } from '../error-matrix';
import { show } from '../operations/explain';
import type { BodyFacts, GatewayMode, MethodOperation, ParameterFacts } from './operations';
import type { Verdict } from './schema-check';

export type BodyKind = 'json' | 'form';

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
  operation: MethodOperation,
  kind: BodyKind,
  raw: unknown,
  parsed: Verdict,
  mode: GatewayMode,
  { entries: sent, repeatedKey }: AsSent = {},
): Rejection | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return gatewayError(
      'INVALID_BODY',
      `The body must be a JSON object of the method's parameters, got ${typeName(raw)}`,
    );
  }
  const { method, body } = operation;
  const record = raw as Record<string, unknown>;
  const asSent = kind === 'form' ? phpFormParams(sent ?? formEntries(record)) : record;
  const php = method.upperCasesKeys ? upperCaseKeys(asSent) : asSent;

  // Bitrix24's REST layer authenticates before the method reads any parameter (and before it upper-cases keys).
  const token = prepared(body).token;
  if (mode === 'oauth' && token && !isSet(asSent, token.name)) {
    return gatewayError('NO_AUTH_FOUND', `Wrong authorization data: send the Bitrix24 access token in "${token.name}"`);
  }
  const verdict = method.check(php);
  if (verdict.outcome === 'rejected')
    return bitrix24Error(operation, verdict.code, method.explain(verdict.code, php, record));

  const problems = parsed.success ? [] : parameterProblems(operation, parsed.issues, record, kind);
  problems.push(...modeProblems(body, record, mode), ...conditionProblems(body, record));
  if (repeatedKey !== undefined) problems.push(repeatedProblem(body, repeatedKey));
  // Only the answer is built: the first problem of the lowest rank (as a stable sort would put first).
  let first: Problem | undefined;
  for (const problem of problems) if (first === undefined || problem.rank < first.rank) first = problem;
  return first?.rejection();
}

/** One of Bitrix24's codes, with its own text and, after it, what the caller sent that caused it. */
function bitrix24Error(operation: MethodOperation, code: string, why: string): Rejection {
  const text = operation.bitrix24Texts.get(code);
  if (text === undefined) throw new Error(`${operation.operationId} does not document ${code} from Bitrix24`);
  return gatewayError(code as never, `${text}: ${why}`);
}

/** A problem found, and how to word it: built only for the one problem answered. */
interface Problem {
  rank: number;
  rejection: () => Rejection;
}

/** Where a parameter stands in Bitrix24's reading order; unknown keys come after every parameter. */
function rankOf(body: BodyFacts, key: string): number {
  const at = body.readingOrder.indexOf(key);
  return at < 0 ? body.readingOrder.length : at;
}

function parameterProblems(
  operation: MethodOperation,
  issues: z.core.$ZodIssue[],
  record: Record<string, unknown>,
  kind: BodyKind,
): Problem[] {
  const { body } = operation;
  const problems: Problem[] = [];
  // Parameters that an unknown key stands for (below): their own absence is not a second problem.
  const lookalikes: string[] = [];
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    for (const key of issue.keys) {
      const meant = meantParameter(body, key);
      const rejection = () => unknownParameter(operation, key);
      // A key Bitrix24 would read as a parameter (`chat_id` to a method that upper-cases keys) is the
      // problem with that parameter: it ranks before the parameter's own absence.
      if (meant && operation.method.upperCasesKeys && meant.toUpperCase() === key.toUpperCase()) {
        // Once each: the list is read for every other issue, and a parameter has many lookalikes (`Chat_id`, …).
        if (!lookalikes.includes(meant)) lookalikes.push(meant);
        problems.push({ rank: rankOf(body, meant) - 0.5, rejection });
      } else problems.push({ rank: body.readingOrder.length, rejection });
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    const name = issue.path[0];
    const parameter = typeof name === 'string' ? body.parameters.get(name) : undefined;
    if (!parameter) {
      problems.push({ rank: body.readingOrder.length, rejection: () => gatewayError('INVALID_BODY', issue.message) });
    } else if (!lookalikes.includes(parameter.name) || own(record, parameter.name) !== undefined) {
      problems.push({
        rank: rankOf(body, parameter.name),
        rejection: () => invalidParameter(operation, parameter, own(record, parameter.name), kind),
      });
    }
  }
  return problems;
}

function repeatedProblem(body: BodyFacts, key: string): Problem {
  const named = body.parameters.has(key) ? key : show(key);
  return {
    rank: rankOf(body, key),
    rejection: () => gatewayError('INVALID_PARAMETER', `${named} is given more than once; give it once`),
  };
}

const otherModeWords: Record<GatewayMode, string> = {
  webhook: 'this gateway calls Bitrix24 through its own webhook',
  oauth: "this gateway calls Bitrix24 with each caller's own access token",
  application: "this gateway is the bot's application and calls Bitrix24 with the portal's own access token",
};

/** A parameter given in a mode it does not exist in (`x-upstream-modes`). */
function modeProblems(body: BodyFacts, record: Record<string, unknown>, mode: GatewayMode): Problem[] {
  return prepared(body).modeBound.flatMap((parameter): Problem[] => {
    if (parameter.upstreamModes?.[mode] || own(record, parameter.name) === undefined) return [];
    const rejection = () =>
      gatewayError('INVALID_PARAMETER', `${parameter.name} is not accepted: ${otherModeWords[mode]}`);
    return [{ rank: rankOf(body, parameter.name), rejection }];
  });
}

/** A parameter required or refused by another's value (`x-conditions`), judged once the schema passed. */
function conditionProblems(body: BodyFacts, record: Record<string, unknown>): Problem[] {
  return body.conditions.flatMap((condition): Problem[] => {
    const [[key, value]] = Object.entries(condition.if) as [[string, unknown]];
    if (own(record, key) !== value) return [];
    const when = `with ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    const missing = (condition.required ?? []).filter((name) => own(record, name) === undefined);
    const refused = (condition.refused ?? []).filter((name) => own(record, name) !== undefined);
    return [
      ...missing.map((name) => ({
        rank: rankOf(body, name),
        rejection: () => gatewayError('INVALID_PARAMETER', `${name} is required ${when}: ${condition.why}`),
      })),
      ...refused.map((name) => ({
        rank: rankOf(body, name),
        rejection: () => gatewayError('INVALID_PARAMETER', `${name} is not accepted ${when}: ${condition.why}`),
      })),
    ];
  });
}

/**
 * A parameter the schema refuses: when Bitrix24 would refuse the same value on its own, its code; when
 * Bitrix24 would coerce or ignore it, the gateway's INVALID_PARAMETER.
 */
function invalidParameter(
  operation: MethodOperation,
  parameter: ParameterFacts,
  value: unknown,
  kind: BodyKind,
): Rejection {
  const { name } = parameter;
  if (Array.isArray(value) && kind === 'form') {
    return gatewayError('INVALID_PARAMETER', `${name} is given more than once; give it once`);
  }
  if (value === undefined) {
    return gatewayError('INVALID_PARAMETER', `${name} is required: it must be ${parameter.expected}`);
  }
  const verdict = operation.method.check(alone(operation.body, name, value));
  const shown = parameter.secret ? '' : ` ${show(value)}`;
  if (verdict.outcome === 'rejected') return bitrix24Error(operation, verdict.code, `${name}${shown} is not valid`);
  const got = parameter.secret ? '' : `, got ${show(value)}`;
  const digits = kind === 'form' && parameter.integer ? ' (in a form, integers are written in decimal digits)' : '';
  return gatewayError('INVALID_PARAMETER', `${name} must be ${parameter.expected}${digits}${got}`);
}

/**
 * The spec's example request with `name` set to `value` (and, when `name` is one of an `x-required-any-of`
 * group, no other of the group, which would decide instead): what Bitrix24 answers says whether `value`
 * alone is its error.
 */
function alone(body: BodyFacts, name: string, value: unknown): PhpParams {
  const example = body.requiredAnyOf.includes(name) ? prepared(body).exampleWithoutGroup : body.example;
  return { ...example, [name]: value };
}

/** What every judgement of a body reads, worked out from its facts once. */
interface Prepared {
  /** The parameter that carries Bitrix24's OAuth access token, if any. */
  token: ParameterFacts | undefined;
  /** The example without the parameters of its `x-required-any-of` group. */
  exampleWithoutGroup: PhpParams;
  /** The parameters that exist in some upstream modes only (`x-upstream-modes`). */
  modeBound: ParameterFacts[];
}

const preparations = new WeakMap<BodyFacts, Prepared>();

function prepared(body: BodyFacts): Prepared {
  let facts = preparations.get(body);
  if (facts === undefined) {
    const parameters = [...body.parameters.values()];
    facts = {
      token: parameters.find((parameter) => parameter.accessToken),
      exampleWithoutGroup: Object.fromEntries(
        Object.entries(body.example).filter(([key]) => !body.requiredAnyOf.includes(key)),
      ),
      modeBound: parameters.filter((parameter) => parameter.upstreamModes !== undefined),
    };
    preparations.set(body, facts);
  }
  return facts;
}

function meantParameter(body: BodyFacts, key: string): string | undefined {
  const lower = key.toLowerCase();
  return body.readingOrder.find((p) => p.toLowerCase() === lower || `${p}[]` === key);
}

function unknownParameter(operation: MethodOperation, key: string): Rejection {
  const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  const meant = meantParameter(operation.body, key);
  const hint = !meant
    ? `the method takes ${operation.body.readingOrder.join(', ')}`
    : meant.toLowerCase() !== key.toLowerCase()
      ? `${meant} takes one value, not a list`
      : operation.method.upperCasesKeys
        ? `parameter names are exact and upper-case here (did you mean "${meant}"? Bitrix24 would read it as that, this gateway takes the exact name only)`
        : `parameter names are case-sensitive (did you mean "${meant}"?)`;
  return gatewayError('UNKNOWN_PARAMETER', `Unknown parameter ${JSON.stringify(name)}: ${hint}`);
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

/** A parameter as sent: own properties only, never one inherited through a prototype. */
const own = (record: Record<string, unknown>, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
