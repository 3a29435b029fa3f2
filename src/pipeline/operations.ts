// The spec's operations that call Bitrix24, read once: the pipeline builds every route from these and types
// none of their facts again. An operation names its Bitrix24 method in `x-bitrix24-method`; the method's
// own code (src/operations/) is found by that name.
import { z } from 'zod';
import * as generated from '../../generated/zod.gen';
import { specMatrix } from '../error-matrix';
import { methodNamed } from '../operations';
import type { Bitrix24Method } from '../operations/method';
import {
  expectedText,
  flatten,
  type OpenApiDocument,
  type Operation,
  operations,
  type Ref,
  type ResponseObject,
  resolve,
  type SchemaObject,
  spec,
} from '../spec';
import type { UpstreamMode } from '../upstream';

/**
 * How the gateway reaches Bitrix24, as the spec's `x-upstream-modes` names it: with its own webhook (and
 * the embedded emulator), with each caller's OAuth token, or as the application holding every portal's.
 */
export type GatewayMode = UpstreamMode | 'application';

/** One parameter of a method's body, as the spec describes it. */
export interface ParameterFacts {
  name: string;
  required: boolean;
  /** Never echoed in an error, and redacted from Bitrix24's answers (`x-secret`). */
  secret: boolean;
  /** Bitrix24's OAuth access token: checked before any other parameter (`x-bitrix24-access-token`). */
  accessToken: boolean;
  /** The modes in which the parameter exists (`x-upstream-modes`); absent, all. */
  upstreamModes?: Partial<Record<GatewayMode, 'required' | 'optional'>>;
  /** The setting that fills it in webhook mode when a request leaves it out (`x-default-setting`). */
  defaultSetting?: string;
  /** The spec's `default`, forwarded when the request leaves the parameter out. */
  default?: unknown;
  /** Takes integers (a form writes them in decimal digits). */
  integer: boolean;
  /** What a valid value is, in words, read from the schema. */
  expected: string;
}

/** When one parameter has a value, another must be given, or must not be (`x-conditions`). */
export interface Condition {
  if: Record<string, unknown>;
  required?: string[];
  refused?: string[];
  why: string;
}

export interface BodyFacts {
  mediaTypes: string[];
  /** The parameters in the order Bitrix24 reads them (`x-reading-order`): of several problems, the first answers. */
  readingOrder: string[];
  parameters: Map<string, ParameterFacts>;
  /** At least one of these (`x-required-any-of`). */
  requiredAnyOf: string[];
  conditions: Condition[];
  /** The body of the spec's first example: a request Bitrix24 accepts. */
  example: Record<string, unknown>;
}

/** A path parameter or query parameter, with what a valid value is. */
export interface UrlParameter {
  name: string;
  secret: boolean;
  expected: string;
  /** The modes in which only a caller with an API key may send it (`x-needs-api-key-in-modes`). */
  needsApiKeyIn?: GatewayMode[];
}

export interface MethodOperation {
  operationId: string;
  /** The OpenAPI path template. */
  path: string;
  /** The modes the operation is served in (`x-upstream-modes`); absent, all. */
  modes?: GatewayMode[];
  /** The path parameter that names the portal (application mode), if any. */
  portalInPath?: string;
  method: Bitrix24Method;
  tags: string[];
  /** The operation's security requirements: its own (a webhook-style path: `[]`), or the document's. */
  security: Record<string, string[]>[];
  /** The path parameter that carries the caller's API key (a webhook-style path), if any. */
  keyInPath?: string;
  body: BodyFacts;
  query: UrlParameter[];
  pathParameters: UrlParameter[];
  /** Header parameters (`Idempotency-Key`), by their names in lower case, as HTTP compares them. */
  headers: UrlParameter[];
  schemas: {
    body: z.ZodObject;
    query: z.ZodObject;
    path?: z.ZodObject;
    /** The header parameters' schema, keyed in lower case (Hono reads header names so). */
    headers?: z.ZodObject;
    result: z.ZodType;
    errors: Map<number, z.ZodObject>;
  };
  /** Every code the operation documents, and those Bitrix24 may answer (any other from upstream is off-contract). */
  codes: Set<string>;
  upstreamCodes: Set<string>;
  /** Bitrix24's text of each code it answers (the examples' `error_description`). */
  bitrix24Texts: Map<string, string>;
  /** Bitrix24's codes whose answer means it did not execute the call (`x-not-executed`): its key is freed. */
  notExecuted: Set<string>;
}

