// What Bitrix24 itself does with the parameters of imopenlines.bot.session.transfer: PHP's casts and the
// server's check order (modules/imopenlines/lib/rest.php, botSessionTransfer). The emulator answers by it;
// the gateway consults it first, so that any input Bitrix24 would reject gets Bitrix24's own code.

/** Request parameters as PHP sees them: a decoded JSON object, or a form parsed with PHP's key rules. */
export type PhpParams = Record<string, unknown>;

/** Bitrix24's validation codes for this method. */
export type ValidationCode = 'CHAT_ID_EMPTY' | 'USER_ID_EMPTY' | 'QUEUE_ID_EMPTY' | 'TRANSFER_ID_EMPTY';

export type Destination = { kind: 'user'; id: number } | { kind: 'queue'; id: number };

export type Verdict =
  | { outcome: 'accepted'; chatId: number; destination: Destination; leave: 'Y' | 'N' }
  | { outcome: 'rejected'; code: ValidationCode }
  /** The server would fail with a PHP error (an HTTP 500), e.g. on an array TRANSFER_ID. */
  | { outcome: 'crashed'; reason: string };

/** PHP's `isset()`: present and not null. Only own properties count: nothing is read through a prototype. */
export function isSet(params: PhpParams, key: string): boolean {
  return Object.hasOwn(params, key) && params[key] !== undefined && params[key] !== null;
}

/** An empty parameter map without a prototype, so that no caller's key (`__proto__`, `constructor`) is special. */
export function emptyParams(): PhpParams {
  return Object.create(null) as PhpParams;
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

/** Bitrix24's checks 2 to 4, in its order; the first failing one is the answer. */
export function checkTransfer(input: PhpParams): Verdict {
  const params = Object.assign(emptyParams(), input);
  const chatId = phpInt(params.CHAT_ID);
  const leave = params.LEAVE === 'Y' ? 'Y' : 'N';
  if (chatId <= 0) return { outcome: 'rejected', code: 'CHAT_ID_EMPTY' };

  if (isSet(params, 'TRANSFER_ID')) {
    const transferId = params.TRANSFER_ID;
    if (typeof transferId === 'object') return { outcome: 'crashed', reason: 'TRANSFER_ID is not a scalar' };
    const text = phpString(transferId as string | number | boolean);
    if (text.startsWith('queue')) params.QUEUE_ID = text.slice('queue'.length);
    else params.USER_ID = transferId;
  }

  if (isSet(params, 'USER_ID')) {
    const id = phpInt(params.USER_ID);
    if (id <= 0) return { outcome: 'rejected', code: 'USER_ID_EMPTY' };
    return { outcome: 'accepted', chatId, destination: { kind: 'user', id }, leave };
  }
  if (isSet(params, 'QUEUE_ID')) {
    const id = phpInt(params.QUEUE_ID);
    if (id <= 0) return { outcome: 'rejected', code: 'QUEUE_ID_EMPTY' };
    return { outcome: 'accepted', chatId, destination: { kind: 'queue', id }, leave };
  }
  return { outcome: 'rejected', code: 'TRANSFER_ID_EMPTY' };
}

/** PHP's `max_input_nesting_level`: a key nested deeper is dropped, as PHP drops it. */
export const MAX_INPUT_NESTING = 64;

/**
 * PHP's parsing of form keys: `a=1&a=2` keeps the last value, `a[]=1&a[]=2` makes a list and `a[k]=1`
 * a map (nested brackets nest). Takes the entries in the order they were sent. Every map it builds has no
 * prototype, so `__proto__[x]=1` is a parameter named `__proto__`, never a write to `Object.prototype`.
 */
export function phpFormParams(entries: Iterable<[string, string]>): PhpParams {
  const params = emptyParams();
  for (const [rawKey, value] of entries) {
    const match = /^([^[]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    if (!match?.[2]) {
      params[rawKey] = value;
      continue;
    }
    const path = [...match[2].matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
    if (path.length > MAX_INPUT_NESTING) continue;
    let at = params;
    let key = match[1]!;
    for (const segment of path) {
      const existing = Object.hasOwn(at, key) ? at[key] : undefined;
      const container = typeof existing === 'object' && existing !== null ? (existing as PhpParams) : emptyParams();
      at[key] = container;
      at = container;
      key = segment === '' ? String(Object.keys(container).length) : segment;
    }
    at[key] = value;
  }
  return params;
}

/** The Bitrix24 server's text for each validation code. */
export const validationMessages: Record<ValidationCode, string> = {
  CHAT_ID_EMPTY: "Chat ID can't be empty",
  USER_ID_EMPTY: "User ID can't be empty",
  QUEUE_ID_EMPTY: "QUEUE ID can't be empty",
  TRANSFER_ID_EMPTY: "Queue ID or User ID can't be empty",
};
