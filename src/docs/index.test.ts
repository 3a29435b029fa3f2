import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('/docs', () => {
  it('serves the Swagger UI page, with its assets from this origin only', async () => {
    const response = await fetch(`${stack.gateway.url}/docs`);
    const html = await response.text();
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(html).toContain('docs/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it.each([
    ['swagger-ui.css', 'text/css'],
    ['swagger-ui-bundle.js', 'text/javascript'],
    ['docs.js', 'text/javascript'],
  ])('serves %s as %s', async (asset, type) => {
    const response = await fetch(`${stack.gateway.url}/docs/${asset}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain(type);
    expect((await response.text()).length).toBeGreaterThan(100);
  });

  it('points the page at the served spec, with the online validator off', async () => {
    const init = await (await fetch(`${stack.gateway.url}/docs/docs.js`)).text();
    expect(init).toContain("url: 'openapi.json'");
    expect(init).toContain('validatorUrl: null');
  });

  it('answers any other file 404 in the envelope', async () => {
    const response = await fetch(`${stack.gateway.url}/docs/index.html`);
    expect([response.status, (await response.json()).error]).toEqual([404, 'ERROR_METHOD_NOT_FOUND']);
  });
});
