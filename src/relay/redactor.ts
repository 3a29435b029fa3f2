/** Shorter strings are not secret-like, and redacting them would garble ordinary words. */
const MIN_SECRET_LENGTH = 4;
const REDACTED = '[redacted]';

/**
 * Replaces secrets (the webhook code, CLIENT_ID, tokens, keys) in text with `[redacted]`, as written and as
 * they would appear in a URL, in any case: Bitrix24 may echo a webhook code or a key upper- or lower-cased
 * (`ABC123`, `abc123`, `%2f` for `%2F`). Built once with the gateway's own secrets; `with` adds a request's
 * cheaply, since the usual answer holds no secret and only `mayBeIn` runs for it.
 *
 * Text and secrets are compared case-folded (each UTF-16 unit lower-cased where that keeps its length, which
 * every ASCII letter does), by one Aho-Corasick automaton per set of secrets: one pass over the text finds
 * every occurrence of every secret, in time linear in the text whatever the secrets, with no regular
 * expression to backtrack. Every character inside an occurrence is hidden, each run of them by one
 * `[redacted]`, so that a secret inside or overlapping another is hidden whole.
 */
export class Redactor {
  #own: readonly string[];
  #matcher: Matcher | undefined;
  readonly #parent: Redactor | undefined;

  constructor(secrets: Iterable<string | undefined> = [], parent?: Redactor) {
    this.#own = variants([...secrets]);
    this.#parent = parent;
  }

  /** Adds secrets for good (a rotated API key stays one: it may be quoted back for a while). */
  add(more: (string | undefined)[]): void {
    this.#own = [...this.#own, ...variants(more)];
    this.#matcher = undefined;
  }

  /** This redactor and `more` (a request's own secrets). */
  with(more: (string | undefined)[]): Redactor {
    return variants(more).length > 0 ? new Redactor(more, this) : this;
  }

  /**
   * False when `json` (a JSON text) certainly holds no secret: none appears in it in any case, and it has no
   * escape that could spell one (`\/`, `\u0041`). Lets the usual answer skip the full pass.
   */
  mayBeIn(json: string): boolean {
    const matchers = this.#matchers();
    if (matchers.length === 0) return false;
    if (json.includes('\\')) return true;
    const folded = fold(json);
    return matchers.some((matcher) => matcher.finds(folded));
  }

  redact(text: string): string {
    const matchers = this.#matchers();
    if (matchers.length === 0) return text;
    const folded = fold(text);
    // starts[end] = where the longest secret ending at `end` begins (Infinity: none ends there).
    const starts = new Float64Array(folded.length).fill(Number.POSITIVE_INFINITY);
    let found = false;
    for (const matcher of matchers) found = matcher.mark(folded, starts) || found;
    if (!found) return text;
    // From the right, the earliest start of an occurrence ending at or after i: i is hidden when it is <= i.
    const hidden = new Uint8Array(folded.length);
    let earliest = Number.POSITIVE_INFINITY;
    for (let i = folded.length - 1; i >= 0; i--) {
      earliest = Math.min(earliest, starts[i]!);
      if (earliest <= i) hidden[i] = 1;
    }
    let result = '';
    let at = 0;
    while (at < text.length) {
      if (hidden[at]) {
        result += REDACTED;
        while (at < text.length && hidden[at]) at++;
      } else {
        const from = at;
        while (at < text.length && !hidden[at]) at++;
        result += text.slice(from, at);
      }
    }
    return result;
  }

  /** The transitions its automata have taken (tests count them instead of timing a long text). */
  get steps(): number {
    return this.#matchers().reduce((sum, matcher) => sum + matcher.steps, 0);
  }

