// What PHP, and Bitrix24's REST layer on it, does with any method's parameters: casts, `isset`, `empty`,
// form keys, upper-cased keys. Each method's own checks (src/operations/<method>/) are written with these;
// the emulator answers by them, and the gateway consults them first, so that any input Bitrix24 would
// reject gets Bitrix24's own code.

/** Request parameters as PHP sees them: a decoded JSON object, or a form parsed with PHP's key rules. */
export type PhpParams = Record<string, unknown>;

/**
 * What a method's parameter checks conclude: the parameters pass, the first failing check's code, or a PHP
 * error the server would answer 500 (e.g. a list where a method reads a scalar).
 */
export type Verdict =
  | { outcome: 'accepted' }
  | { outcome: 'rejected'; code: string }
  | { outcome: 'crashed'; reason: string };

/** PHP's `isset()`: present and not null. Only own properties count: nothing is read through a prototype. */
export function isSet(params: PhpParams, key: string): boolean {
  return Object.hasOwn(params, key) && params[key] !== undefined && params[key] !== null;
}

/** An empty parameter map without a prototype, so that no caller's key (`__proto__`, `constructor`) is special. */
export function emptyParams(): PhpParams {
  return Object.create(null) as PhpParams;
}

/** PHP's `empty()`. */
export function phpEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '' || value === '0' || value === 0)
    return true;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

const LOWER = /[a-z]/;

/**
 * PHP's `array_change_key_case($params, CASE_UPPER)`, which some methods apply before they read their
 * parameters: top-level keys only, ASCII letters only; of two keys that meet, the later one wins.
 */
export function upperCaseKeys(params: PhpParams): PhpParams {
  const upper = emptyParams();
  for (const [key, value] of Object.entries(params))
    upper[LOWER.test(key) ? key.replace(/[a-z]+/g, (l) => l.toUpperCase()) : key] = value;
  return upper;
}

/** PHP's `(int)` cast. */
export function phpInt(value: unknown): number {
  if (value === undefined || value === null || value === false) return 0;
  if (value === true) return 1;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) || 0 : 0;
  if (typeof value === 'string') {
    // A leading numeric prefix counts ("12abc" is 12, " 1e3" is 1000); anything else is 0.
    const numeric = /^[ \t\n\r\v\f]*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/.exec(value);
    return numeric ? phpInt(Number(numeric[1])) : 0;
  }
  if (typeof value === 'object') return Object.keys(value).length > 0 ? 1 : 0;
  return 0;
}

/** PHP's `(string)` cast of a scalar. */
export function phpString(value: string | number | boolean): string {
  if (value === true) return '1';
  if (value === false) return '';
  return String(value);
}

export { integerKey, MAX_INPUT_NESTING, phpFormParams, type StepMeter } from './form-keys';
