/** Shorter strings are not secret-like, and redacting them would garble ordinary words. */
const MIN_SECRET_LENGTH = 4;
const REDACTED = '[redacted]';

/**
 * Replaces secrets (the webhook code, CLIENT_ID, tokens, keys) in text with `[redacted]`, as written and as
 * they would appear in a URL. Built once with the gateway's own secrets; `with` adds a request's cheaply,
 * since the usual answer holds no secret and only `mayBeIn` runs for it.
 */
export class Redactor {
  #own: readonly string[];
  readonly #parent: Redactor | undefined;

  constructor(secrets: Iterable<string | undefined> = [], parent?: Redactor) {
    this.#own = variants([...secrets]);
    this.#parent = parent;
  }

  /** Adds secrets for good (a rotated API key stays one: it may be quoted back for a while). */
  add(more: (string | undefined)[]): void {
    this.#own = [...this.#own, ...variants(more)];
  }

  /** This redactor and `more` (a request's own secrets). */
  with(more: (string | undefined)[]): Redactor {
    return variants(more).length > 0 ? new Redactor(more, this) : this;
  }

  /**
   * False when `json` (a JSON text) certainly holds no secret: none appears in it as written, and it has no
   * escape that could spell one (`\/`, `\u0041`). Lets the usual answer skip the full pass.
   */
  mayBeIn(json: string): boolean {
    const secrets = this.#all();
    return secrets.length > 0 && (json.includes('\\') || secrets.some((secret) => json.includes(secret)));
  }

  redact(text: string): string {
    let result = text;
    // Longest first, so that a secret containing another is redacted whole.
    for (const secret of [...this.#all()].sort((a, b) => b.length - a.length)) {
      if (result.includes(secret)) result = result.split(secret).join(REDACTED);
    }
    return result;
  }

  #all(): readonly string[] {
    return this.#parent ? [...this.#parent.#all(), ...this.#own] : this.#own;
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
