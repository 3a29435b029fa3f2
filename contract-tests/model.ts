// A small model of the spec, written from openapi.yaml and independent of the gateway's code: which
// requests the spec accepts, and what the gateway must then send to Bitrix24 (the documented priority
// USER_ID → QUEUE_ID → TRANSFER_ID, ids as integers, LEAVE always present, CLIENT_ID the caller's or the
// configured one). The rules of structure (encodings, priority, what counts as given) are written out
// here; the string formats (patterns and lengths) are read from the spec, so that they follow it.
import { findOperation } from '../src/error-matrix';
import { flatten, resolve, type SchemaObject, spec } from '../src/spec';
import { type GeneratedRequest, ID_MAX } from './arbitraries';

/** The parameters the gateway must forward for an accepted request. */
export interface Forwarded {
  CHAT_ID: number;
  LEAVE: 'Y' | 'N';
  USER_ID?: number;
  QUEUE_ID?: number;
  CLIENT_ID: string;
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
  return (value) =>
    typeof value === 'string' && value.length >= min && value.length <= max && (pattern?.test(value) ?? true);
}

const requestProperties = resolve<SchemaObject>(spec.components.schemas.TransferRequest!).properties!;
const isClientId = stringRule(flatten(requestProperties.CLIENT_ID!));

interface Parameter {
  name: string;
  in: string;
  schema: SchemaObject;
}
const parametersOf = (operationId: string) =>
  ((findOperation(operationId).parameters ?? []) as unknown[]).map((parameter) =>
    resolve<Parameter>(parameter as Parameter),
  );
/** The query string: only the operation's query parameters, each once. */
const queryRules = new Map(
  parametersOf('transferSession')
    .filter((p) => p.in === 'query')
    .map((p) => [p.name, stringRule(flatten(p.schema))]),
);
/** The webhook-style path's segments. */
const hookRules = new Map(
  parametersOf('transferSessionHookPath')
    .filter((p) => p.in === 'path')
    .map((p) => [p.name, stringRule(flatten(p.schema))]),
);

// TransferRequest's properties; `auth` is refused in webhook mode, which is where this model applies.
const defined = new Set(['CHAT_ID', 'USER_ID', 'QUEUE_ID', 'TRANSFER_ID', 'LEAVE', 'CLIENT_ID']);

/** Why the spec refuses the request's URL, if it does (a gateway with no API keys, anonymous callers allowed). */
function urlProblem(target: string): string | undefined {
  const at = target.indexOf('?');
  const path = at < 0 ? target : target.slice(0, at);
  const entries = at < 0 ? [] : [...new URLSearchParams(target.slice(at + 1))];
  const hook = /^\/rest\/([^/]*)\/([^/]*)\/imopenlines\.bot\.session\.transfer$/.exec(path);
  if (hook) {
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
 * What the spec says of `request` to a gateway in webhook mode whose configured CLIENT_ID is
 * `defaultClientId`, with no API keys and anonymous callers allowed.
 */
export function documentedOutcome(request: GeneratedRequest, defaultClientId: string): Documented {
  const url = urlProblem(request.path);
  if (url) return reject(url);
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
    params = new Map(Object.entries(value));
    form = false;
  } else if (mediaType === 'application/x-www-form-urlencoded') {
    const entries = [...new URLSearchParams(request.body)];
    params = new Map(entries);
    if (params.size !== entries.length) return reject('a form key given more than once');
    form = true;
  } else {
    return reject(`Content-Type ${mediaType}`);
  }

  for (const key of params.keys())
    if (!defined.has(key)) return reject(`key ${JSON.stringify(key)} is not a parameter`);
  // An Id: an integer in 1..2147483647; in a form, its plain decimal digits.
  const isId = (value: unknown) =>
    form
      ? typeof value === 'string' && /^[1-9][0-9]*$/.test(value) && Number(value) <= ID_MAX
      : typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= ID_MAX;
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
      CLIENT_ID: (clientId as string | undefined) ?? defaultClientId,
    },
  };
}
