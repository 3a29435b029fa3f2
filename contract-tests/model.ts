// A small model of the spec, written from openapi.yaml and independent of the gateway's code: which
// requests the spec accepts, and what the gateway must then send to Bitrix24. For the transfer: the
// documented priority USER_ID → QUEUE_ID → TRANSFER_ID, ids as integers, LEAVE always present, CLIENT_ID
// the caller's or the configured one. For its siblings: the parameters as given, ids as integers (decoded
// from a form's digits), and, for the finish, the configured CLIENT_ID when the request leaves it out
// (`x-default-setting`). The rules of structure (encodings, priority, what counts as given, how a
// condition reads) are written out here; the facts (which parameters, which are required, their string
// formats, enums and bounds, the siblings' x-conditions and defaults) are read from the spec, so that
// they follow it.
import { findOperation } from '../src/error-matrix';
import { flatten, type Operation, type Ref, resolve, type SchemaObject, spec } from '../src/spec';
import {
  FINISH,
  type GeneratedRequest,
  ID_MAX,
  MESSAGE_SEND,
  type MethodName,
  methodOfPath,
  OPERATOR,
  TRANSFER,
} from './arbitraries';

/** The parameters the gateway must forward for an accepted request. */
export type Forwarded = Record<string, unknown>;

/** The gateway's configuration, as far as the spec makes answers depend on it. */
export interface ModelSettings {
  /** The configured BITRIX24_CLIENT_ID (webhook mode). */
  defaultClientId: string;
  /** BODY_LIMIT_BYTES: a larger body is 413 BODY_TOO_LARGE. */
  bodyLimitBytes: number;
}

export type Documented =
  | { accepted: true; forwarded: Forwarded }
  /** `why` is for the reader of a failure; the property does not compare it with the gateway's text. */
  | { accepted: false; why: string };

const reject = (why: string): Documented => ({ accepted: false, why });

/** A string schema of the spec (its pattern, minLength and maxLength) as a predicate. */
function stringRule(schema: SchemaObject): (value: unknown) => boolean {
  const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern) : undefined;
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY;
  // JSON Schema counts a string's length in characters (code points), not in UTF-16 units: "😀" is 1.
  const lengthOf = (value: string) => [...value].length;
  return (value) =>
    typeof value === 'string' && lengthOf(value) >= min && lengthOf(value) <= max && (pattern?.test(value) ?? true);
}

const requestProperties = resolve<SchemaObject>(spec.components.schemas.TransferRequest!).properties!;
const isClientId = stringRule(flatten(requestProperties.CLIENT_ID!));
/** An Id: an integer in 1..2147483647; in a form, its plain decimal digits. */
const idRule = (form: boolean) => (value: unknown) =>
  form
    ? typeof value === 'string' && /^[1-9][0-9]*$/.test(value) && Number(value) <= ID_MAX
    : typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= ID_MAX;

interface Parameter {
  name: string;
  in: string;
  schema: SchemaObject;
}
const parametersOf = (operationId: string) =>
  ((findOperation(operationId).parameters ?? []) as unknown[]).map((parameter) =>
    resolve<Parameter>(parameter as Parameter),
  );
/** Each method's operations: at its plain path, and at its webhook-style path. */
const operationIds: Record<MethodName, { plain: string; hook: string }> = {
  [TRANSFER]: { plain: 'transferSession', hook: 'transferSessionHookPath' },
  [OPERATOR]: { plain: 'operatorSession', hook: 'operatorSessionHookPath' },
  [MESSAGE_SEND]: { plain: 'sendSessionMessage', hook: 'sendSessionMessageHookPath' },
  [FINISH]: { plain: 'finishSession', hook: 'finishSessionHookPath' },
};
const rulesOf = (operationId: string, where: string) =>
  new Map(
    parametersOf(operationId)
      .filter((p) => p.in === where)
      .map((p) => [p.name, stringRule(flatten(p.schema))]),
  );

