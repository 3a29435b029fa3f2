// The document a running gateway serves at /openapi.json and /openapi.yaml: the hand-written one, changed
// by the few rules below for the configuration in force, so that the contract it publishes is the one it
// keeps (a stock fuzzer pointed at it passes). Each rule works on every operation and schema of the
// document, never on one by name; the rules are listed in the document's own description ("What this
// document says of a running gateway"), and a test diffs the two documents in every configuration.
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type Node,
  parseDocument,
  visit,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { type OpenApiDocument, specYaml } from '.';

/** What of a gateway's configuration its served document depends on. */
export interface ServedFor {
  /**
   * How the gateway authenticates to Bitrix24: with its own webhook (webhook mode, and the embedded
   * emulator) or with each caller's OAuth token.
   */
  upstream: 'webhook' | 'oauth' | 'application';
  /** Callers may come in without an API key (no keys configured, or GATEWAY_ALLOW_ANONYMOUS=true). */
  anonymous: boolean;
  /** The settings `x-required-by-setting` names, as `NAME=value` (IDEMPOTENCY_KEY=required). */
  settings?: readonly string[];
}

export interface ServedSpec {
  /** The document as YAML: the hand-written text, its order and comments kept where nothing changes. */
  yaml: string;
  document: OpenApiDocument;
}

// Written back as the hand-written file is written, so that an unchanged node keeps its exact text.
const YAML_STYLE = { lineWidth: 0, flowCollectionPadding: false } as const;

/** The served document for `servedFor`, from the hand-written text. */
export function servedSpec(handWritten: string, servedFor: ServedFor): ServedSpec {
  const doc = parseDocument(handWritten);
  const applied = [
    requiredAnyOf(doc),
    conditions(doc),
    operationModes(doc, servedFor.upstream),
    upstreamModes(doc, servedFor.upstream),
    ...requiredBySetting(doc, servedFor.settings ?? []),
    ...(servedFor.anonymous ? [anonymousCallers(doc), ...needsApiKey(doc, servedFor.upstream)] : []),
  ];
  describe(doc, servedFor, applied);
  return { yaml: doc.toString(YAML_STYLE), document: doc.toJS() as OpenApiDocument };
}

/**
 * `x-required-any-of: [A, B]` on an object schema becomes an entry of its `allOf`: `{anyOf: [{required: [A],
 * properties: {A: …}}, {required: [B], properties: {B: …}}]}`, each branch naming the property it requires
 * with the property's own schema (a copy of the object's). Validators and fuzzers read it as "A or B is
 * there"; client generators read the branches as object types and intersect them with the object's
 * (`{…} & ({A: …} | {B: …})`), where a sibling `anyOf` of bare `required` lists became `unknown`. The
 * hand-written document keeps the extension alone (see `x-required-any-of` in openapi/README.md).
 */
function requiredAnyOf(doc: Document): string {
  visit(doc, {
    Map(_key, node) {
      const names = node.get('x-required-any-of');
      if (!isSeq(names)) return;
      const anyOf = names.items.map((item) => {
        const name = String(isScalar(item) ? item.value : item);
        return requiring(doc, node, [name], {});
      });
      appendAllOf(doc, node, [{ anyOf }]);
    },
  });
  return "every `x-required-any-of` is also written into its schema's `allOf` as an `anyOf` of objects, each requiring one of the properties";
}

/**
 * A branch of an `anyOf` that holds when `required` are there and `values` are as given: it names each
 * property with the object's own schema of it (or, for a value, that value alone), so that generators see
 * an object type. It accepts nothing the object itself refuses.
 */
function requiring(
  doc: Document,
  object: YAMLMap,
  required: readonly string[],
  values: Record<string, unknown>,
): Record<string, unknown> {
  const properties = object.get('properties');
  const own = (name: string) => (isMap(properties) ? properties.get(name, true) : undefined);
  const schemas = Object.fromEntries([
    ...Object.entries(values).map(([name, value]) => [name, { enum: [value] }]),
    ...required.map((name) => [name, constraints((own(name) as YAMLMap | undefined)?.toJSON(doc) ?? {})]),
  ]);
  return { ...(required.length && { required: [...required] }), properties: schemas };
}

/**
 * A property's schema without its words (`description`, `x-…`), which the object's own copy carries; an
 * `allOf` of one schema that was there only to carry them is that schema.
 */
function constraints(schema: Record<string, unknown>): Record<string, unknown> {
  const kept = Object.fromEntries(
    Object.entries(schema).filter(([key]) => key !== 'description' && !key.startsWith('x-')),
  );
  const { allOf, ...rest } = kept;
  return Array.isArray(allOf) && allOf.length === 1 && Object.keys(rest).length === 0 ? allOf[0] : kept;
}

