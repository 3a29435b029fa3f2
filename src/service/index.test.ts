import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Stack, startStack } from '../test-support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const file = readFileSync(new URL('../../openapi/openapi.yaml', import.meta.url), 'utf8');

describe('the service endpoints', () => {
  it('serve the hand-written spec unchanged at /openapi.yaml', async () => {
    const response = await fetch(`${stack.gateway.url}/openapi.yaml`);
    expect(response.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(await response.text()).toBe(file);
  });

  it('serve the same document as JSON at /openapi.json', async () => {
    const response = await fetch(`${stack.gateway.url}/openapi.json`);
    expect(await response.json()).toEqual(parse(file));
  });

  it('answer /healthz', async () => {
    const response = await fetch(`${stack.gateway.url}/healthz`);
    expect([response.status, await response.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('answer other methods with 405 and Allow', async () => {
    const response = await fetch(`${stack.gateway.url}/healthz`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect((await response.json()).error).toBe('METHOD_NOT_ALLOWED');
  });
});
