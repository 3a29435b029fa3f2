import type { Result, Router } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';

/** More than the gateway's static routes times HTTP's methods: the memo can never grow past it. */
const MAX_MATCHES = 512;

/**
 * Hono's TrieRouter, the fastest of Hono's routers that holds the gateway's routes (RegExpRouter cannot
 * have `/rest/{method}` beside the webhook-style `/rest/:userId/:secret/{method}`; LinearRouter and
 * PatternRouter matched our paths in 34 and 7 µs against the trie's 2: bench/results.md, 2026-12-04), with
 * the match of a path that is a route of its own, without parameters (every method's own path, /healthz),
 * remembered by method and path: the trie's walk and sort was about 3 % of a request's CPU. Any other path
 * (a webhook-style path holding a key, a mistyped one) is matched afresh, so the memo holds only routes the
 * gateway itself declared.
 */
export class GatewayRouter<T> implements Router<T> {
  readonly name = 'GatewayRouter';
  readonly #trie = new TrieRouter<T>();
  readonly #staticPaths = new Set<string>();
  readonly #matches = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (!/[:*{}?]/.test(path)) this.#staticPaths.add(path);
    // A route added later can change what an earlier path matched.
    this.#matches.clear();
  }

  match(method: string, path: string): Result<T> {
    if (!this.#staticPaths.has(path)) return this.#trie.match(method, path);
    const key = `${method} ${path}`;
    let result = this.#matches.get(key);
    if (result === undefined) {
      result = this.#trie.match(method, path);
      if (this.#matches.size < MAX_MATCHES) this.#matches.set(key, result);
    }
    return result;
  }

  /** How many matches are remembered. */
  get remembered(): number {
    return this.#matches.size;
  }
}