function appendAllOf(doc: Document, node: YAMLMap, entries: readonly unknown[]): void {
  const allOf = node.get('allOf');
  if (isSeq(allOf)) for (const entry of entries) allOf.add(doc.createNode(entry));
  else node.set('allOf', doc.createNode(entries));
  // `required: [A]` and `enum: [V]` in flow style, as the hand-written file writes them.
  visit(node.get('allOf') as YAMLSeq, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && ['required', 'enum'].includes(String(pair.key.value)) && isSeq(pair.value)) {
        pair.value.flow = true;
      }
    },
  });
}

/**
 * Each `x-conditions` entry (`{if: {P: V}, required: [A], refused: [B]}`) is also written into the schema's
 * `allOf` as JSON Schema's equivalent of if/then, which OpenAPI 3.0 lacks: `anyOf` of "P is not V" and "P is
 * V, A is there and B is not". Where P has an `enum`, "not V" is written as the enum's other values, which a
 * generator can type (`{P?: 'W'} | {P?: 'V'; A: …}`); otherwise as `not: {enum: [V]}`.
 */
function conditions(doc: Document): string {
  visit(doc, {
    Map(_key, node) {
      const entries = node.get('x-conditions');
      if (!isSeq(entries)) return;
      const properties = node.get('properties');
      const pairs = entries.items.map((entry) => {
        const {
          if: when,
          required,
          refused,
        } = (entry as YAMLMap).toJSON() as {
          if: Record<string, unknown>;
          required?: string[];
          refused?: string[];
        };
        const [[name, value]] = Object.entries(when) as [[string, unknown]];
        const values = isMap(properties)
          ? (properties.get(name, true) as YAMLMap | undefined)?.toJSON()?.enum
          : undefined;
        const others = Array.isArray(values) ? values.filter((other) => other !== value) : undefined;
        const otherwise = others?.length ? { enum: others } : { not: { enum: [value] } };
        const then = requiring(doc, node, required ?? [], { [name]: value });
        for (const property of refused ?? []) (then.properties as Record<string, unknown>)[property] = { not: {} };
        return { anyOf: [{ properties: { [name]: otherwise } }, then] };
      });
      appendAllOf(doc, node, pairs);
    },
  });
  return "every `x-conditions` entry is also written as an `anyOf` pair in its schema's `allOf`";
}

/**
 * A property with `x-upstream-modes` exists only in the modes it names, `required` or `optional` there:
 * the property is removed in the other modes (so that sending it is a schema violation, as the gateway
 * treats it), and added to its object's `required` list where it is required.
 */
function upstreamModes(doc: Document, mode: ServedFor['upstream']): string {
  visit(doc, {
    Map(_key, node) {
      const properties = node.get('properties');
      if (!isMap(properties)) return;
      for (const item of [...properties.items]) {
        const property = item.value;
        const modes = isMap(property) ? property.get('x-upstream-modes') : undefined;
        if (!isMap(modes)) continue;
        const name = isScalar(item.key) ? String(item.key.value) : String(item.key);
        const inThisMode = modes.get(mode);
        if (inThisMode === undefined) properties.delete(item.key);
        else if (inThisMode === 'required') addRequired(doc, node, name);
      }
    },
  });
  return `properties are as in ${mode} mode (\`x-upstream-modes\`)`;
}

/**
 * An operation with `x-upstream-modes` (a list) is served only in the modes it lists: the `/rest/…` paths
 * in webhook and OAuth mode, the `/portals/…` paths and the event handler in application mode. A path left
 * with no operation goes too.
 */
function operationModes(doc: Document, mode: ServedFor['upstream']): string {
  const paths = doc.get('paths') as YAMLMap;
  const removed: { item: YAMLMap; key: unknown }[] = [];
  for (const pathItem of paths.items) {
    const operations = pathItem.value as YAMLMap;
    for (const operation of operations.items) {
      const modes = isMap(operation.value) ? operation.value.get('x-upstream-modes') : undefined;
      if (isSeq(modes) && !modes.items.some((item) => isScalar(item) && item.value === mode))
        removed.push({ item: operations, key: operation.key });
    }
  }
  keepAliasedNodes(
    doc,
    removed.map(({ item, key }) => item.get(key, true) as Node),
  );
  for (const { item, key } of removed) item.delete(key);
  for (const pathItem of [...paths.items])
    if ((pathItem.value as YAMLMap).items.length === 0) paths.delete(pathItem.key);
  return `operations are those of ${mode} mode (\`x-upstream-modes\`)`;
}

/**
 * An alias whose anchored node is about to be removed (the `/rest/…` operations anchor the bodies, answers
 * and texts the `/portals/…` ones repeat) becomes a copy of that node, so that what stays reads the same.
 */