/** Every operation of the spec that names a Bitrix24 method, with that method's module. */
export function methodOperations(doc: OpenApiDocument = spec): MethodOperation[] {
  return operations(doc)
    .filter(({ operation }) => typeof operation['x-bitrix24-method'] === 'string')
    .map(({ path, operation }) => methodOperation(path, operation, doc));
}

function methodOperation(path: string, operation: Operation, doc: OpenApiDocument): MethodOperation {
  const { operationId } = operation;
  const name = operation['x-bitrix24-method'] as string;
  const method = methodNamed(name);
  if (!method) throw new Error(`${operationId}: no module in src/operations/ for ${name}`);
  const parameters = ((operation.parameters ?? []) as (Ref | UrlParameterObject)[]).map((p) =>
    resolve<UrlParameterObject>(p, doc),
  );
  const urlParameter = (p: UrlParameterObject): UrlParameter => {
    const schema = flatten(p.schema, doc);
    const needsApiKeyIn = p['x-needs-api-key-in-modes'];
    return {
      name: p.name,
      secret: schema['x-secret'] === true,
      expected: expectedText(schema) ?? 'valid',
      ...(needsApiKeyIn && { needsApiKeyIn }),
    };
  };
  const keyInPath = parameters.find((p) => p.in === 'path' && isRef(p.schema, '#/components/schemas/ApiKey'));
  // The portal's parameter is the spec's `Portal` (application mode): its name as the spec gives it.
  const portalAt = ((operation.parameters ?? []) as Ref[]).findIndex((p) => isRef(p, '#/components/parameters/Portal'));
  const portalInPath = portalAt < 0 ? undefined : parameters[portalAt]!.name;
  const modes = operation['x-upstream-modes'] as GatewayMode[] | undefined;
  const matrix = specMatrix(operationId, doc);
  const pascal = operationId[0]!.toUpperCase() + operationId.slice(1);
  return {
    operationId,
    path,
    method,
    tags: (operation.tags as string[] | undefined) ?? [],
    security: (operation.security ?? doc.security ?? []) as Record<string, string[]>[],
    ...(keyInPath && { keyInPath: keyInPath.name }),
    ...(portalInPath && { portalInPath }),
    ...(modes && { modes }),
    body: bodyFacts(operation, doc),
    query: parameters.filter((p) => p.in === 'query').map(urlParameter),
    pathParameters: parameters.filter((p) => p.in === 'path').map(urlParameter),
    headers: parameters
      .filter((p) => p.in === 'header')
      .map((p) => ({ ...urlParameter(p), name: p.name.toLowerCase() })),
    schemas: {
      body: zodNamed(`z${pascal}Body`) as z.ZodObject,
      query: zodNamed(`z${pascal}Query`) as z.ZodObject,
      ...(parameters.some((p) => p.in === 'path') && { path: zodNamed(`z${pascal}Path`) as z.ZodObject }),
      ...(parameters.some((p) => p.in === 'header') && {
        headers: lowerCaseKeys(zodNamed(`z${pascal}Headers`) as z.ZodObject),
      }),
      result: zodNamed(`z${pascal}Response`),
      errors: errorSchemas(operation, doc),
    },
    codes: new Set(matrix.map((row) => row.code)),
    upstreamCodes: new Set(matrix.filter((row) => row.source !== 'gateway').map((row) => row.code)),
    bitrix24Texts: new Map(
      matrix.flatMap((row) => {
        const text = (row.example as { error_description?: unknown } | undefined)?.error_description;
        return row.source !== 'gateway' && typeof text === 'string' ? [[row.code, text] as const] : [];
      }),
    ),
    notExecuted: new Set(matrix.filter((row) => row.notExecuted && row.source !== 'gateway').map((row) => row.code)),
  };
}

