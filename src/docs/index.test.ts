import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('/docs', () => {
  it('serves the Redoc page, with its scripts from this origin only', async () => {
    const response = await fetch(`${stack.gateway.url}/docs`);
    const html = await response.text();
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(html).toContain('docs/redoc.standalone.js');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it.each([['redoc.standalone.js'], ['docs.js']])('serves %s as JavaScript', async (asset) => {
    const response = await fetch(`${stack.gateway.url}/docs/${asset}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/javascript');
    expect((await response.text()).length).toBeGreaterThan(100);
  });

  it('points the page at the served spec, every response expanded', async () => {
    const init = await (await fetch(`${stack.gateway.url}/docs/docs.js`)).text();
    expect(init).toContain("Redoc.init('openapi.json'");
    expect(init).toContain("expandResponses: 'all'");
  });

  it('answers any other file 404 in the envelope', async () => {
    const response = await fetch(`${stack.gateway.url}/docs/index.html`);
    expect([response.status, (await response.json()).error]).toEqual([404, 'ERROR_METHOD_NOT_FOUND']);
  });

  it('redirects /docs/ to /docs, relatively (so behind a path prefix too)', async () => {
    const response = await fetch(`${stack.gateway.url}/docs/`, { redirect: 'manual' });
    expect([response.status, response.headers.get('location')]).toEqual([308, '../docs']);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(new URL('../docs', `${stack.gateway.url}/docs/`).pathname).toBe('/docs');
    expect(new URL('../docs', 'https://example.com/gateway/docs/').pathname).toBe('/gateway/docs');
  });

  it("answers /favicon.ico 204, so that a browser's console has no 404", async () => {
    const response = await fetch(`${stack.gateway.url}/favicon.ico`);
    expect([response.status, await response.text()]).toEqual([204, '']);
  });
});
