// The form bodies that cost PHP's key reader the most for their size (issue 31), each built up to a number of
// bytes: the step bounds of src/bitrix24-semantics, the attack suite (src/attacks/form-shapes.test.ts) and
// the benchmark (bench/form-body.ts) read the same shapes. Every body is ASCII, so its length is its size
// in bytes, and a valid form (a space is `+`).

/** A form body of `unit(0)`, `unit(1)`, … after `head`, joined by '&', as many as fit in `limit` bytes. */
export function filled(limit: number, head: string, unit: (index: number) => string): string {
  const parts = [head];
  let length = head.length;
  for (let index = 0; ; index++) {
    const next = unit(index);
    if (length + 1 + next.length > limit) return parts.join('&');
    parts.push(next);
    length += 1 + next.length;
  }
}

/** One name as long as fits: `head`, then `body` repeated, then `=1`. */
function single(limit: number, head: string, body: string): string {
  return `${head}${body.repeat(Math.floor((limit - head.length - 2) / body.length))}=1`;
}

const CHAT = 'CHAT_ID=112';
const deep = (levels: number, segment: string) => segment.repeat(levels);

/** The entries the shapes repeat (some are two or three entries). */
const units = {
  appends: () => 'x[]=1',
  nestedAppends: () => 'x[a][]=1',
  userIds: (index: number) => `USER_ID[]=${index}`,
  distinctKeys: (index: number) => `k${index}=v`,
  nest64: () => `a${deep(64, '[b]')}=1`,
  nest65: () => `a${deep(65, '[b]')}=1`,
  appendChains: () => `a${deep(64, '[]')}=1`,
  open: () => `a[${'x'.repeat(20)}=1`,
  maxIndex: () => 'x[9223372036854775806]=1&x[]=1&x[]=1',
  negative: (index: number) => `x[-${index}]=1&x[]=2`,
  spaces: () => `${'+'.repeat(50)}.a=1`,
};

/** Every unit, for bodies that mix them. */
export const formUnits: readonly ((index: number) => string)[] = Object.values(units);

/**
 * The costly shapes, by name, each a body of at most `limit` bytes: appends, nested appends, a list of
 * USER_IDs, many distinct keys, nesting to 64 levels and past it (which deletes the variable), one name
 * nested as deep as fits, chains of appends, a bracket never closed (long, or many), only '['s, indices at
 * PHP_INT_MAX and below zero, leading spaces, and all of them mixed.
 */
export function formShapes(limit: number): Record<string, string> {
  return {
    'x[]=1 repeated': filled(limit, CHAT, units.appends),
    'x[a][]=1 repeated': filled(limit, CHAT, units.nestedAppends),
    'USER_ID[]=… repeated': filled(limit, CHAT, units.userIds),
    'distinct keys k1=v&k2=v…': filled(limit, CHAT, units.distinctKeys),
    'a[b]…[b] (64 levels) repeated': filled(limit, CHAT, units.nest64),
    'a[b]…[b] (65 levels, past PHP’s limit) repeated': filled(limit, CHAT, units.nest65),
    'one name a[b][b]… as deep as fits': single(limit, `${CHAT}&a`, '[b]'),
    'a[][]…[] (64 appends) repeated': filled(limit, CHAT, units.appendChains),
    'one bracket never closed, a[xxx…': single(limit, `${CHAT}&a[`, 'x'),
    'only brackets, a[[[[…': single(limit, `${CHAT}&a`, '['),
    'short brackets never closed, a[xx…, repeated': filled(limit, CHAT, units.open),
    'x[PHP_INT_MAX - 1] then appends, repeated': filled(limit, CHAT, units.maxIndex),
    'x[-n]=1&x[]=2 repeated': filled(limit, CHAT, units.negative),
    'leading spaces and dots, repeated': filled(limit, CHAT, units.spaces),
    mixed: filled(limit, CHAT, (index) => formUnits[index % formUnits.length]!(index)),
  };
}

/** A plain form of the same size as the costly ones: `k1=v&k2=v…`, the cheapest shape per byte. */
export const plainForm = (limit: number): string => filled(limit, CHAT, (index) => `k${index}=v`);
