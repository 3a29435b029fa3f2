// The attack suite, HTTP layer: messages no well-behaved client sends, through a real listener. Each row
// says what the gateway must answer; after each, the gateway must still answer a valid transfer.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS } from '../server/answer-headers';
import { spec } from '../spec';
import { type RawResult, sendRaw } from '../test-support/raw-http';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 800;
const WRITE_TIMEOUT_MS = 800;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    config: {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      writeTimeoutMs: WRITE_TIMEOUT_MS,
    },
  });
});
afterAll(() => stack.close());

const valid = '{"CHAT_ID":112,"USER_ID":12}';
/** A transfer request; the gateway closes the connection after answering it (`Connection: close`). */
const post = (headers: string, body = valid, connection = 'close') =>
  `POST ${TRANSFER} HTTP/1.1\r\nHost: gateway\r\nConnection: ${connection}\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunked = (body: string, chunk = body.length) => {
  let out = `POST ${TRANSFER} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  for (let at = 0; at < body.length; at += chunk)
    out += `${Math.min(chunk, body.length - at).toString(16)}\r\n${body.slice(at, at + chunk)}\r\n`;
  return `${out}0\r\n\r\n`;
};
/** A JSON transfer body of exactly `size` bytes (CLIENT_ID pads it). */
const bodyOfSize = (size: number) => {
  const base = '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":""}';
  return base.replace('""', `"${'b'.repeat(size - base.length)}"`);
};
const send = (...chunks: (string | number)[]) => sendRaw(stack.gateway.url, chunks, { timeoutMs: 4_000 });

async function stillServes(): Promise<void> {
  const answer = await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 });
  expect(answer.status, 'a valid transfer after the attack').toBe(200);
}

function expectEnvelope(result: RawResult, status: number, code: string): void {
  const [answer] = result.answers;
  expect([answer?.status, (answer?.body as { error?: string })?.error], result.raw.slice(0, 200)).toEqual([
    status,
    code,
  ]);
  expect(answer!.headers.get('content-type')).toMatch(/^application\/json/);
  expect(answer!.headers.get('x-request-id')).toMatch(/^[\w-]{1,255}$/);
  // Every answer, the ones written straight to the socket too, carries every security header.
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(answer!.headers.get(name), name).toBe(value);
}

