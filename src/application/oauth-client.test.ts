// The authorization server's client through real HTTP: a loopback server plays the authorization server
// (what it answers is each test's), and every error the client throws is searched for the secrets it held.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../test-support/ports';
import { OAuthClient, OAuthRefused, OAuthUnavailable } from './oauth-client';

const CLIENT_ID = 'local.client-id-4f1c';
const CLIENT_SECRET = 'client-secret-Zq81xT0pLk';
const REFRESH_TOKEN = 'refresh-token-8f7e6d5c4b3a';
const SECRETS = [CLIENT_SECRET, REFRESH_TOKEN, 'access-token-new-1a2b3c', 'refresh-token-new-9z8y7x'];

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback HTTP server whose answer is `handle`'s; it keeps what it was sent. */
async function authorizationServer() {
  const seen: Seen[] = [];
  const state = {
    handle: (_seen: Seen, response: ServerResponse): void => {
      response.writeHead(404).end();
    },
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const one = {
        method: request.method!,
        url: request.url!,
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(one);
      state.handle(one, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    seen,
    state,
    host: `127.0.0.1:${port}`,
    url: new URL(`http://127.0.0.1:${port}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type AuthServer = Awaited<ReturnType<typeof authorizationServer>>;

const goodAnswer = (host: string) => ({
  access_token: 'access-token-new-1a2b3c',
  refresh_token: 'refresh-token-new-9z8y7x',
  expires: 1_900_000_000,
  expires_in: 3600,
  scope: 'imbot,imopenlines',
  domain: 'oauth.bitrix.info',
  server_endpoint: `http://${host}/rest/`,
  client_endpoint: 'https://portal.bitrix24.com/rest/',
  member_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  user_id: 1,
  status: 'L',
});

const json = (status: number, body: unknown) => (_seen: Seen, response: ServerResponse) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** The error the promise rejects with, after checking that no secret is in any of its words. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (caught: unknown) => caught as Error,
  );
  const words = `${error.message}\n${error.stack}\n${JSON.stringify(error)}\n${JSON.stringify({ ...error })}`;
  for (const secret of SECRETS) expect(words).not.toContain(secret);
  return error;
}

let server: AuthServer;
let other: AuthServer;
let client: OAuthClient;

beforeAll(async () => {
  [server, other] = await Promise.all([authorizationServer(), authorizationServer()]);
});
afterAll(() => Promise.all([server.close(), other.close()]));

function clientOf(options: Partial<ConstructorParameters<typeof OAuthClient>[0]> = {}): OAuthClient {
  client = new OAuthClient({
    oauthUrl: server.url,
    trustedHosts: [],
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    timeoutMs: 2_000,
    ...options,
  });
  return client;
}

afterEach(async () => {
  await client?.close();
  server.seen.length = 0;
  other.seen.length = 0;
});

describe('OAuthClient.refresh', () => {
  it('POSTs the grant as a form to /oauth/token/, nothing in the URL, and answers the checked token answer', async () => {
    server.state.handle = json(200, { ...goodAnswer(server.host), extra: 'ignored' });
    const answer = await clientOf().refresh(REFRESH_TOKEN);
    expect(answer).toEqual(goodAnswer(server.host));
    expect(server.seen).toHaveLength(1);
    const [request] = server.seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/oauth/token/');
    expect(request!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(request!.body))).toEqual({
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: REFRESH_TOKEN,
    });
  });

  it("keeps the configured URL's path before oauth/token/", async () => {
    server.state.handle = json(200, goodAnswer(server.host));
    await clientOf({ oauthUrl: new URL('/cloud/', server.url) }).refresh(REFRESH_TOKEN);
    expect(server.seen.map(({ url }) => url)).toEqual(['/cloud/oauth/token/']);
  });

  it("follows a server_endpoint whose host is trusted, to its origin's /oauth/token/", async () => {
    other.state.handle = json(200, goodAnswer(other.host));
    const answer = await clientOf({ trustedHosts: [other.host] }).refresh(REFRESH_TOKEN, `http://${other.host}/rest/`);
    expect(answer.access_token).toBe('access-token-new-1a2b3c');
    expect(other.seen.map(({ url }) => url)).toEqual(['/oauth/token/']);
    expect(server.seen).toEqual([]);
  });

  it('ignores a server_endpoint whose host is not trusted: the secret goes to the configured server only', async () => {
    server.state.handle = json(200, goodAnswer(server.host));
    other.state.handle = json(200, goodAnswer(other.host));
    await clientOf({ trustedHosts: ['oauth.bitrix.info'] }).refresh(REFRESH_TOKEN, `http://${other.host}/rest/`);
    expect(server.seen).toHaveLength(1);
    expect(other.seen).toEqual([]);
  });

  it.each([
    ['a trusted host over http', 'http://oauth.bitrix24.tech/rest/', 'http://127.0.0.1:1/oauth/token/'],
    ['an untrusted host', 'https://evil.example/rest/', 'http://127.0.0.1:1/oauth/token/'],
    ['a trusted name as a prefix', 'https://oauth.bitrix24.tech.evil.example/rest/', 'http://127.0.0.1:1/oauth/token/'],
    ['credentials in the URL', 'https://user:pass@oauth.bitrix24.tech/rest/', 'http://127.0.0.1:1/oauth/token/'],
    ['another port', 'https://oauth.bitrix24.tech:8443/rest/', 'http://127.0.0.1:1/oauth/token/'],
    ['not a URL', 'oauth.bitrix24.tech', 'http://127.0.0.1:1/oauth/token/'],
    ['a trusted host', 'https://OAUTH.bitrix24.tech/rest/', 'https://oauth.bitrix24.tech/oauth/token/'],
    [
      'a trusted host, any path',
      'https://oauth.bitrix24.tech/elsewhere/?x=1',
      'https://oauth.bitrix24.tech/oauth/token/',
    ],
  ])('for %s (%s) sends to %s', (_what, endpoint, expected) => {
    const tokenUrl = clientOf({
      oauthUrl: new URL('http://127.0.0.1:1'),
      trustedHosts: ['oauth.bitrix24.tech'],
    }).tokenUrl(endpoint);
    expect(tokenUrl.href).toBe(expected);
  });

  it.each([
    [400, 'invalid_grant', 'invalid_grant'],
    [401, 'invalid_client', 'invalid_client'],
    [400, 'unsupported_grant_type', 'other'],
    [200, 'NO_AUTH_FOUND', 'other'],
  ] as const)('HTTP %i with error %s is OAuthRefused %s, without the description', async (status, error, code) => {
    // A description that quotes what was sent must not reach the error.
    server.state.handle = json(status, { error, error_description: `bad ${REFRESH_TOKEN} for ${CLIENT_SECRET}` });
    const refused = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(refused).toBeInstanceOf(OAuthRefused);
    expect(refused).toMatchObject({ code, status, serverCode: error });
  });

  it('names no server code that is not a short plain word', async () => {
    server.state.handle = json(400, { error: `wrong ${REFRESH_TOKEN}` });
    const refused = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(refused).toMatchObject({ name: 'OAuthRefused', code: 'other', serverCode: undefined });
  });

  it.each([
    ['a server failure, even with an error', json(500, { error: 'invalid_grant' }), 'HTTP 500'],
    ['a server shedding load', json(503, { error: 'temporarily_unavailable' }), 'HTTP 503'],
    ['too many requests', json(429, {}), 'HTTP 429'],
    [
      'a redirect, not followed',
      (_: Seen, r: ServerResponse) => r.writeHead(302, { location: '/x' }).end(),
      'HTTP 302',
    ],
    ['a 400 page that is not JSON', (_: Seen, r: ServerResponse) => r.writeHead(400).end('<html>'), 'not JSON'],
    ['an answer that is not UTF-8', (_: Seen, r: ServerResponse) => r.end(Buffer.from([0x7b, 0xff, 0x7d])), 'UTF-8'],
    ['bytes that are not HTTP', (_: Seen, r: ServerResponse) => r.socket!.end('garbage\r\n\r\n'), 'not valid HTTP'],
  ])('%s is OAuthUnavailable bad-response', async (_what, handle, detail) => {
    server.state.handle = handle;
    const unavailable = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(unavailable).toBeInstanceOf(OAuthUnavailable);
    expect(unavailable).toMatchObject({ kind: 'bad-response' });
    expect((unavailable as OAuthUnavailable).detail).toContain(detail);
  });

  it.each([
    ['a declared length', true],
    ['chunks', false],
  ])('an answer larger than the bound, by %s, is bad-response and read no further', async (_what, declared) => {
    const big = Buffer.alloc(1_000_000, 0x20);
    server.state.handle = (_seen, response) => {
      if (declared) response.setHeader('content-length', big.length);
      response.writeHead(200);
      response.write('{"a":"');
      response.end(big);
    };
    const unavailable = await failure(clientOf({ maxBodyBytes: 4_096 }).refresh(REFRESH_TOKEN));
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'bad-response' });
    expect((unavailable as OAuthUnavailable).detail).toBe('an answer larger than 4096 bytes');
  });

  const broken: [string, Record<string, unknown>, string][] = [
    ['no access_token', { access_token: undefined }, 'access_token'],
    ['an access_token with a space', { access_token: 'a b' }, 'access_token'],
    ['an empty refresh_token', { refresh_token: '' }, 'refresh_token'],
    ['expires as a string', { expires: '1900000000' }, 'expires'],
    ['expires zero', { expires: 0 }, 'expires'],
    ['expires_in a fraction', { expires_in: 1.5 }, 'expires_in'],
    ['scope a number', { scope: 1 }, 'scope'],
    ['no server_endpoint', { server_endpoint: undefined }, 'server_endpoint'],
    ['a client_endpoint over http', { client_endpoint: 'http://portal.bitrix24.com/rest/' }, 'client_endpoint'],
    ['a client_endpoint not ending in /rest/', { client_endpoint: 'https://portal.bitrix24.com/' }, 'client_endpoint'],
    ['a client_endpoint with a query', { client_endpoint: 'https://portal.bitrix24.com/rest/?a=1' }, 'client_endpoint'],
    ['a client_endpoint that is no URL', { client_endpoint: 'portal/rest/' }, 'client_endpoint'],
    ['a member_id too long', { member_id: 'a'.repeat(65) }, 'member_id'],
    ['a member_id with a slash', { member_id: '../x' }, 'member_id'],
    ['user_id a string', { user_id: '1' }, 'user_id'],
    ['status an object', { status: {} }, 'status'],
  ];
  it.each(broken)('an answer with %s is bad-response, naming the field', async (_what, change, field) => {
    server.state.handle = json(200, { ...goodAnswer(server.host), ...change });
    const unavailable = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'bad-response' });
    expect((unavailable as OAuthUnavailable).detail).toContain(`its ${field} is`);
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'ok'],
  ])('an answer that is %s is bad-response', async (_w, body) => {
    server.state.handle = json(200, body);
    const unavailable = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'bad-response' });
  });

  it("takes an inherited-looking key only as the answer's own field", async () => {
    server.state.handle = (_seen, response) =>
      response.end(`{"__proto__":{"access_token":"x"},${JSON.stringify(goodAnswer(server.host)).slice(1)}`);
    const answer = await clientOf().refresh(REFRESH_TOKEN);
    expect(answer.access_token).toBe('access-token-new-1a2b3c');
    expect(Object.getPrototypeOf(answer)).toBe(Object.prototype);
  });

  it('accepts a loopback client_endpoint over http (the emulator), and answers without user_id or status', async () => {
    const { user_id: _u, status: _s, ...rest } = goodAnswer(server.host);
    server.state.handle = json(200, { ...rest, client_endpoint: `http://${server.host}/rest/` });
    const answer = await clientOf().refresh(REFRESH_TOKEN);
    expect(answer.client_endpoint).toBe(`http://${server.host}/rest/`);
    expect(answer).not.toHaveProperty('user_id');
  });

  it('gives up when no answer comes within timeoutMs: OAuthUnavailable timeout', async () => {
    server.state.handle = () => {}; // never answers
    const started = performance.now();
    const unavailable = await failure(clientOf({ timeoutMs: 300 }).refresh(REFRESH_TOKEN));
    const took = performance.now() - started;
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'timeout', detail: 'no answer within 300 ms' });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2_000);
  });

  it('gives up on a body that stops coming: timeout', async () => {
    server.state.handle = (_seen, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"access_token":');
    };
    const unavailable = await failure(clientOf({ timeoutMs: 300 }).refresh(REFRESH_TOKEN));
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'timeout' });
  });

  it('a connection cut before the answer is unreachable', async () => {
    server.state.handle = (_seen, response) => response.socket!.destroy();
    const unavailable = await failure(clientOf().refresh(REFRESH_TOKEN));
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'unreachable' });
  });

  it('a server nobody listens at is unreachable, named by the code only', async () => {
    const port = await closedPort();
    const unavailable = await failure(
      clientOf({ oauthUrl: new URL(`http://127.0.0.1:${port}`) }).refresh(REFRESH_TOKEN),
    );
    expect(unavailable).toMatchObject({ name: 'OAuthUnavailable', kind: 'unreachable', detail: 'ECONNREFUSED' });
  });
});
