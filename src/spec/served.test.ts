// The served document against the hand-written one, in every configuration: it may differ only by the
// documented rules, and never in a pattern, enum, bound or additionalProperties.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { spec, specYaml } from '.';
import { type ServedFor, servedSpec } from './served';

type Json = unknown;

/** Every JSON pointer at which `a` and `b` differ: a key added, removed or changed (leaves and arrays whole). */
function differences(a: Json, b: Json, at = ''): string[] {
  if (a === b) return [];
  const objects = (v: Json) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!objects(a) || !objects(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
  const left = a as Record<string, Json>;
  const right = b as Record<string, Json>;
  return [...new Set([...Object.keys(left), ...Object.keys(right)])].flatMap((key) => {
    const path = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!(key in left) || !(key in right)) return [path];
    return differences(left[key], right[key], path);
  });
}

const transferRequest = '/components/schemas/TransferRequest';
const messageSendRequest = '/components/schemas/MessageSendRequest';
// Every request schema has an `auth` for OAuth mode.
const requests = ['TransferRequest', 'OperatorRequest', 'MessageSendRequest', 'FinishRequest'].map(
  (name) => `/components/schemas/${name}`,
);
const always = ['/info/description', '/info/x-served-for', `${transferRequest}/allOf`, `${messageSendRequest}/allOf`];
const noAuth = requests.map((request) => `${request}/properties/auth`);
const authRequired = requests.map((request) => `${request}/required`);
// In OAuth mode with anonymous callers, every method operation's parameters (the Idempotency-Key left out).
const methodPaths = Object.entries(spec.paths)
  .filter(([, item]) => (item as { post?: Record<string, unknown> }).post?.['x-bitrix24-method'])
  .map(([path]) => path);
const pointer = (path: string) => `/paths/${path.replace(/\//g, '~1')}`;
// The paths of each mode (`x-upstream-modes` on their operations): the others' are not served.
const pathsOf = (mode: ServedFor['upstream']) =>
  Object.entries(spec.paths)
    .filter(([, item]) =>
      Object.values(item as Record<string, { 'x-upstream-modes'?: string[] }>).every(
        (operation) => operation['x-upstream-modes']?.includes(mode) ?? true,
      ),
    )
    .map(([path]) => path);
const notServedIn = (mode: ServedFor['upstream']) =>
  Object.keys(spec.paths)
    .filter((path) => !pathsOf(mode).includes(path))
    .map(pointer);
const methodParameters = methodPaths
  .filter((path) => pathsOf('oauth').includes(path))
  .map((path) => `${pointer(path)}/post/parameters`);
// CLIENT_ID identifies a webhook's bot: the application's token names its own.
const noClientId = ['TransferRequest', 'FinishRequest'].map(
  (name) => `/components/schemas/${name}/properties/CLIENT_ID`,
);

// [configuration, the differences the documented rules make]
const configurations: [ServedFor, string[]][] = [
  [{ upstream: 'webhook', anonymous: false }, [...always, ...noAuth, ...notServedIn('webhook')]],
  [{ upstream: 'webhook', anonymous: true }, [...always, ...noAuth, '/security', ...notServedIn('webhook')]],
  [{ upstream: 'oauth', anonymous: false }, [...always, ...authRequired, ...notServedIn('oauth')]],
  [
    { upstream: 'oauth', anonymous: true },
    [...always, ...authRequired, '/security', ...methodParameters, ...notServedIn('oauth')],
  ],
  [{ upstream: 'application', anonymous: false }, [...always, ...noAuth, ...noClientId, ...notServedIn('application')]],
];