// [name, bytes, status, code]: what Node's HTTP parser refuses gets the envelope and the connection closes.
const refusedByTheParser: [string, number, string, (string | number)[]][] = [
  ['a header value with a bare CR', 400, 'INVALID_HTTP_REQUEST', [post('X-A: a\rb\r\n')]],
  ['a header name with a space', 400, 'INVALID_HTTP_REQUEST', [post('X A: b\r\n')]],
  ['CR in X-Request-Id', 400, 'INVALID_HTTP_REQUEST', [post('X-Request-Id: abc\rX-Injected: 1\r\n')]],
  [
    'Content-Length: +2',
    400,
    'INVALID_HTTP_REQUEST',
    [`POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nContent-Length: +2\r\n\r\n{}`],
  ],
  [
    'two different Content-Lengths',
    400,
    'INVALID_HTTP_REQUEST',
    [`POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} `],
  ],
  [
    'Content-Length with chunked',
    400,
    'INVALID_HTTP_REQUEST',
    [
      `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    ],
  ],
  [
    'a chunk size that is not hex',
    400,
    'INVALID_HTTP_REQUEST',
    [chunked(valid).replace(/\r\n\r\n[0-9a-f]+\r\n/, '\r\n\r\nzz\r\n')],
  ],
  ['a request line that is not HTTP', 400, 'INVALID_HTTP_REQUEST', ['HELLO gateway\r\n\r\n']],
  ['HTTP/1.1 without a Host', 400, 'INVALID_HTTP_REQUEST', [`GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`]],
  [
    'a backslash in the path',
    400,
    'INVALID_HTTP_REQUEST',
    [`GET /docs\\..\\package.json HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`],
  ],
  [
    'the asterisk-form target (OPTIONS *)',
    400,
    'INVALID_HTTP_REQUEST',
    [`OPTIONS * HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`],
  ],
  [
    'an unknown method',
    400,
    'INVALID_HTTP_REQUEST',
    [`BREW /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`],
  ],
  [
    "CONNECT, a proxy's method",
    405,
    'METHOD_NOT_ALLOWED',
    [`CONNECT bitrix24.com:443 HTTP/1.1\r\nHost: bitrix24.com:443\r\n\r\n`],
  ],
  ['a 17 KB header', 431, 'HEADERS_TOO_LARGE', [post(`X-Big: ${'a'.repeat(17 * 1024)}\r\n`)]],
  [
    'headers that arrive too slowly (slowloris)',
    408,
    'REQUEST_TIMEOUT',
    [`POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\n`, HEADERS_TIMEOUT_MS + 600, 'X-A: 1\r\n'],
  ],
  [
    'a body that arrives too slowly',
    408,
    'REQUEST_TIMEOUT',
    [`${post('', '').replace('Content-Length: 0', 'Content-Length: 40')}{"CHAT_ID"`, REQUEST_TIMEOUT_MS + 600, ':1}'],
  ],
];

describe('what the HTTP parser refuses', () => {
  it.each(refusedByTheParser)(
    '%s: %i %s in the envelope, then the connection closes',
    async (_name, status, code, chunks) => {
      const result = await sendRaw(stack.gateway.url, chunks, { timeoutMs: 4_000 });
      expectEnvelope(result, status, code);
      expect(result.closedByServer, 'the gateway closes the connection').toBe(true);
      expect(result.answers).toHaveLength(1);
      await stillServes();
    },
  );

  it("answers a slow header within the headers timeout, not Node's 60 s (+ its 30 s check interval)", async () => {
    const result = await sendRaw(stack.gateway.url, [`POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\n`], { timeoutMs: 4_000 });
    expectEnvelope(result, 408, 'REQUEST_TIMEOUT');
    expect(result.ms).toBeLessThan(HEADERS_TIMEOUT_MS + 1_500);
  });

  it('never reaches Bitrix24 with any of them', () => {
    expect(stack.emulator.received.every((call) => call.params.CHAT_ID === 112)).toBe(true);
  });
});

describe('what the parser accepts, judged by the gateway', () => {
  it('reads every header within the size limit: 2500 small ones do not push Content-Type out (Node drops past 2000)', async () => {
    const many = 'x:1\r\n'.repeat(2_500);
    const result = await send(post(many));
    expect(result.answers[0]?.status).toBe(200);
  });

  it.each([
    ['exactly at the size limit', (size: number) => post('', bodyOfSize(size)), 200, undefined],
    ['one byte over the size limit', (size: number) => post('', bodyOfSize(size + 1)), 413, 'BODY_TOO_LARGE'],
    ['chunked, exactly at the size limit', (size: number) => chunked(bodyOfSize(size), 1000), 200, undefined],
    [
      'chunked, one byte over the size limit',
      (size: number) => chunked(bodyOfSize(size + 1), 1000),
      413,
      'BODY_TOO_LARGE',
    ],
  ])('a body %s', async (_name, request, status, code) => {
    // CLIENT_ID is at most 255 characters, so a body this size is refused for it, if not for its size.
    const result = await send(request(16_384));
    const answer = result.answers[0]!;
    if (status === 200)
      expect([answer.status, (answer.body as { error?: string }).error]).toEqual([400, 'INVALID_PARAMETER']);
    else expect([answer.status, (answer.body as { error?: string }).error]).toEqual([status, code]);
  });

  it('answers pipelined requests in order, each with its own id', async () => {
    const result = await send(
      post('X-Request-Id: first\r\n', valid, 'keep-alive') + post('X-Request-Id: second\r\n', '{"CHAT_ID":1}'),
    );
    expect(result.answers.map((a) => [a.status, a.headers.get('x-request-id')])).toEqual([
      [200, 'first'],
      [400, 'second'],
    ]);
  });

  it.each([
    ['a space', 'a b'],
    ['markup', '<script>'],
    ['256 characters', 'x'.repeat(256)],
    ['non-ASCII', 'é'],
  ])('replaces an X-Request-Id with %s by a fresh one', async (_name, id) => {
    const result = await send(post(`X-Request-Id: ${id}\r\n`));
    const echoed = result.answers[0]?.headers.get('x-request-id');
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    '/docs/../../../../etc/passwd',
    '/docs/..%2f..%2fpackage.json',
    '/docs/%2e%2e/%2e%2e/etc/passwd',
    '/docs/docs.js/../../../../etc/passwd',
    '/docs/%00',
  ])('does not serve a traversal out of /docs: GET %s', async (path) => {
    const result = await send(`GET ${path} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`);
    const answer = result.answers[0];
    expect(answer?.status).toBe(404);
    expect(answer?.body).toEqual({ error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' });
  });
});

describe('paths near a route of its own (the router remembers those routes, and only those)', () => {
  const near = [
    TRANSFER,
    `${TRANSFER}/`,
    `/${TRANSFER}`,
    TRANSFER.toUpperCase(),
    `${TRANSFER}%2F`,
    `${TRANSFER}?CHAT_ID=1`,
    '/rest/1/any-key-0123456789/imopenlines.bot.session.transfer',
    '/healthz',
    '/healthz/',
  ];
  const answerTo = async (path: string) => {
    const body = '{"CHAT_ID":"12abc","USER_ID":12}';
    const result = await send(
      `POST ${path} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const answer = result.answers[0];
    return [answer?.status, (answer?.body as { error?: string } | undefined)?.error];
  };

  it.each(near)('POST %s is answered the same the first time and after many other paths', async (path) => {
    const first = await answerTo(path);
    expect(first[0], 'an answer of the error matrix, not a failure').toBeLessThan(500);
    // Paths that are no route of their own, each once: none may change what a remembered route answers.
    await Promise.all(Array.from({ length: 50 }, (_, i) => answerTo(`/rest/${i}/key-${i}/${path.slice(1)}`)));
    expect(await answerTo(path)).toEqual(first);
    await stillServes();
  });
});

describe('a slowloris of idle connections', () => {
  it('does not stop normal requests from being answered, and each idle connection is closed with 408', async () => {
    const idle = Array.from({ length: 200 }, () =>
      sendRaw(stack.gateway.url, [`POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\n`], { timeoutMs: 5_000 }),
    );
    const during = await Promise.all(
      Array.from({ length: 20 }, () => stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 })),
    );
    expect(during.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    const closed = await Promise.all(idle);
    expect(closed.filter((result) => result.answers[0]?.status === 408 && result.closedByServer)).toHaveLength(200);
  });
});