/** The request schema of a method's operations (the same for its JSON and form bodies). */
function requestSchemaOf(method: MethodName): SchemaObject {
  const operation: Operation = findOperation(operationIds[method].plain);
  const body = resolve<{ content: Record<string, { schema: SchemaObject | Ref }> }>(operation.requestBody as Ref);
  return resolve<SchemaObject>(body.content['application/json']!.schema);
}

/** Why the spec refuses the request's URL, if it does (a gateway with no API keys, anonymous callers allowed). */
function urlProblem(method: MethodName, target: string): string | undefined {
  const at = target.indexOf('?');
  const path = at < 0 ? target : target.slice(0, at);
  const entries = at < 0 ? [] : [...new URLSearchParams(target.slice(at + 1))];
  const queryRules = rulesOf(operationIds[method].plain, 'query');
  const hook = /^\/rest\/([^/]*)\/([^/]*)\/[a-z.]+$/.exec(path);
  if (hook) {
    const hookRules = rulesOf(operationIds[method].hook, 'path');
    if (!hookRules.get('userId')!(decodeURIComponent(hook[1]!))) return 'the user id in the path is not one';
    if (!hookRules.get('secret')!(decodeURIComponent(hook[2]!))) return 'the key in the path is not one';
  }
  for (const [name, value] of entries) {
    const rule = queryRules.get(name);
    if (!rule) return `query parameter ${JSON.stringify(name)} is not one`;
    if (!rule(value)) return `query parameter ${name} does not match its schema`;
  }
  if (new Set(entries.map(([name]) => name)).size !== entries.length) return 'a query parameter given more than once';
  return undefined;
}

/**
 * What the spec says of `request` to a gateway in webhook mode configured with `settings`, with no API keys
 * and anonymous callers allowed. The method is the one the request's path names.
 */
