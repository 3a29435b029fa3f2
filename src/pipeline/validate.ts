import type { Context, MiddlewareHandler } from 'hono';
import { gatewayError, type Rejection } from '../error-matrix';
import { repeatedTopLevelKey } from '../json-keys';
import type { GatewayEnv } from '../request-context';
import { type AsSent, type BodyKind, judge } from './judge';
import type { GatewayMode, MethodOperation } from './operations';
import { queryParams } from './query';
import type { RequestSchemas } from './route';
import { check } from './schema-check';
import { readStrictly } from './strict-body';
import { judgeUrl } from './url';

type Refuse = (c: Context, rejection: Rejection) => Response;

/**
 * One pass over a request, in the order the spec gives: the query string, the path, the headers, then the
 * body (its bytes read strictly: src/pipeline/strict-body.ts), each judged as Bitrix24 would answer first.
 * What passes is the handler's, as `c.req.valid('json' | 'form')`.
 */
export function validate(
  operation: MethodOperation,
  schemas: RequestSchemas,
  mode: GatewayMode,
  refuse: Refuse,
): MiddlewareHandler<GatewayEnv> {
  const headerNames = schemas.headers ? Object.keys(schemas.headers.shape) : [];
  const noContentType = gatewayError(
    'UNSUPPORTED_MEDIA_TYPE',
    `A body needs a Content-Type: ${operation.body.mediaTypes.join(' or ')}`,
  );
  // Most requests carry no query string: the schema's verdict on none is the same every time.
  const noQuery = check(schemas.query, Object.create(null));
  return async (c, next) => {
    const query = c.req.url.includes('?') ? check(schemas.query, queryRecord(c)) : noQuery;
    if (!query.success) return refuse(c, judgeUrl(operation, 'query', query.issues));
    if (schemas.params) {
      const params = check(schemas.params, c.req.param());
      if (!params.success) return refuse(c, judgeUrl(operation, 'param', params.issues));
    }
    if (schemas.headers) {
      const headers = check(schemas.headers, headerRecord(c, headerNames));
      if (!headers.success) return refuse(c, judgeUrl(operation, 'header', headers.issues));
    }
    const contentType = c.req.header('content-type');
    // No body at all is the handler's to judge (no parameters, as Bitrix24 reads it); bytes without a type are not.
    if (contentType === undefined) {
      if ((await c.req.arrayBuffer()).byteLength > 0) return refuse(c, noContentType);
      await next();
      return;
    }
    const kind: BodyKind = contentType.toLowerCase().startsWith('application/json') ? 'json' : 'form';
    // A body that is not the caller's text is refused before anything of it is judged.
    const { text, problem } = await readStrictly(c, kind, operation.body);
    if (problem) return refuse(c, problem);
    const parsed = kind === 'json' ? parseJson(text) : parseForm(text);
    if (parsed === undefined) {
      return refuse(c, gatewayError('INVALID_BODY', 'The body could not be parsed: Malformed JSON in request body'));
    }
    const result = check(kind === 'json' ? schemas.json : schemas.form, parsed.value);
    const rejection =
      judge(operation, kind, result.success ? result.data : parsed.value, result, mode, parsed.asSent) ??
      (result.success ? undefined : gatewayError('INVALID_BODY', result.issues[0]?.message ?? 'Invalid body'));
    if (rejection || !result.success) return refuse(c, rejection!);
    c.req.addValidatedData(kind, result.data as object);
    // Awaited, not returned: an async function returning a promise takes two more turns of the microtask queue.
    await next();
  };
}

interface Parsed {
  value: unknown;
  asSent: AsSent;
}

function parseJson(text: string): Parsed | undefined {
  try {
    return { value: JSON.parse(text), asSent: { repeatedKey: repeatedTopLevelKey(text) } };
  } catch {
    return undefined;
  }
}

/**
 * A form as a record (a key sent more than once, or ending in `[]`, holds the list of its values), and its
 * entries in the order they were sent, which the record loses and PHP reads by.
 */
function parseForm(text: string): Parsed {
  const entries = [...new URLSearchParams(text)];
  const form: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of entries) {
    const held = form[key];
    if (Array.isArray(held)) held.push(value);
    else if (key.endsWith('[]')) form[key] = [value];
    else if (held !== undefined) form[key] = [held, value];
    else form[key] = value;
  }
  return { value: form, asSent: { entries } };
}

/**
 * The query string as a record: a name given once holds its value, a name given more often the list. Read
 * as c.req.queries() reads it, in one pass (src/pipeline/query.ts: Hono's own is quadratic on some queries).
 */
function queryRecord(c: Context): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = Object.create(null);
  for (const [name, values] of Object.entries(queryParams(c.req.url)))
    record[name] = values.length === 1 ? values[0]! : values;
  return record;
}

function headerRecord(c: Context, names: readonly string[]): Record<string, string> {
  const record: Record<string, string> = Object.create(null);
  for (const name of names) {
    const value = c.req.header(name);
    if (value !== undefined) record[name] = value;
  }
  return record;
}
