import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { AnswerResponse, SECURITY_HEADERS } from './answer-headers';
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

  describe('AnswerResponse, on a real server', () => {
    const answered = async (listener: RequestListener<typeof IncomingMessage, typeof AnswerResponse>) => {
      const server = createServer({ ServerResponse: AnswerResponse }, listener).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const response = await fetch(`http://127.0.0.1:${port}/`);
        return { status: response.status, statusText: response.statusText, headers: response.headers };
      } finally {
        server.close();
      }
    };

    it("writes the gateway's headers beside an answer's own, whichever form Node is given them in", async () => {
      const forms: Record<string, RequestListener<typeof IncomingMessage, typeof AnswerResponse>> = {
        object: (_, res) => res.writeHead(201, { 'Content-Type': 'text/plain' }).end('x'),
        'flat list': (_, res) => res.writeHead(201, ['content-type', 'text/plain']).end('x'),
        'with a reason': (_, res) => res.writeHead(201, 'Made', { 'content-type': 'text/plain' }).end('x'),
        'set first': (_, res) => {
          res.setHeader('content-type', 'text/plain');
          res.statusCode = 201;
          res.end('x');
        },
      };
      for (const [form, listener] of Object.entries(forms)) {
        const { status, headers } = await answered((req, res) => {
          res.requestId = 'given-1';
          listener(req, res);
        });
        expect(status, form).toBe(201);
        expect(headers.get('content-type'), form).toBe('text/plain');
        expect(securityHeadersOf(headers), form).toEqual(SECURITY_HEADERS);
        expect(headers.get('x-request-id'), form).toBe('given-1');
      }
    });

    it("lets an answer's own value of one of them win, sent once, in any case of its name", async () => {
      const { headers, statusText } = await answered((_, res) => {
        res.setHeader('Referrer-Policy', 'same-origin');
        res.writeHead(200, 'Fine', { 'X-Frame-Options': 'DENY', 'x-request-id': 'own' }).end();
      });
      expect(statusText).toBe('Fine');
      expect(headers.get('x-frame-options')).toBe('DENY');
      expect(headers.get('referrer-policy')).toBe('same-origin');
      expect(headers.get('x-request-id')).toBe('own');
      expect(headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('gives an answer written before the app saw the request a new X-Request-Id', async () => {
      const { headers } = await answered((_, res) => res.writeHead(400).end());
      expect(headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(securityHeadersOf(headers)).toEqual(SECURITY_HEADERS);
    });
  });
});
