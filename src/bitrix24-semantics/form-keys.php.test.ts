// phpFormParams against real PHP: Debian's php-cli (PHP 8.2, which `make unit` installs), whose parse_str
// runs php_register_variable_ex on each decoded name and value, as $_POST does. One php process per batch
// reads the queries as JSON lines on stdin and writes each one's parse_str as JSON (arrays as objects).
// PHP is fed the percent-encoded pairs and the reader what URLSearchParams decodes of the same text, so both
// read the same names and values. Without php the test fails: it is never skipped.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../test-support/processes';
import { phpFormParams } from '.';

const PHP_PROGRAM = `
$flags = JSON_FORCE_OBJECT | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES;
while (($line = fgets(STDIN)) !== false) {
  $result = [];
  parse_str(json_decode($line), $result);
  $json = json_encode($result, $flags);
  echo $json === false ? json_encode(['json_encode failed' => json_last_error_msg()]) : $json, "\\n";
}`;

// No php.ini (-n): PHP's defaults, max_input_nesting_level 64 among them, and every variable of a batch read.
const PHP_SETTINGS = ['-n', '-d', 'max_input_vars=1000000', '-d', 'display_errors=stderr'];

/** parse_str of each query, as JSON with its keys sorted (PHP keeps insertion order, JS objects do not). */
async function phpParseStr(queries: readonly string[]): Promise<string[]> {
  const input = queries.map((query) => `${JSON.stringify(query)}\n`).join('');
  const run = await runProcess('php', [...PHP_SETTINGS, '-r', PHP_PROGRAM], { input, timeoutMs: 60_000 });
  if (run.error) {
    throw new Error(`php could not be started (${run.error.code}): \`make unit\` installs Debian's php-cli`);
  }
  if (run.code !== 0) throw new Error(`php exited ${run.code ?? run.signal}: ${run.stderr.slice(0, 2_000)}`);
  const lines = run.stdout.split('\n');
  lines.pop();
  expect(lines, 'one line of JSON per query').toHaveLength(queries.length);
  return lines.map((line) => sortedJson(JSON.parse(line)));
}

/** The reader's parameters for the same query, as the pipeline reads a body: URLSearchParams, then phpFormParams. */
const ours = (query: string): string => sortedJson(phpFormParams(new URLSearchParams(query)));

