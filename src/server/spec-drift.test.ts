// The routes and the spec cannot drift apart: the OpenAPI document @hono/zod-openapi derives from the
// routes must say what the hand-written spec says, once both are reduced to what validation uses.
import { describe, expect, it } from 'vitest';
import { applicationRoutes } from '../application/routes';
import { createLogger } from '../logger';
import { spec } from '../spec';
import { gatewayApp } from './app';

// The routes of each mode (webhook and OAuth serve the same paths; application mode its own).
const documentOf = (mode: 'webhook' | 'application') =>
  gatewayApp({
    config: { apiKeys: new Map(), allowAnonymous: true, bodyLimitBytes: 1024 },
    mode,
    callUpstream: () => Promise.reject(new Error('not called')),
    logger: createLogger('silent'),
    ...(mode === 'application' && {
      application: {
        portalAccess: () => (_c, next) => next(),
        routes: (authenticate) =>
          applicationRoutes({
            authenticate,
            portalsOf: () => Promise.reject(new Error('not called')),
            operatorPortals: () => Promise.reject(new Error('not called')),
            handleEvent: () => Promise.reject(new Error('not called')),
            isShuttingDown: () => false,
          }),
      },
    }),
  }).getOpenAPIDocument({ openapi: '3.0.3', info: { title: 'derived', version: '0' } }) as unknown as Doc;
const [webhook, application] = [documentOf('webhook'), documentOf('application')];
// Every path is one mode's or the other's; the components of both.
const derived: Doc = {
  ...application,
  paths: { ...webhook.paths, ...application.paths },
  components: {
    schemas: {
      ...(webhook as { components?: { schemas?: object } }).components?.schemas,
      ...(application as { components?: { schemas?: object } }).components?.schemas,
    },
  },
} as Doc;

type Doc = { paths: Record<string, Record<string, Record<string, unknown>>> };
type Json = unknown;

// Prose, examples and generator hints carry no rule a request or response is checked by.
const prose = new Set([
  'description',
  'summary',
  'example',
  'examples',
  'format',
  'default',
  'title',
  'tags',
  'headers',
]);

/** Resolves every $ref, drops prose, and writes equivalent forms one way. */
function reduce(node: Json, doc: Json): Json {
  if (Array.isArray(node)) return node.map((item) => reduce(item, doc));
  if (!node || typeof node !== 'object') return node;
  const object = node as Record<string, Json>;
  if (typeof object.$ref === 'string') {
    const target = object.$ref
      .slice(2)
      .split('/')
      .reduce<Json>((at, key) => (at as Record<string, Json>)[key], doc);
    return reduce(target, doc);
  }
  // `allOf: [X]` with only prose beside it is X.
  if (
    Array.isArray(object.allOf) &&
    object.allOf.length === 1 &&
    Object.keys(object).every((k) => k === 'allOf' || prose.has(k) || k.startsWith('x-'))
  ) {
    return reduce(object.allOf[0], doc);
  }
  // An object's `allOf` beside its own keys is an `allOf` of its entries and those keys (zod's intersection).
  const own = Object.keys(object).filter((k) => k !== 'allOf' && !prose.has(k) && !k.startsWith('x-'));
  if (Array.isArray(object.allOf) && own.length > 0) {
    const { allOf, ...rest } = object;
    return reduce({ allOf: [...allOf, rest] }, doc);
  }
  // hey-api's zod keeps no `additionalProperties` schema beside `properties` (it strips other keys); the
  // event handler (application/events/read.ts), which reads the form itself, checks them.
  if (object.properties && object.additionalProperties && typeof object.additionalProperties === 'object') {
    const { additionalProperties: _dropped, ...rest } = object;
    return reduce(rest, doc);
  }
  const reduced: Record<string, Json> = {};
  for (const [key, value] of Object.entries(object)) {
    if (prose.has(key) || key.startsWith('x-')) continue;
    // The integer and string branches of TRANSFER_ID cannot both match, so oneOf and anyOf agree.
    reduced[key === 'oneOf' ? 'anyOf' : key] = reduce(value, doc);
    // Any value at all (zod's record of unknown) is what `additionalProperties: true` allows.
    if (key === 'additionalProperties' && JSON.stringify(reduced[key]) === '{"nullable":true}') reduced[key] = true;
  }
  return reduced;
}

const operationsOf = (doc: Doc) =>
  Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();

describe('the routes and the spec', () => {
  it('have the same operations', () => {
    expect(operationsOf(derived)).toEqual(operationsOf(spec as unknown as Doc));
  });

  describe.each(operationsOf(spec as unknown as Doc))('%s', (name) => {
    const [method, path] = name.split(' ') as [string, string];
    const handWritten = reduce(spec.paths[path]![method.toLowerCase()], spec) as Record<string, Json>;
    const fromRoutes = reduce(derived.paths[path]?.[method.toLowerCase()], derived) as Record<string, Json>;

    it('has the same operationId and security', () => {
      expect([fromRoutes.operationId, fromRoutes.security ?? (spec as unknown as { security: Json }).security]).toEqual(
        [handWritten.operationId, handWritten.security ?? (spec as unknown as { security: Json }).security],
      );
    });

    it('validates the same request body', () => {
      // The one known difference: the routes declare the body optional, because @hono/zod-openapi runs every
      // media type's validator on every request of a route whose body is required (a form would be judged as
      // an empty JSON object). The body is required all the same: a request without one is 400
      // CHAT_ID_EMPTY (src/operations/transfer/transfer.test.ts), as the spec says.
      const withoutRequired = (body: Json) =>
        body && typeof body === 'object' ? { ...body, required: undefined } : body;
      expect(withoutRequired(fromRoutes.requestBody)).toEqual(withoutRequired(handWritten.requestBody));
      if (handWritten.requestBody) expect((handWritten.requestBody as { required?: boolean }).required).toBe(true);
    });

    it('validates the same path, query and header parameters', () => {
      const byName = (parameters: Json) =>
        ((parameters as { in: string; name: string; required?: boolean }[] | undefined) ?? [])
          // Header names are case-insensitive; Hono reads them in lower case, so the routes declare them so.
          .map((parameter) => ({
            required: false,
            ...parameter,
            name: parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name,
          }))
          .sort((a, b) => `${a.in}:${a.name}`.localeCompare(`${b.in}:${b.name}`));
      expect(byName(fromRoutes.parameters)).toEqual(byName(handWritten.parameters));
    });

    it('documents the same statuses, media types and response schemas', () => {
      expect(fromRoutes.responses).toEqual(handWritten.responses);
    });
  });
});
