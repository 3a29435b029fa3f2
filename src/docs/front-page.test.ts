import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spec } from '../spec';
import { type Stack, startStack } from '../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

/** The links of a page, as written (`href="…"`). */
const links = (html: string) => [...html.matchAll(/<a href="([^"]*)"/g)].map((match) => match[1]!);

describe('GET /', () => {
  it('is a page for a person that links to the docs, the spec and the health endpoints', async () => {
    const response = await fetch(`${stack.gateway.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/i);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await response.text();
    expect(links(html)).toEqual(expect.arrayContaining(['docs', 'openapi.json', 'healthz']));
    // It loads nothing, and names no other host.
    expect(html).not.toMatch(/<(script|link|img|style)\b|https?:\/\//i);
  });

  it('links only to what the spec documents, and each link answers 200 (relative, so behind a prefix too)', async () => {
    const page = `${stack.gateway.url}/`;
    const html = await (await fetch(page)).text();
    for (const link of links(html)) {
      const target = new URL(link, page);
      expect(Object.keys(spec.paths), link).toContain(target.pathname);
      expect((await fetch(target)).status, link).toBe(200);
      expect(new URL(link, 'https://example.com/gateway/').pathname).toBe(`/gateway${target.pathname}`);
    }
  });

  it('answers HEAD as GET without the body, and other methods 405 with Allow', async () => {
    const head = await fetch(`${stack.gateway.url}/`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect(head.headers.get('content-type')).toMatch(/^text\/html/);
    const post = await fetch(`${stack.gateway.url}/`, { method: 'POST' });
    expect([post.status, (await post.json()).error, post.headers.get('allow')]).toEqual([
      405,
      'METHOD_NOT_ALLOWED',
      'GET, HEAD',
    ]);
  });

  it('leaves every other unknown path a 404 in the envelope', async () => {
    const response = await fetch(`${stack.gateway.url}/index.html`);
    expect([response.status, (await response.json()).error]).toEqual([404, 'ERROR_METHOD_NOT_FOUND']);
  });
});
