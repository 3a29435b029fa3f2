// PHP's reading of a form's keys (`a[]=1`, `a[k][]=2`): php_register_variable_ex (main/php_variables.c,
// PHP 8.2) as parse_str and $_POST run it on each already-decoded name and value, ported rule for rule and
// in time linear in the input whatever its shape: every character of a name is scanned once, and every
// entry costs a bounded number of map operations (no walk of a container, no regex that backtracks). The
// comparison with real PHP is form-keys.php.test.ts; the step bounds, index.test.ts.

import type { PhpParams } from '.';

/**
 * Counts the reader's steps (a character scanned or copied, a map operation and its key's characters), so
 * that tests can hold its cost to the input's length without timing it.
 */
export interface StepMeter {
  steps: number;
}

/** PHP's `max_input_nesting_level` (64 by default): a deeper name drops its whole top-level variable. */
export const MAX_INPUT_NESTING = 64;

const [SPACE, DOT, OPEN, CLOSE, MINUS, ZERO, NINE] = [0x20, 0x2e, 0x5b, 0x5d, 0x2d, 0x30, 0x39];
const LONG_MAX = 9_223_372_036_854_775_807n;
const LONG_MIN = -9_223_372_036_854_775_808n;

/** A PHP integer key: a number while it is exact (15 digits at most), a bigint beyond. */
type IntegerKey = number | bigint;

/**
 * PHP's parsing of form keys, entry by entry in the order they were sent, as php_register_variable_ex does:
 * - the name ends at its first NUL (PHP reads it as a C string); leading spaces are skipped; in the
 *   top-level name ' ' and '.' become '_'; an empty top-level name is dropped;
 * - the first '[' starts the indices: `[k]` a key (one leading space skipped before a `]`, so `[ ]` appends),
 *   `[]` an append at PHP's next free index (the highest integer key + 1, or 0: `a[5]=x&a[]=y` is `a[6]`);
 *   after a `]` anything but `[` ends the indices (`a[b]c=1` is `a[b]=1`);
 * - a `[` never closed is no index: it and, after it, every ' ', '.' and '[' become '_' at the top level
 *   (`a[b.c=1` is `a_b_c`), and below it the value goes to the key read so far (`a[b][c=1` is `a[b]=1`);
 * - a non-array value met on the path is replaced by an array; a later plain value replaces an array;
 * - a name nested deeper than 64 levels deletes its whole top-level variable (what was read before too);
 * - numeric keys are PHP's integer keys (canonical decimal within 64 bits: "5" and "-5", not "05", "-0"
 *   or "5 "), for the next free index. JS objects list integer-like keys first, PHP in insertion order: the
 *   keys and values are PHP's, the order of a map's keys may not be.
 * Every map it builds has no prototype, so `__proto__[x]=1` is a parameter named `__proto__`, never a write
 * to `Object.prototype`; each map's next free index is kept aside, never as a key.
 */
export function phpFormParams(entries: Iterable<[string, string]>, meter?: StepMeter): PhpParams {
  const reader = new FormReader();
  for (const [name, value] of entries) reader.register(name, value);
  if (meter) meter.steps += reader.steps;
  return reader.params;
}

class FormReader {
  readonly params = Object.create(null) as PhpParams;
  steps = 0;
  /** Each map's next free index (PHP's nNextFreeElement), once it has an integer key or an append. */
  private readonly next = new Map<PhpParams, IntegerKey>();