interface UrlParameterObject {
  name: string;
  in: string;
  schema: SchemaObject | Ref;
  'x-needs-api-key-in-modes'?: GatewayMode[];
}

function bodyFacts(operation: Operation, doc: OpenApiDocument): BodyFacts {
  const requestBody = resolve<{ content: Record<string, { schema: SchemaObject | Ref; examples?: object }> }>(
    operation.requestBody as Ref,
    doc,
  );
  const content = requestBody.content;
  const json = content['application/json']!;
  const schema = flatten(json.schema, doc);
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const properties = Object.entries(schema.properties ?? {});
  const parameters = new Map(
    properties.map(([name, node]) => [name, parameterFacts(name, flatten(node, doc), required.has(name), doc)]),
  );
  const firstExample = Object.values(json.examples ?? {})[0] as { value?: Record<string, unknown> } | undefined;
  return {
    mediaTypes: Object.keys(content),
    readingOrder: (schema['x-reading-order'] as string[] | undefined) ?? properties.map(([name]) => name),
    parameters,
    requiredAnyOf: (schema['x-required-any-of'] as string[] | undefined) ?? [],
    conditions: (schema['x-conditions'] as Condition[] | undefined) ?? [],
    example: firstExample?.value ?? {},
  };
}

function parameterFacts(name: string, schema: SchemaObject, required: boolean, doc: OpenApiDocument): ParameterFacts {
  const upstreamModes = schema['x-upstream-modes'] as ParameterFacts['upstreamModes'];
  const defaultSetting = schema['x-default-setting'] as string | undefined;
  return {
    name,
    required,
    secret: schema['x-secret'] === true,
    accessToken: schema['x-bitrix24-access-token'] === true,
    ...(upstreamModes && { upstreamModes }),
    ...(defaultSetting && { defaultSetting }),
    ...(schema.default !== undefined && { default: schema.default }),
    integer: takesIntegers(schema, doc),
    expected: expectedText(schema) ?? describeSchema(schema),
  };
}

function takesIntegers(schema: SchemaObject, doc: OpenApiDocument): boolean {
  if (schema.type === 'integer') return true;
  const alternatives = (schema.oneOf ?? schema.anyOf) as (SchemaObject | Ref)[] | undefined;
  return alternatives?.some((alternative) => takesIntegers(flatten(alternative, doc), doc)) ?? false;
}

/** What a schema accepts, in words, where the spec gives no `x-expected`. */
function describeSchema(schema: SchemaObject): string {
  if (schema.type === 'integer') return `an integer from ${schema.minimum} to ${schema.maximum}`;
  if (Array.isArray(schema.enum)) return `${schema.enum.map((value) => JSON.stringify(value)).join(' or ')} exactly`;
  if (schema.type === 'string') return `a string of ${schema.minLength ?? 0} to ${schema.maxLength} characters`;
  throw new Error(`a parameter's schema needs x-expected: ${JSON.stringify(schema).slice(0, 200)}`);
}

function errorSchemas(operation: Operation, doc: OpenApiDocument): Map<number, z.ZodObject> {
  return new Map(
    Object.entries(operation.responses)
      .filter(([status]) => Number(status) >= 400)
      .map(([status, ref]) => {
        const schemaRef = resolve<ResponseObject>(ref, doc).content?.['application/json']?.schema as Ref;
        return [Number(status), zodNamed(`z${schemaRef.$ref.split('/').pop()}`) as z.ZodObject];
      }),
  );
}

/** A header schema keyed as Hono reads headers; other headers of the request pass (the object is not strict). */
function lowerCaseKeys(schema: z.ZodObject): z.ZodObject {
  const shape = Object.fromEntries(Object.entries(schema.shape).map(([name, value]) => [name.toLowerCase(), value]));
  return z.object(shape);
}

function zodNamed(name: string): z.ZodType {
  const schema = (generated as Record<string, unknown>)[name];
  if (!schema) throw new Error(`generated/zod.gen.ts has no ${name}: run make generate`);
  return schema as z.ZodType;
}

function isRef(node: SchemaObject | Ref, target: string): boolean {
  return typeof (node as Ref).$ref === 'string' && (node as Ref).$ref === target;
}
