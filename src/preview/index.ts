// Caller input, shown in an error description: bounded in length and in depth whatever the input, so
// that a value nested thousands of levels deep (or a megabyte long) costs as little as `12abc`.

const MAX_DEPTH = 3;
const MAX_ENTRIES = 8;

/** A JSON-like rendering of `value`, at most `maxLength` characters (then `…`). Never throws. */
export function preview(value: unknown, maxLength = 40): string {
  const text = render(value, 0, maxLength + 1);
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

/** Renders at most about `budget` characters: no more is ever built, so the cost is bounded too. */
function render(value: unknown, depth: number, budget: number): string {
  if (typeof value === 'string') return JSON.stringify(value.length > budget ? value.slice(0, budget) : value);
  if (typeof value === 'bigint') return `${value}`;
  if (typeof value !== 'object' || value === null) return String(value);
  const list = Array.isArray(value);
  if (depth >= MAX_DEPTH) return list ? '[…]' : '{…}';
  const parts: string[] = [];
  let used = 2;
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (count === MAX_ENTRIES || used >= budget) {
      parts.push('…');
      break;
    }
    const item = render((value as Record<string, unknown>)[key], depth + 1, budget - used);
    const part = list ? item : `${JSON.stringify(key.length > budget ? key.slice(0, budget) : key)}:${item}`;
    parts.push(part);
    used += part.length + 1;
    count += 1;
  }
  return list ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}