  /** The automata of this redactor's secrets and its parent's (a request's own beside the gateway's). */
  #matchers(): Matcher[] {
    const parents = this.#parent ? this.#parent.#matchers() : [];
    if (this.#own.length === 0) return parents;
    this.#matcher ??= new Matcher(this.#own.map(fold));
    return [...parents, this.#matcher];
  }
}

const NOT_ASCII = /[\u0080-\uffff]/;

/**
 * Case-folds `text` unit by unit, keeping its length (so that a position in the folded text is the same
 * position in the text): each character lower-cased where its lower case is as long, as every ASCII letter's
 * is; the rare letter whose lower case is longer (`İ`) stays as it is, in the text and in a secret alike.
 */
export function fold(text: string): string {
  // ASCII, the usual text, at once; other text by code point, out of context (a final Σ is σ, as in a secret).
  if (!NOT_ASCII.test(text)) return text.toLowerCase();
  let folded = '';
  // By code point: a surrogate pair is lower-cased whole, into a pair.
  for (const char of text) {
    const lower = char.toLowerCase();
    folded += lower.length === char.length ? lower : char;
  }
  return folded;
}

/**
 * An Aho-Corasick automaton over folded secrets: `goto` moves in the trie, `fail` to the longest proper
 * suffix that is also a prefix of a secret; `longest` is the length of the longest secret that ends at a
 * node (itself, or along its fail links), 0 for none. Matching is one step per unit of the text, amortised.
 */
class Matcher {
  readonly #goto: Map<number, number>[] = [new Map()];
  readonly #fail: number[] = [0];
  readonly #longest: number[] = [0];

  constructor(secrets: readonly string[]) {
    for (const secret of secrets) {
      let node = 0;
      for (let i = 0; i < secret.length; i++) {
        const unit = secret.charCodeAt(i);
        let next = this.#goto[node]!.get(unit);
        if (next === undefined) {
          next = this.#goto.length;
          this.#goto.push(new Map());
          this.#fail.push(0);
          this.#longest.push(0);
          this.#goto[node]!.set(unit, next);
        }
        node = next;
      }
      this.#longest[node] = Math.max(this.#longest[node]!, secret.length);
    }
    // Breadth first: a node's fail link is known before its children's.
    const queue = [...this.#goto[0]!.values()];
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [unit, child] of this.#goto[node]!) {
        let fallback = this.#fail[node]!;
        while (fallback !== 0 && !this.#goto[fallback]!.has(unit)) fallback = this.#fail[fallback]!;
        const target = this.#goto[fallback]!.get(unit);
        this.#fail[child] = target !== undefined && target !== child ? target : 0;
        this.#longest[child] = Math.max(this.#longest[child]!, this.#longest[this.#fail[child]!]!);
        queue.push(child);
      }
    }
  }

  /** Transitions taken so far, fail links included: for tests to hold matching to the text's length. */
  steps = 0;

  #step(node: number, unit: number): number {
    let at = node;
    for (;;) {
      this.steps++;
      const next = this.#goto[at]!.get(unit);
      if (next !== undefined) return next;
      if (at === 0) return 0;
      at = this.#fail[at]!;
    }
  }

  /** True when a secret occurs in `folded`. */
  finds(folded: string): boolean {
    let node = 0;
    for (let i = 0; i < folded.length; i++) {
      node = this.#step(node, folded.charCodeAt(i));
      if (this.#longest[node]! > 0) return true;
    }
    return false;
  }

  /** Notes in `starts` where the longest secret ending at each unit begins; true when any does. */
  mark(folded: string, starts: Float64Array): boolean {
    let node = 0;
    let found = false;
    for (let i = 0; i < folded.length; i++) {
      node = this.#step(node, folded.charCodeAt(i));
      const length = this.#longest[node]!;
      if (length > 0) {
        starts[i] = Math.min(starts[i]!, i - length + 1);
        found = true;
      }
    }
    return found;
  }
}

/** Each secret long enough to be one, as written and URL-encoded. */
function variants(secrets: (string | undefined)[]): string[] {
  const forms: string[] = [];
  for (const secret of secrets) {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH) continue;
    forms.push(secret);
    // Most secrets are URL-safe already; only the others have a second form.
    if (/[^A-Za-z0-9\-_.!~*'()]/.test(secret)) forms.push(encodeURIComponent(secret));
  }
  return forms;
}
