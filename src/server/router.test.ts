import fc from 'fast-check';
import { TrieRouter } from 'hono/router/trie-router';
import { describe, expect, it } from 'vitest';
import { GatewayRouter } from './router';

// Routes shaped as the gateway's: middleware on every path, a method's own path, the webhook-style one,
// a catch-all for unknown methods, service routes.
const routes: [string, string][] = [
  ['ALL', '*'],
  ['POST', '/rest/imopenlines.bot.session.transfer'],
  ['POST', '/rest/:userId/:secret/imopenlines.bot.session.transfer'],
  ['ALL', '/rest/:method'],
  ['GET', '/healthz'],
  ['GET', '/openapi.json'],
];
const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
const paths = [
  '/rest/imopenlines.bot.session.transfer',
  '/rest/1/key-0123/imopenlines.bot.session.transfer',
  '/rest/unknown.method',
  '/healthz',
  '/openapi.json',
  '/',
  '/healthz/',
];

function both() {
  const memo = new GatewayRouter<string>();
  const trie = new TrieRouter<string>();
  for (const [method, path] of routes) {
    memo.add(method, path, `${method} ${path}`);
    trie.add(method, path, `${method} ${path}`);
  }
  return { memo, trie };
}

describe('GatewayRouter', () => {
  it("matches as Hono's TrieRouter does, the first time and every time after", () => {
    const { memo, trie } = both();
    fc.assert(
      fc.property(fc.constantFrom(...methods), fc.oneof(fc.constantFrom(...paths), fc.webPath()), (method, path) => {
        const expected = trie.match(method, path);
        expect(memo.match(method, path)).toEqual(expected);
        expect(memo.match(method, path)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('remembers only the routes declared without parameters, however many other paths are asked for', () => {
    const { memo } = both();
    fc.assert(
      fc.property(fc.constantFrom(...methods), fc.oneof(fc.constantFrom(...paths), fc.webPath()), (method, path) => {
        memo.match(method, path);
      }),
      { numRuns: 2_000 },
    );
    for (let i = 0; i < 1_000; i++) memo.match('POST', `/rest/1/key-${i}/imopenlines.bot.session.transfer`);
    const staticPaths = routes.filter(([, path]) => !/[:*]/.test(path)).length;
    expect(memo.remembered).toBeGreaterThan(0);
    expect(memo.remembered).toBeLessThanOrEqual(staticPaths * methods.length);
  });

  it('forgets what it remembered when a route is added', () => {
    const memo = new GatewayRouter<string>();
    memo.add('GET', '/healthz', 'first');
    expect(memo.match('GET', '/healthz')[0].map(([handler]) => handler)).toEqual(['first']);
    memo.add('ALL', '*', 'later');
    expect(memo.match('GET', '/healthz')[0].map(([handler]) => handler)).toEqual(['first', 'later']);
  });
});