export function documentedOutcome(request: GeneratedRequest, settings: ModelSettings): Documented {
  const method = methodOfPath(request.path);
  const url = urlProblem(method, request.path);
  if (url) return reject(url);
  if (Buffer.byteLength(request.body) > settings.bodyLimitBytes) return reject('a body over BODY_LIMIT_BYTES');
  const mediaType = request.contentType.split(';')[0]!.trim().toLowerCase();
  let params: Map<string, unknown>;
  let form: boolean;
  if (mediaType === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(request.body);
    } catch {
      return reject('not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject('not a JSON object');
    if (holdsLoneSurrogate(value)) return reject('a string with a lone surrogate, which no UTF-8 can carry');
    params = new Map(Object.entries(value));
    form = false;
  } else if (mediaType === 'application/x-www-form-urlencoded') {
    if (!formIsUtf8(request.body)) return reject('a form name or value that is not UTF-8 once percent-decoded');
    const entries = [...new URLSearchParams(request.body)];
    params = new Map(entries);
    if (params.size !== entries.length) return reject('a form key given more than once');
    form = true;
  } else {
    return reject(`Content-Type ${mediaType}`);
  }
  return method === TRANSFER ? transferOutcome(params, form, settings) : siblingOutcome(method, params, form, settings);
}

// TransferRequest's properties; `auth` is refused in webhook mode, which is where this model applies.
const defined = new Set(['CHAT_ID', 'USER_ID', 'QUEUE_ID', 'TRANSFER_ID', 'LEAVE', 'CLIENT_ID']);

function transferOutcome(params: Map<string, unknown>, form: boolean, settings: ModelSettings): Documented {
  for (const key of params.keys())
    if (!defined.has(key)) return reject(`key ${JSON.stringify(key)} is not a parameter`);
  const isId = idRule(form);
  // A TransferId: an Id, or a string of an Id's digits, optionally after "queue".
  const isTransferId = (value: unknown) =>
    (!form && isId(value)) ||
    (typeof value === 'string' && /^(queue)?[1-9][0-9]*$/.test(value) && Number(value.replace(/^queue/, '')) <= ID_MAX);

  const chatId = params.get('CHAT_ID');
  const userId = params.get('USER_ID');
  const queueId = params.get('QUEUE_ID');
  const transferId = params.get('TRANSFER_ID');
  const leave = params.get('LEAVE');
  const clientId = params.get('CLIENT_ID');
  if (!params.has('CHAT_ID') || !isId(chatId)) return reject('CHAT_ID is not an Id');
  if (params.has('USER_ID') && !isId(userId)) return reject('USER_ID is not an Id');
  if (params.has('QUEUE_ID') && !isId(queueId)) return reject('QUEUE_ID is not an Id');
  if (params.has('TRANSFER_ID') && !isTransferId(transferId)) return reject('TRANSFER_ID is not a TransferId');
  if (params.has('LEAVE') && leave !== 'Y' && leave !== 'N') return reject('LEAVE is not Y or N');
  if (params.has('CLIENT_ID') && !isClientId(clientId)) return reject('CLIENT_ID does not match its schema');

  // The documented priority, USER_ID → QUEUE_ID → TRANSFER_ID.
  let destination: { USER_ID: number } | { QUEUE_ID: number };
  if (params.has('USER_ID')) destination = { USER_ID: Number(userId) };
  else if (params.has('QUEUE_ID')) destination = { QUEUE_ID: Number(queueId) };
  else if (params.has('TRANSFER_ID')) {
    const text = String(transferId);
    destination = text.startsWith('queue')
      ? { QUEUE_ID: Number(text.slice('queue'.length)) }
      : { USER_ID: Number(text) };
  } else return reject('no destination');

  return {
    accepted: true,
    forwarded: {
      CHAT_ID: Number(chatId),
      LEAVE: (leave as 'Y' | 'N' | undefined) ?? 'N',
      ...destination,
      CLIENT_ID: (clientId as string | undefined) ?? settings.defaultClientId,
    },
  };
}

/** A sibling's property, as its schema says: what a valid value is, and how it is forwarded. */
interface PropertyRule {
  valid: (value: unknown, form: boolean) => boolean;
  /** An integer property: forwarded as a number (a form's digits decoded). */
  integer: boolean;
  /** The gateway's setting that fills it in webhook mode when left out (`x-default-setting`). */
  defaultSetting?: string;
}

/** A property schema of the spec as a rule: an integer (an Id), an enum of strings, or a string format. */
function propertyRule(node: SchemaObject | Ref): PropertyRule {
  const schema = flatten(node);
  const defaultSetting = typeof schema['x-default-setting'] === 'string' ? schema['x-default-setting'] : undefined;
  if (schema.type === 'integer') {
    const min = schema.minimum as number;
    const max = schema.maximum as number;
    if (min !== 1 || max !== ID_MAX) throw new Error(`an integer of ${min}..${max}: the model knows only Ids`);
    return { valid: (value, form) => idRule(form)(value), integer: true, defaultSetting };
  }
  if (schema.type !== 'string') throw new Error(`a property of type ${String(schema.type)}: the model knows none`);
  const format = stringRule(schema);
  const values = Array.isArray(schema.enum) ? (schema.enum as unknown[]) : undefined;
  return {
    // In a form every value is text; in JSON a string property takes only a JSON string.
    valid: (value) => format(value) && (values?.includes(value) ?? true),
    integer: false,
    defaultSetting,
  };
}

interface Condition {
  if: Record<string, unknown>;
  required?: string[];
  refused?: string[];
}

/** A sibling's request schema, read once per method. */
const siblingSchemas = new Map<
  MethodName,
  { properties: Map<string, PropertyRule>; required: string[]; conditions: Condition[] }
>();
function siblingSchema(method: MethodName) {
  const known = siblingSchemas.get(method);
  if (known) return known;
  const schema = requestSchemaOf(method);
  const properties = new Map(
    Object.entries(schema.properties ?? {})
      // A property that exists only in other modes (`auth`, OAuth only) is refused in webhook mode.
      .filter(([, node]) => {
        const modes = flatten(node)['x-upstream-modes'] as Record<string, unknown> | undefined;
        return modes === undefined || Object.hasOwn(modes, 'webhook');
      })
      .map(([name, node]): [string, PropertyRule] => [name, propertyRule(node)]),
  );
  const read = {
    properties,
    required: (schema.required ?? []) as string[],
    conditions: (schema['x-conditions'] ?? []) as Condition[],
  };
  siblingSchemas.set(method, read);
  return read;
}

/** The settings a parameter's `x-default-setting` names, as the model's settings hold them. */
const settingValue = (setting: string, settings: ModelSettings) => {
  if (setting === 'BITRIX24_CLIENT_ID') return settings.defaultClientId;
  throw new Error(`the model has no value for the setting ${setting}`);
};

/** The operator, message.send and finish: every parameter valid, the conditions met, forwarded as given. */
function siblingOutcome(
  method: MethodName,
  params: Map<string, unknown>,
  form: boolean,
  settings: ModelSettings,
): Documented {
  const { properties, required, conditions } = siblingSchema(method);
  for (const key of params.keys())
    if (!properties.has(key)) return reject(`key ${JSON.stringify(key)} is not a parameter`);
  for (const name of required) if (!params.has(name)) return reject(`${name} is required`);
  for (const [name, value] of params)
    if (!properties.get(name)!.valid(value, form)) return reject(`${name} does not match its schema`);
  for (const condition of conditions) {
    const applies = Object.entries(condition.if).every(([name, value]) => params.get(name) === value);
    if (!applies) continue;
    for (const name of condition.required ?? [])
      if (!params.has(name)) return reject(`${name} is required with ${JSON.stringify(condition.if)}`);
    for (const name of condition.refused ?? [])
      if (params.has(name)) return reject(`${name} is refused with ${JSON.stringify(condition.if)}`);
  }
  const forwarded: Forwarded = {};
  for (const [name, rule] of properties) {
    if (params.has(name)) forwarded[name] = rule.integer ? Number(params.get(name)) : params.get(name);
    else if (rule.defaultSetting) forwarded[name] = settingValue(rule.defaultSetting, settings);
  }
  return { accepted: true, forwarded };
}

/** Whether a parsed JSON value has a string (a key or a value) with half a surrogate pair in it. */
function holdsLoneSurrogate(value: unknown): boolean {
  // With the u flag, a surrogate matches only when it is not half of a pair.
  const lone = /[\uD800-\uDFFF]/u;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string' && lone.test(item)) return true;
    if (typeof item !== 'object' || item === null) continue;
    for (const [key, inner] of Object.entries(item)) {
      if (lone.test(key)) return true;
      pending.push(inner);
    }
  }
  return false;
}

/** Whether each run of %XX escapes of a form decodes as UTF-8 (decodeURIComponent throws where it does not). */
function formIsUtf8(body: string): boolean {
  for (const run of body.match(/(?:%[0-9A-Fa-f]{2})+/g) ?? []) {
    try {
      decodeURIComponent(run);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Why the spec refuses the body as text, at the step of its syntax and so before Bitrix24's own checks:
 * a JSON string or key with a lone surrogate, a form's escapes that are not UTF-8. Undefined otherwise.
 */
export function textProblem(request: GeneratedRequest): string | undefined {
  const mediaType = request.contentType.split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded')
    return formIsUtf8(request.body) ? undefined : 'a form escape that is not UTF-8';
  if (mediaType !== 'application/json') return undefined;
  try {
    return holdsLoneSurrogate(JSON.parse(request.body)) ? 'a lone surrogate in a JSON string' : undefined;
  } catch {
    return undefined;
  }
}