describe.each(configurations)('the document served for %j', (servedFor, expected) => {
  const served = servedSpec(specYaml, servedFor);

  it('differs from the hand-written one only where the documented rules say', () => {
    expect(differences(spec, served.document).sort()).toEqual([...expected].sort());
  });

  it('makes those differences as documented', () => {
    const schema = served.document.components.schemas.TransferRequest as Record<string, Json>;
    const id = { $ref: '#/components/schemas/Id' };
    expect(schema.allOf).toEqual([
      {
        anyOf: [
          { required: ['USER_ID'], properties: { USER_ID: id } },
          { required: ['QUEUE_ID'], properties: { QUEUE_ID: id } },
          { required: ['TRANSFER_ID'], properties: { TRANSFER_ID: { $ref: '#/components/schemas/TransferId' } } },
        ],
      },
    ]);
    expect(schema.anyOf).toBeUndefined();
    const message = (served.document.components.schemas.MessageSendRequest as { properties: Record<string, Json> })
      .properties.MESSAGE as Record<string, Json>;
    const { description: _words, 'x-expected': _expected, ...messageConstraints } = message;
    expect((served.document.components.schemas.MessageSendRequest as Record<string, Json>).allOf).toEqual([
      {
        anyOf: [
          { properties: { NAME: { enum: ['WELCOME'] } } },
          { required: ['MESSAGE'], properties: { NAME: { enum: ['DEFAULT'] }, MESSAGE: messageConstraints } },
        ],
      },
      {
        anyOf: [
          { properties: { NAME: { enum: ['DEFAULT'] } } },
          { properties: { NAME: { enum: ['WELCOME'] }, MESSAGE: { not: {} } } },
        ],
      },
    ]);
    expect(messageConstraints).toMatchObject({ type: 'string', minLength: 1, pattern: expect.any(String) });
    const properties = schema.properties as Record<string, Json>;
    if (servedFor.upstream === 'oauth') {
      expect(schema.required).toEqual(['CHAT_ID', 'auth']);
      expect(properties.auth).toEqual(
        (spec.components.schemas.TransferRequest as { properties: Record<string, Json> }).properties.auth,
      );
    } else {
      expect(schema.required).toEqual(['CHAT_ID']);
      expect(properties.auth).toBeUndefined();
    }
    expect(served.document.security).toEqual(
      servedFor.anonymous ? [{ GatewayApiKey: [] }, {}] : [{ GatewayApiKey: [] }],
    );
    const keyRef = { $ref: '#/components/parameters/IdempotencyKey' };
    const keyTaken = servedFor.upstream === 'webhook' || !servedFor.anonymous;
    for (const path of methodPaths.filter((path) => pathsOf(servedFor.upstream).includes(path))) {
      const parameters = served.document.paths[path]?.post?.parameters as Json[];
      if (keyTaken) expect(parameters, path).toContainEqual(keyRef);
      else expect(parameters, path).not.toContainEqual(keyRef);
    }
    const info = served.document.info as Record<string, Json>;
    if (!keyTaken) expect(info.description).toContain('`Idempotency-Key` is left out of every operation');
    expect(info['x-served-for']).toEqual(servedFor);
    expect(info.description).toContain('## Served by this gateway');
  });

  it('is YAML of the same document, the hand-written lines kept where nothing changes', () => {
    expect(parse(served.yaml)).toEqual(served.document);
    const handWritten = specYaml.split('\n');
    const kept = new Set(longestCommonLines(handWritten, served.yaml.split('\n')));
    const removed = handWritten.filter((_line, index) => !kept.has(index));
    // Only the auth properties' lines, in webhook mode; every comment stays.
    expect(
      removed.filter(
        (line) =>
          line.trimStart().startsWith('#') && !line.includes('x-upstream-modes') && !line.includes('Served only'),
      ),
    ).toEqual([]);
    // In OAuth mode with anonymous callers, also the two lists' Idempotency-Key lines; in application mode
    // the CLIENT_ID properties' lines. Besides, the lines of the paths another mode serves.
    const own =
      servedFor.upstream === 'webhook'
        ? 27
        : servedFor.upstream === 'application'
          ? 27 + 2 * 9
          : servedFor.anonymous
            ? 6
            : 4;
    expect(removed.length).toBeLessThanOrEqual(own + linesOfPaths(notServedIn(servedFor.upstream)));
  });
});

describe('the served document of a gateway with IDEMPOTENCY_KEY=required', () => {
  it('differs from the default one by the header being required, and says so', () => {
    const servedFor: ServedFor = { upstream: 'webhook', anonymous: false };
    const plain = servedSpec(specYaml, servedFor).document;
    const strict = servedSpec(specYaml, { ...servedFor, settings: ['IDEMPOTENCY_KEY=required'] }).document;
    expect(differences(plain, strict).sort()).toEqual([
      '/components/parameters/IdempotencyKey/required',
      '/info/description',
      '/info/x-served-for/settings',
    ]);
    expect(
      (strict.components as unknown as { parameters: Record<string, { required: boolean }> }).parameters.IdempotencyKey!
        .required,
    ).toBe(true);
    expect((strict.info as { description: string }).description).toContain(
      '`Idempotency-Key` is required (`IDEMPOTENCY_KEY=required`)',
    );
  });
});

describe('the served document of a real gateway', () => {
  it('is what the rules make of the hand-written file, for an OAuth gateway with keys', () => {
    const served = servedSpec(specYaml, { upstream: 'oauth', anonymous: false });
    expect(served.yaml).not.toBe(specYaml);
    expect(served.document.openapi).toBe('3.0.3');
  });
});

/** Indexes (in `a`) of the lines of a longest common subsequence of `a` and `b`. */
function longestCommonLines(a: string[], b: string[]): number[] {
  const rows = a.length + 1;
  const columns = b.length + 1;
  const table = new Uint16Array(rows * columns);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * columns + j] =
        a[i] === b[j]
          ? table[(i + 1) * columns + j + 1]! + 1
          : Math.max(table[(i + 1) * columns + j]!, table[i * columns + j + 1]!);
    }
  }
  const kept: number[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) {
      kept.push(i);
      i++;
      j++;
    } else if (table[(i + 1) * columns + j]! >= table[i * columns + j + 1]!) i++;
    else j++;
  }
  return kept;
}

/** How many lines of the hand-written YAML the paths at these pointers take. */
function linesOfPaths(pointers: string[]): number {
  const lines = specYaml.split('\n');
  const wanted = new Set(pointers.map((at) => at.slice('/paths/'.length).replace(/~1/g, '/')));
  let count = 0;
  let inside = false;
  for (const line of lines) {
    const path = /^ {2}(\/\S*):$/.exec(line)?.[1];
    if (path !== undefined) inside = wanted.has(path);
    else if (/^\S/.test(line)) inside = false;
    if (inside) count += 1;
  }
  return count;
}