function keepAliasedNodes(doc: Document, leaving: Node[]): void {
  const inside = new Set<unknown>();
  for (const node of leaving)
    visit(node, {
      Node(_key, child) {
        inside.add(child);
      },
    });
  visit(doc, {
    Alias(_key, alias) {
      const target = alias.resolve(doc) as Node | undefined;
      if (!target || !inside.has(target)) return undefined;
      const copy = target.clone() as Node & { anchor?: string };
      copy.anchor = undefined;
      return copy as never;
    },
  });
}

function addRequired(doc: Document, schema: YAMLMap, name: string): void {
  const required = schema.get('required');
  if (isSeq(required)) {
    if (!required.items.some((item) => isScalar(item) && item.value === name)) required.add(doc.createNode(name));
  } else {
    schema.set('required', doc.createNode([name]));
  }
}

/** A parameter with `x-required-by-setting: NAME=value` is required when the gateway runs with that setting. */
function requiredBySetting(doc: Document, settings: readonly string[]): string[] {
  const applied = new Set<string>();
  visit(doc, {
    Map(_key, node) {
      const setting = node.get('x-required-by-setting');
      if (typeof setting !== 'string' || !settings.includes(setting)) return;
      node.set('required', true);
      applied.add(`\`${String(node.get('name'))}\` is required (\`${setting}\`)`);
    },
  });
  return [...applied];
}

/**
 * Callers may come in without a key: every security requirement (the document's and each operation's own
 * that asks for something) also allows anonymous access (`{}`).
 */
function anonymousCallers(doc: Document): string {
  const allowAnonymous = (holder: YAMLMap) => {
    const security = holder.get('security');
    if (!isSeq(security) || security.items.length === 0) return;
    if (security.items.some((requirement) => isMap(requirement) && requirement.items.length === 0)) return;
    security.add(doc.createNode({}));
  };
  allowAnonymous(doc.contents as YAMLMap);
  const paths = doc.get('paths');
  if (isMap(paths)) {
    for (const item of paths.items) {
      if (!isMap(item.value)) continue;
      for (const operation of item.value.items) if (isMap(operation.value)) allowAnonymous(operation.value);
    }
  }
  return 'anonymous callers are allowed (`{}` in every security requirement): a development setting, not for production';
}

/**
 * Callers may come in without a key: a parameter with `x-needs-api-key-in-modes` naming the gateway's mode
 * (the `Idempotency-Key` header in OAuth mode), which such a caller is refused, is left out of every
 * operation, so that the document offers every caller it lets in only what the gateway takes from it. The
 * component stays, with its description of why.
 */
function needsApiKey(doc: Document, mode: ServedFor['upstream']): string[] {
  const components = doc.getIn(['components', 'parameters']);
  if (!isMap(components)) return [];
  const refs = new Map<string, string>();
  for (const item of components.items) {
    const modes = isMap(item.value) ? item.value.get('x-needs-api-key-in-modes') : undefined;
    if (!isSeq(modes) || !modes.items.some((m) => isScalar(m) && m.value === mode)) continue;
    const name = String((item.value as YAMLMap).get('name'));
    refs.set(`#/components/parameters/${isScalar(item.key) ? String(item.key.value) : String(item.key)}`, name);
  }
  if (refs.size === 0) return [];
  visit(doc, {
    Seq(_key, list) {
      list.items = list.items.filter((entry) => !(isMap(entry) && refs.has(String(entry.get('$ref')))));
    },
  });
  return [...refs.values()].map(
    (name) =>
      `\`${name}\` is left out of every operation: in ${mode} mode it is taken only from a caller with an API key (\`x-needs-api-key-in-modes\`)`,
  );
}

/** Says, in the document, which configuration it was served for and what that changed. */
function describe(doc: Document, servedFor: ServedFor, applied: string[]): void {
  const info = doc.get('info') as YAMLMap;
  const lines = applied.map((rule) => `* ${rule}.`);
  const description = String(info.get('description') ?? '');
  const text = doc.createNode(
    `${description.trimEnd()}\n\n## Served by this gateway\nThis is the document as this running gateway serves it (${servedFor.upstream} mode, ${
      servedFor.anonymous ? 'anonymous callers allowed' : 'API keys required'
    }). It differs from the hand-written one in this only:\n${lines.join('\n')}\n`,
  );
  text.type = 'BLOCK_LITERAL';
  info.set('description', text);
  const { settings, ...rest } = servedFor;
  info.set('x-served-for', doc.createNode({ ...rest, ...(settings?.length && { settings: [...settings] }) }));
}

/**
 * The served document, built on the first request for it (parsing the spec's YAML again costs more than
 * half of a start).
 */
export function lazyServedSpec(servedFor: ServedFor, handWritten: () => string = () => specYaml): ServedSpec {
  let built: ServedSpec | undefined;
  const get = () => (built ??= servedSpec(handWritten(), servedFor));
  return {
    get yaml() {
      return get().yaml;
    },
    get document() {
      return get().document;
    },
  };
}
