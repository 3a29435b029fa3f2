import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { servedSpec } from '../spec/served';
import { type Stack, startStack } from '../test-support/stack';
import type { UpstreamReport } from '../upstream-health';
import { serviceRoutes } from '.';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const file = readFileSync(new URL('../../openapi/openapi.yaml', import.meta.url), 'utf8');
// The stack's gateway: webhook mode (to the emulator), no keys, so anonymous callers.
const served = servedSpec(file, { upstream: 'webhook', anonymous: true });

describe('the service endpoints', () => {
  it('serve the spec as this gateway serves it at /openapi.yaml, as YAML', async () => {
    const response = await fetch(`${stack.gateway.url}/openapi.yaml`);
    expect(response.headers.get('content-type')).toMatch(/^application\/yaml/);
    const text = await response.text();
    expect(text).toBe(served.yaml);
    expect(parse(text).info['x-served-for']).toEqual({ upstream: 'webhook', anonymous: true });
  });

  it('serve the same document as JSON at /openapi.json', async () => {
    const response = await fetch(`${stack.gateway.url}/openapi.json`);
    expect(await response.json()).toEqual(parse(served.yaml));
  });

  it('serve the document of their configuration: an OAuth gateway with keys requires auth and a key', async () => {
    const oauth = await startStack({
      mode: 'oauth',
      config: { apiKeys: new Map([['service-key-0123456789', 'svc']]), allowAnonymous: false },
    });
    try {
      const document = await (await fetch(`${oauth.gateway.url}/openapi.json`)).json();
      expect(document.info['x-served-for']).toEqual({ upstream: 'oauth', anonymous: false });
      expect(document.components.schemas.TransferRequest.required).toEqual(['CHAT_ID', 'auth']);
      expect(document.security).toEqual([{ GatewayApiKey: [] }]);
    } finally {
      await oauth.close();
    }
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

describe('/readyz and the portal', () => {
  const readiness = async (upstream: UpstreamReport) => {
    const app = serviceRoutes({ isShuttingDown: () => false, served, upstreamReadiness: () => upstream });
    const response = await app.request('/readyz');
    return [response.status, await response.json()];
  };

  it("is 503 not-ready while Bitrix24 refuses the gateway's own webhook, and says why", async () => {
    const refused = { state: 'refused', problem: "Bitrix24 refused the gateway's webhook" } as const;
    expect(await readiness(refused)).toEqual([503, { status: 'not-ready', limiter: 'in-process', upstream: refused }]);
  });

  it('stays ready while the portal cannot be reached (the same for every replica), and says so', async () => {
    const down = { state: 'unreachable', problem: 'Bitrix24 could not be reached (ECONNREFUSED)' } as const;
    expect(await readiness(down)).toEqual([200, { status: 'ready', limiter: 'in-process', upstream: down }]);
    expect(await readiness({ state: 'unknown' })).toEqual([
      200,
      { status: 'ready', limiter: 'in-process', upstream: { state: 'unknown' } },
    ]);
  });
});