  register(sent: string, value: string): void {
    const nul = sent.indexOf('\0');
    this.steps += 1 + sent.length;
    const name = nul < 0 ? sent : sent.slice(0, nul);
    let start = 0;
    while (name.charCodeAt(start) === SPACE) start++;
    const open = name.indexOf('[', start);
    const topEnd = open < 0 ? name.length : open;
    this.steps += start + 2 * (topEnd - start);
    const top = underscored(name.slice(start, topEnd));
    if (top === '') return;
    if (open < 0) {
      this.set(this.params, top, value);
      return;
    }
    let container = this.params;
    let key: string | null = top;
    let at = open;
    for (let level = 1; ; level++) {
      if (level > MAX_INPUT_NESTING) {
        this.steps += 1 + top.length;
        delete this.params[top];
        return;
      }
      const segmentStart = at + 1;
      let scan = segmentStart;
      if (name.charCodeAt(scan) === SPACE) scan++;
      let segment: string | null = null;
      let close = scan;
      if (name.charCodeAt(scan) !== CLOSE) {
        close = name.indexOf(']', scan);
        if (close < 0) {
          // Not an index: at the top level the '[' and the rest become part of the name.
          this.steps += 2 * (name.length - segmentStart);
          if (level === 1) key = `${top}_${unbracketed(name.slice(segmentStart))}`;
          break;
        }
        segment = name.slice(segmentStart, close);
      }
      this.steps += 2 * (close + 1 - segmentStart);
      const child = this.arrayAt(container, key);
      if (child === undefined) return;
      container = child;
      key = segment;
      at = close + 1;
      if (name.charCodeAt(at) !== OPEN) break;
    }
    if (key === null) this.append(container, value);
    else this.set(container, key, value);
  }

  /** The array at `key` of `container` (appended when `key` is null), made or put in place of a non-array. */
  private arrayAt(container: PhpParams, key: string | null): PhpParams | undefined {
    if (key === null) {
      const child = Object.create(null) as PhpParams;
      return this.append(container, child) ? child : undefined;
    }
    this.steps += 1 + key.length;
    const held = container[key];
    if (typeof held === 'object' && held !== null) return held as PhpParams;
    const child = Object.create(null) as PhpParams;
    this.set(container, key, child);
    return child;
  }

  /** PHP's zend_symtable_update: an integer key moves the next free index past it. */
  private set(container: PhpParams, key: string, value: unknown): void {
    this.steps += 1 + key.length;
    container[key] = value;
    if (container === this.params) return; // the top level never appends: its next index is never read
    const integer = integerKey(key);
    if (integer === undefined) return;
    this.steps += 2;
    const next = this.next.get(container);
    if (next === undefined || integer >= next) this.next.set(container, successor(integer));
  }

  /**
   * PHP's zend_hash_next_index_insert: at the next free index (0 in a new array). It fails, and the value is
   * dropped, when that index is taken, which happens only once PHP_INT_MAX is.
   */
  private append(container: PhpParams, value: unknown): boolean {
    const index = this.next.get(container) ?? 0;
    const key = String(index);
    this.steps += 3 + key.length;
    if (container[key] !== undefined) return false;
    container[key] = value;
    this.next.set(container, successor(index));
    return true;
  }
}

/** The index after `index`: PHP_INT_MAX stays itself (the next append then finds it taken). */
function successor(index: IntegerKey): IntegerKey {
  if (typeof index === 'number') return index + 1;
  return index === LONG_MAX ? LONG_MAX : index + 1n;
}

/**
 * PHP's integer key for `key` (ZEND_HANDLE_NUMERIC_STR): an optional '-', then decimal digits without a
 * leading zero ("0" itself, not "-0"), within PHP_INT_MIN..PHP_INT_MAX. Undefined for any other key.
 */
export function integerKey(key: string): IntegerKey | undefined {
  const length = key.length;
  if (length === 0 || length > 20) return undefined;
  const first = key.charCodeAt(0) === MINUS ? 1 : 0;
  if (first === length) return undefined;
  if (key.charCodeAt(first) === ZERO) return length === 1 ? 0 : undefined;
  for (let at = first; at < length; at++) {
    const code = key.charCodeAt(at);
    if (code < ZERO || code > NINE) return undefined;
  }
  if (length - first <= 15) return Number(key);
  const big = BigInt(key);
  return big > LONG_MAX || big < LONG_MIN ? undefined : big;
}

/** The top-level name's ' ' and '.' as '_'. */
const underscored = (name: string): string => replaced(name, false);

/** The rest of a name after a '[' never closed: its ' ', '.' and '[' as '_'. */
const unbracketed = (rest: string): string => replaced(rest, true);

/** `text` with each ' ' and '.' (and '[' too, when told) as '_': one pass. */
function replaced(text: string, brackets: boolean): string {
  let out = '';
  let from = 0;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === SPACE || code === DOT || (brackets && code === OPEN)) {
      out += `${text.slice(from, at)}_`;
      from = at + 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}