describe('every method on every route of the spec', () => {
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
  const concrete = (path: string) =>
    path.replace('{userId}', '1').replace('{secret}', 'any-key-0123456789').replace('{asset}', 'docs.js');
  // The paths this gateway serves (webhook mode, against the emulator): those of its mode (`x-upstream-modes`).
  const servedHere = (item: object) =>
    Object.values(item as Record<string, { 'x-upstream-modes'?: string[] }>).every(
      (operation) => operation['x-upstream-modes']?.includes('webhook') ?? true,
    );
  const rows = Object.entries(spec.paths)
    .filter(([, item]) => servedHere(item))
    .flatMap(([path, item]) => methods.map((method) => [method, path, Object.keys(item)] as const));

  it.each(rows)('%s %s: 405 with Allow unless the spec serves it', async (method, path, served) => {
    const result = await send(`${method} ${concrete(path)} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`);
    const answer = result.answers[0]!;
    const allowed = served.map((m) => m.toUpperCase()).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
    if (allowed.includes(method)) {
      expect(answer.status).not.toBe(405);
      return;
    }
    // A HEAD answer has no body (RFC 9110), only the status and headers of the GET it stands for.
    expect([
      answer.status,
      method === 'HEAD' ? 'METHOD_NOT_ALLOWED' : (answer.body as { error?: string }).error,
    ]).toEqual([405, 'METHOD_NOT_ALLOWED']);
    expect(answer.headers.get('allow')?.split(', ').sort()).toEqual([...allowed].sort());
  });
});

