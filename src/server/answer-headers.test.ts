import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { SECURITY_HEADERS } from './answer-headers';
import { gatewayApp } from './app';

const entriesOf = (headers: Headers) => {
  const entries: [string, string][] = [];
  headers.forEach((value, name) => {
    entries.push([name, value]);
  });
  return entries;
};
const securityHeadersOf = (headers: Headers) =>
  Object.fromEntries(entriesOf(headers).filter(([name]) => name in SECURITY_HEADERS || name === 'x-powered-by'));

describe('answer headers', () => {
  it("are Hono's secureHeaders() defaults, no more and no fewer", async () => {
    const app = new Hono().use(secureHeaders()).get('/', (c) => c.text('x'));
    const hono = Object.fromEntries(
      entriesOf((await app.request('/')).headers).filter(([name]) => name !== 'content-type'),
    );
    expect(SECURITY_HEADERS).toEqual(hono);
  });

  it("reach every kind of answer on a real server, beside the answer's own", async () => {
    const stack: Stack = await startStack({});
    try {
      const got = async (response: Response) => ({
        status: response.status,
        headers: response.headers,
        body: await response.text(),
      });
      const answers = {
        transferred: await stack.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 }),
        rejected: await stack.post(TRANSFER, { CHAT_ID: '12abc', USER_ID: 2 }),
        docs: await got(await fetch(`${stack.gateway.url}/docs`)),
        spec: await got(await fetch(`${stack.gateway.url}/openapi.json`)),
        unknownPath: await got(await fetch(`${stack.gateway.url}/nowhere`)),
        otherMethod: await got(await fetch(`${stack.gateway.url}${TRANSFER}`, { method: 'DELETE' })),
      };
      for (const [kind, answer] of Object.entries(answers)) {
        expect(securityHeadersOf(answer.headers), kind).toEqual(SECURITY_HEADERS);
        expect(answer.headers.get('x-request-id'), kind).toMatch(/^[0-9a-f-]{36}$/);
      }
      expect(answers.transferred.status).toBe(200);
      expect(answers.rejected.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(answers.docs.headers.get('content-security-policy')).toContain("default-src 'self'");
    } finally {
      await stack.close();
    }
  });

  it('go through Hono without a Node server (app.request)', async () => {
    const app = gatewayApp({
      config: { apiKeys: new Map(), allowAnonymous: true, bodyLimitBytes: 1024 },
      mode: 'webhook',
      callUpstream: () => Promise.reject(new Error('not called')),
      logger: createLogger('silent'),
    });
    const answer = await app.request(TRANSFER, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'kept-1' },
      body: '{"CHAT_ID":"12abc"}',
    });
    expect(answer.status).toBe(400);
    expect(securityHeadersOf(answer.headers)).toEqual(SECURITY_HEADERS);
    expect(answer.headers.get('x-request-id')).toBe('kept-1');
  });
});
