import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The package's root folder (the one with package.json), found from this module's own place, so that the
 * same code finds its files from the sources (src/spec/) and from the build (dist/main.js).
 */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`);
  }
}

/** The hand-written OpenAPI document: the single source of truth of the gateway's API. */
export const specPath = join(packageRoot(), 'openapi', 'openapi.yaml');

/** The document as written, byte for byte (what the served one is derived from). */
export const specYaml: string = readFileSync(specPath, 'utf8');

/**
 * The parsed document, as written (YAML anchors resolved). The build (`npm run build`) writes it as JSON
 * beside dist/main.js with the YAML's hash, since parsing the YAML costs a fifth of a start; the JSON is used
 * only while the hash matches the YAML, so an edited spec is never served with a stale document.
 */
export const spec: OpenApiDocument = loadSpec(specYaml, builtJson(dirname(fileURLToPath(import.meta.url))));

/**
 * Where the build wrote the parsed document: beside this code, which the bundle puts in dist/ or, when a
 * lazily loaded capability (application mode) shares it, in a chunk of dist/chunks/.
 */
function builtJson(here: string): string {
  const beside = join(here, 'openapi.json');
  const above = join(here, '..', 'openapi.json');
  return !existsSync(beside) && here.endsWith(join('dist', 'chunks')) ? above : beside;
}

/** The document from its built JSON when that was built from `yaml`, else parsed from `yaml`. */
export function loadSpec(yaml: string, builtPath: string): OpenApiDocument {
  if (existsSync(builtPath)) {
    const built = JSON.parse(readFileSync(builtPath, 'utf8')) as { sha256?: string; document?: OpenApiDocument };
    if (built.sha256 === yamlHash(yaml) && built.document) return built.document;
  }
  return parse(yaml) as OpenApiDocument;
}

/** The hash the built JSON carries of the YAML it was made from (a declaration: `spec` above calls it). */
export function yamlHash(yaml: string): string {
  return createHash('sha256').update(yaml).digest('hex');
}

// Only the parts of OpenAPI 3.0 that the project reads itself; generated/ has the typed API.
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, SchemaObject>;
    responses: Record<string, ResponseObject>;
    requestBodies: Record<string, unknown>;
  };
  [key: string]: unknown;
}

export interface Operation {
  operationId: string;
  responses: Record<string, ResponseObject | Ref>;
  requestBody?: unknown;
  'x-excluded-errors'?: { code: string; status: number; reason: string }[];
  [key: string]: unknown;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: SchemaObject | Ref; examples?: Record<string, { value: unknown }> }>;
}

export interface SchemaObject {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, SchemaObject | Ref>;
  [key: string]: unknown;
}

export interface Ref {
  $ref: string;
}

/** Follows a local `$ref` (`#/components/...`) to its target, or returns the object itself. */
export function resolve<T>(node: T | Ref, doc: OpenApiDocument = spec): T {
  if (node && typeof node === 'object' && '$ref' in node) {
    const target = node.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], doc);
    if (target === undefined) throw new Error(`Unresolvable $ref ${node.$ref}`);
    return resolve(target as T | Ref, doc);
  }
  return node as T;
}

/** Every operation of the document, with its path and HTTP method. */
export function operations(doc: OpenApiDocument = spec): { path: string; method: string; operation: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );
}

/**
 * A schema with its `$ref` followed and its `allOf` members merged into it (the schema's own keywords win):
 * what a property of the form `allOf: [$ref: Id]` plus a description says, in one object.
 */
export function flatten(node: SchemaObject | Ref, doc: OpenApiDocument = spec): SchemaObject {
  const schema = resolve<SchemaObject>(node, doc);
  const { allOf, ...own } = schema as SchemaObject & { allOf?: (SchemaObject | Ref)[] };
  if (!Array.isArray(allOf)) return schema;
  return Object.assign({}, ...allOf.map((member) => flatten(member, doc)), own) as SchemaObject;
}

/** An `x-expected` text with its `{minLength}`-style placeholders filled from the schema's own keywords. */
export function expectedText(schema: SchemaObject): string | undefined {
  const text = schema['x-expected'];
  if (typeof text !== 'string') return undefined;
  return text.replace(/\{(\w+)\}/g, (_placeholder, keyword: string) => {
    const value = schema[keyword];
    if (value === undefined) throw new Error(`x-expected "${text}" names ${keyword}, which its schema lacks`);
    return String(value);
  });
}