describe('what the gateway does not take: Expect, Content-Encoding', () => {
  it.each([
    ['Expect: foo', 'Expect: foo\r\n', valid, 417, 'EXPECTATION_FAILED'],
    ['Expect: 100-continue with more', 'Expect: 100-continue, foo\r\n', valid, 417, 'EXPECTATION_FAILED'],
    [
      'Content-Encoding: gzip, the body gzipped',
      'Content-Encoding: gzip\r\n',
      gzipSync(valid).toString('latin1'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    ['Content-Encoding: gzip, the body plain', 'Content-Encoding: gzip\r\n', valid, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['Content-Encoding: identity, br', 'Content-Encoding: identity, br\r\n', valid, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [
      'two Content-Encodings',
      'Content-Encoding: identity\r\nContent-Encoding: deflate\r\n',
      valid,
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
  ])('%s: %i %s in the envelope, nothing sent', async (_name, headers, body, status, code) => {
    const calls = stack.emulator.stats.calls;
    const result = await sendRaw(
      stack.gateway.url,
      [
        post(headers, '').replace(
          'Content-Length: 0\r\n\r\n',
          `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n`,
        ),
        Buffer.from(body, 'latin1'),
      ],
      { timeoutMs: 4_000 },
    );
    expectEnvelope(result, status, code);
    expect(stack.emulator.stats.calls, 'nothing reached Bitrix24').toBe(calls);
    await stillServes();
  });
});

describe('a transfer coding besides chunked', () => {
  it.each(['gzip, chunked', 'deflate, chunked', 'x-custom, chunked'])(
    'Transfer-Encoding: %s is 415 UNSUPPORTED_MEDIA_TYPE, nothing sent',
    async (codings) => {
      const calls = stack.emulator.stats.calls;
      const result = await send(chunked(valid).replace('Transfer-Encoding: chunked', `Transfer-Encoding: ${codings}`));
      expectEnvelope(result, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect((result.answers[0]!.body as { error_description: string }).error_description).toContain(
        'Transfer-Encoding',
      );
      expect(stack.emulator.stats.calls, 'nothing reached Bitrix24').toBe(calls);
    },
  );

  it('Transfer-Encoding: chunked alone is read as ever', async () => {
    expect((await send(chunked(valid, 7))).answers[0]?.status).toBe(200);
  });
});

describe('a caller that never reads its answers', () => {
  // A stack of its own, with only the write deadline short: the others' requests must not meet this file's
  // short request timeout, nor a short upstream timeout, while the gateway writes megabytes to the non-reader
  // on a loaded machine.
  let own: Stack;
  beforeAll(async () => {
    own = await startStack({ config: { writeTimeoutMs: WRITE_TIMEOUT_MS, upstreamTimeoutMs: 10_000 } });
  });
  afterAll(() => own.close());

  it('is disconnected within the write deadline, while others are served', async () => {
    const stack = own;
    const { hostname, port } = new URL(stack.gateway.url);
    const socket = connect(Number(port), hostname);
    socket.pause();
    socket.on('error', () => undefined);
    let closed = false;
    socket.once('close', () => (closed = true));
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = performance.now();
    // Some 50 MB of answers, more than every buffer between the two holds.
    socket.write('GET /openapi.json HTTP/1.1\r\nHost: g\r\n\r\n'.repeat(400));
    const statuses: number[] = [];
    let disconnected = false;
    while (!disconnected && performance.now() - started < WRITE_TIMEOUT_MS + 8_000) {
      statuses.push((await stack.post(TRANSFER, { CHAT_ID: 112, USER_ID: 12 })).status);
      // A paused socket hears of a reset only when it writes: an empty line between requests, which HTTP allows.
      if (!socket.destroyed) socket.write('\r\n');
      await new Promise((resolve) => setTimeout(resolve, 20));
      disconnected = closed;
    }
    const after = performance.now() - started;
    socket.destroy();
    expect(disconnected, 'the gateway closed the connection').toBe(true);
    // The deadline runs once the buffers between the two are full, a few megabytes in (longer on a loaded
    // machine); answers.process.test.ts measures it from there.
    expect(after).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS);
    expect(after).toBeLessThan(WRITE_TIMEOUT_MS + 5_000);
    expect(statuses.length).toBeGreaterThan(0);
    expect(
      statuses.filter((status) => status !== 200),
      'answers other than 200',
    ).toEqual([]);
  });
});