/** JSON with every map's keys sorted: PHP's values whatever the order of their keys. */
function sortedJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${sortedJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

/** A query of name=value pairs, each percent-encoded as a form would send it. */
const query = (pairs: readonly (readonly [string, string])[]) =>
  pairs.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');

const deep = (levels: number, key = 'x') => `[${key}]`.repeat(levels);
const MAX = '9223372036854775807';
const MIN = '-9223372036854775808';

// Each row: a query, as sent (already encoded: `%00` is a NUL).
const vectors: string[] = [
  'a[5]=x&a[]=y',
  'a[-5]=x&a[]=y',
  'a[-5]=x&a[-3]=z&a[]=y',
  'a[]=1&a[-5]=x&a[]=y',
  'a[-1]=x&a[]=y',
  'a[05]=x&a[]=y',
  'a[-0]=x&a[]=y',
  'a[00]=x&a[0]=z&a[]=y',
  'a[5 ]=x&a[]=y',
  'a[%2B5]=x&a[]=y',
  'a[+5]=x&a[]=y',
  'a[1e3]=x&a[]=y',
  `a[${MAX}]=x&a[]=y&a[][k]=z&a[]=w`,
  'a[9223372036854775806]=x&a[]=y&a[]=z',
  'a[9223372036854775808]=x&a[]=y',
  'a[99999999999999999999]=x&a[]=y',
  `a[${MIN}]=x&a[]=y`,
  'a[-9223372036854775809]=x&a[]=y',
  'a[9007199254740993]=x&a[]=y&a[]=z',
  'a[4294967295]=x&a[]=y',
  'a=1&a[]=2',
  'a[]=1&a=2',
  'a[]=1&a=2&a[]=3',
  'a[x]=1&a[y][]=2&a[y]=3&a[y][]=4',
  'a[]=1&a[]=2&a[1]=9&a[]=3',
  'a[]=1&a[1]=x&a[]=y',
  'a[]=1&a[0]=x&a[]=y&a[3]=z&a[2]=w&a[]=v',
  'a[x][]=1&a[x][]=2&a[x][7]=3&a[x][]=4&a[x][3]=5&a[x][]=6',
  'a[][]=1&a[][]=2&a[0][]=3',
  'a[ ]=1&a[ x]=2&a[  ]=3&a[ ][ ]=4',
  'a[b=1',
  'a[b.c d[e=1',
  'a[b][c=1',
  'a[][c=1',
  'a[b]c[d=1',
  'a[b].c=1',
  'a[b]]=1',
  'a[[b]]=1',
  'a]b[c]=1',
  'a[=1',
  'a[ =1',
  ' a.b c[x.y]=1',
  '   =1&[a]=1&=2&%20[b]=3',
  '.=1&..[.]=2',
  'a.[b]=1',
  'a[b%00c]=1',
  'a%00b=1',
  '%00a=1',
  'a[]=x%00y',
  '__proto__[x]=1&constructor[prototype][y]=2&__proto__=3',
  '5=x&5[]=y&-5[]=z',
  `a${deep(63)}[]=1`,
  `a${deep(64)}=1`,
  `a${deep(64)}[]=1`,
  `a[k]=0&a${deep(65)}=1&b=2`,
  `a[k]=0&a${deep(65)}=1&a[j]=2`,
  `b=1&a=2&c[q]=3&a${deep(65)}=9&a=3`,
  `a${deep(64)}[y=1`,
  `a${deep(63)}[y=1`,
  `a[]${deep(64)}=1`,
  `a${deep(64)}.y=1`,
  `a${'[]'.repeat(70)}=1`,
  'é[ü]=1&é.ü[]=2',
];

describe('phpFormParams reads what PHP 8.2 parse_str reads', () => {
  it('on hand-written vectors', async () => {
    const php = await phpParseStr(vectors);
    const differences = vectors.flatMap((sent, at) =>
      ours(sent) === php[at] ? [] : [`${sent}\n  PHP:  ${php[at]}\n  ours: ${ours(sent)}`],
    );
    expect(differences).toEqual([]);
  }, 60_000);

  // Names from pieces rich in what PHP reads specially, drawn from a few stems so that names meet.
  const piece = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('[', ']', '.', ' ', '_', '-', '0', '5', '9', 'a', 'b', 'é', '\0') },
    {
      weight: 4,
      arbitrary: fc.constantFrom('[]', '[]', '[a]', '[0]', '[1]', '[2]', '[-1]', '[05]', '[-0]', '[ ]', `[${MAX}]`),
    },
  );
  const name = fc
    .tuple(fc.constantFrom('a', 'b', ' a', 'a.b', '5', ''), fc.array(piece, { maxLength: 10 }))
    .map(([stem, pieces]) => stem + pieces.join(''));
  const value = fc.constantFrom('', '1', 'x y', '0', 'é', '\0');
  const queries = fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 12 }).map((pairs) => query(pairs));

  it('on generated names, compared in one batch', async () => {
    const seed = Date.now();
    const sample = fc.sample(queries, { numRuns: 3_000, seed });
    const php = await phpParseStr(sample);
    const differences = sample
      .flatMap((sent, at) => (ours(sent) === php[at] ? [] : [{ sent, php: php[at], ours: ours(sent) }]))
      .sort((a, b) => a.sent.length - b.sent.length)
      .slice(0, 5);
    expect(differences, `seed ${seed}: the shortest queries read differently`).toEqual([]);
  }, 60_000);
});
