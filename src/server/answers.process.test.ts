// Issue 32, "Answers", against the built gateway (`node dist/main.js`, its embedded emulator): an Expect other
// than 100-continue is 417 in the envelope, logged and counted; a body with a Content-Encoding is 415; the
// answers Node's parser and the CONNECT handler write straight to the socket carry every header the app's
// answers carry; a caller that never reads its answers is disconnected within WRITE_TIMEOUT_MS.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from '../test-support/processes';
import { type RawResult, sendRaw } from '../test-support/raw-http';
import type { Answer } from '../test-support/stack';
import { SECURITY_HEADERS } from './answer-headers';

const TRANSFER = '/rest/imopenlines.bot.session.transfer';
const WRITE_TIMEOUT_MS = 1_000;
const valid = '{"CHAT_ID":112,"USER_ID":12}';

let gateway: GatewayProcess;
beforeAll(async () => {
  gateway = await startGatewayProcess({
    WRITE_TIMEOUT_MS: String(WRITE_TIMEOUT_MS),
    HEADERS_TIMEOUT_MS: '300',
    REQUEST_TIMEOUT_MS: '600',
  });
});
afterAll(() => gateway?.stop());

const raw = (...chunks: (string | Buffer | number)[]) => sendRaw(gateway.url, chunks, { timeoutMs: 4_000 });
const only = (result: RawResult): Answer => {
  expect(result.answers, result.raw.slice(0, 300)).toHaveLength(1);
  return result.answers[0]!;
};
const namesOf = (answer: Answer) => {
  const names = new Set<string>();
  answer.headers.forEach((_value, name) => {
    names.add(name);
  });
  return names;
};
const transfer = (headers: Record<string, string>, body: string | Uint8Array<ArrayBuffer> = valid) =>
  fetch(`${gateway.url}${TRANSFER}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

function logLineOf(requestId: string): Record<string, unknown> | undefined {
  return gateway.lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.reqId === requestId && line.msg === 'request');
}
async function eventually<T>(read: () => T | undefined, ms = 2_000): Promise<T | undefined> {
  const until = performance.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined || performance.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
async function requestsCounted(code: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('gateway_requests_total{') && line.includes(`code="${code}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('Expect', () => {
  it.each([
    ['POST', TRANSFER, 'foo'],
    ['GET', '/healthz', 'something-else'],
    ['GET', '/nowhere', '100-continue, foo'],
    ['DELETE', TRANSFER, 'foo'],
  ])(
    '%s %s with Expect: %s is 417 EXPECTATION_FAILED in the envelope, logged and counted',
    async (method, path, value) => {
      const before = await requestsCounted('EXPECTATION_FAILED');
      const body = method === 'POST' ? valid : '';
      const result = await raw(
        `${method} ${path} HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nExpect: ${value}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      const answer = only(result);
      expect([answer.status, answer.body]).toEqual([
        417,
        {
          error: 'EXPECTATION_FAILED',
          error_description: `Expect "${value}" cannot be met: only 100-continue is supported`,
        },
      ]);
      expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(result.closedByServer, 'the connection is closed after it').toBe(true);
      const id = answer.headers.get('x-request-id')!;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await eventually(() => logLineOf(id))).toMatchObject({ status: 417, code: 'EXPECTATION_FAILED', method });
      expect(await requestsCounted('EXPECTATION_FAILED')).toBe(before + 1);
    },
  );

  it('100-continue (any case) is answered as usual: 100 Continue, then the answer', async () => {
    const result = await raw(
      `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Type: application/json\r\nExpect: 100-Continue\r\nContent-Length: ${valid.length}\r\n\r\n`,
      200,
      valid,
    );
    expect(result.raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });
});

describe('Content-Encoding', () => {
  it.each([
    ['gzip', gzipSync(valid)],
    ['GZIP', gzipSync(valid)],
    ['br', valid],
    ['deflate', valid],
    ['gzip, identity', gzipSync(valid)],
    ['identity, gzip', gzipSync(valid)],
    ['x-unknown', valid],
  ])('%s is 415 UNSUPPORTED_MEDIA_TYPE, naming it', async (coding, body) => {
    const response = await transfer({ 'content-encoding': coding }, new Uint8Array(Buffer.from(body)));
    expect(response.status).toBe(415);
    const answer = (await response.json()) as { error: string; error_description: string };
    expect(answer.error).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(answer.error_description).toContain('Content-Encoding');
    expect(answer.error_description.toLowerCase()).toContain(coding.replace(/,? ?identity,? ?/, '').toLowerCase());
  });

  it('an empty Content-Encoding is 415 too; identity, alone or repeated, is no coding', async () => {
    const empty = only(
      await raw(
        `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Encoding: \r\nContent-Length: ${valid.length}\r\n\r\n${valid}`,
      ),
    );
    expect([empty.status, empty.body.error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expect((await transfer({ 'content-encoding': 'identity' })).status).toBe(200);
    expect((await transfer({ 'content-encoding': 'Identity, identity' })).status).toBe(200);
  });

  it('a gzip body without a Content-Type is 415 for its coding, not judged as no parameters', async () => {
    const response = await fetch(`${gateway.url}${TRANSFER}`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: new Uint8Array(gzipSync(valid)),
    });
    expect(response.status).toBe(415);
  });
});

describe('answers written straight to the socket', () => {
  it('carry every header the answers of the app carry, with the same values, and their own X-Request-Id', async () => {
    const healthz = only(await raw('GET /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n'));
    const unknown = only(await raw('GET /nowhere HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n'));
    // What every answer carries, whatever it is (its connection's state aside).
    const common = [...namesOf(healthz)].filter(
      (name) => namesOf(unknown).has(name) && name !== 'keep-alive' && name !== 'connection',
    );
    expect(common).toEqual(expect.arrayContaining(['x-request-id', 'date', ...Object.keys(SECURITY_HEADERS)]));
    const cases: [string, number, (string | number)[]][] = [
      ['a header with a bare CR', 400, [`GET /healthz HTTP/1.1\r\nHost: g\r\nX-A: a\rb\r\n\r\n`]],
      ['headers too slow', 408, ['GET /healthz HTTP/1.1\r\nHost: g\r\n']],
      ['a 17 KB header', 431, [`GET /healthz HTTP/1.1\r\nHost: g\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`]],
      ['CONNECT', 405, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']],
      ['Expect: foo', 417, ['GET /healthz HTTP/1.1\r\nHost: g\r\nExpect: foo\r\n\r\n']],
    ];
    const ids = new Set<string>();
    for (const [name, status, chunks] of cases) {
      const result = await raw(...chunks);
      const answer = only(result);
      expect(answer.status, name).toBe(status);
      expect(result.closedByServer, name).toBe(true);
      expect([...namesOf(answer)], name).toEqual(expect.arrayContaining(common));
      for (const [header, value] of Object.entries(SECURITY_HEADERS))
        expect(answer.headers.get(header), `${name}: ${header}`).toBe(value);
      ids.add(answer.headers.get('x-request-id')!);
    }
    expect(ids.size).toBe(cases.length);
  });

  it('CONNECT is logged and counted', async () => {
    const answer = only(await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'));
    const id = answer.headers.get('x-request-id')!;
    expect(await eventually(() => logLineOf(id))).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
  });
});

describe('the write deadline', () => {
  it('disconnects a caller that pipelines requests for large answers and never reads, while a normal caller is served', async () => {
    const spec = await (await fetch(`${gateway.url}/openapi.json`)).arrayBuffer();
    const requests = 400;
    // Far more than the kernel's buffers on both sides hold: the gateway's own buffer fills, and waits.
    expect(spec.byteLength * requests).toBeGreaterThan(32 * 1024 * 1024);
    const { hostname, port } = new URL(gateway.url);
    const socket = connect(Number(port), hostname);
    socket.pause();
    let closedAt: number | undefined;
    socket.on('error', () => undefined);
    socket.once('close', () => (closedAt = performance.now()));
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = performance.now();
    socket.write('GET /openapi.json HTTP/1.1\r\nHost: g\r\n\r\n'.repeat(requests));
    const seenBefore = gateway.lines.length;
    const closedLine = () =>
      gateway.lines.slice(seenBefore).find((line) => line.includes('took none of its answers within WRITE_TIMEOUT_MS'));
    // Meanwhile, and while its connection is held, others are served.
    const served: number[] = [];
    while (closedLine() === undefined && performance.now() - started < 10 * WRITE_TIMEOUT_MS) {
      const [healthz, openapi] = await Promise.all([
        fetch(`${gateway.url}/healthz`),
        fetch(`${gateway.url}/openapi.json`),
      ]);
      await openapi.arrayBuffer();
      served.push(healthz.status, openapi.status);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const closedAfter = performance.now() - started;
    const line = closedLine();
    expect(line, 'the gateway closed the connection and said so').toBeDefined();
    // The deadline runs from when the caller's answers stopped leaving (the buffers between the two take a
    // few megabytes first, longer on a loaded machine), checked four times a deadline.
    const { stalledMs } = JSON.parse(line!) as { stalledMs: number };
    expect(stalledMs).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS);
    expect(stalledMs).toBeLessThan(WRITE_TIMEOUT_MS * 1.5);
    expect(closedAfter).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS);
    expect(closedAfter).toBeLessThan(WRITE_TIMEOUT_MS + 5_000);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((status) => status === 200)).toBe(true);
    // The caller, reading at last, finds the connection ended, with far fewer answers than it asked for.
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await eventually(() => closedAt, 3_000);
    socket.destroy();
    expect(closedAt, 'the connection ended').toBeDefined();
    expect(received).toBeLessThan(spec.byteLength * requests);
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
  });

  it('keeps a caller that reads its answers slowly, each within the deadline', async () => {
    const { hostname, port } = new URL(gateway.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const requests = 20;
    let received = 0;
    let closed = false;
    socket.once('close', () => (closed = true));
    socket.pause();
    socket.write('GET /openapi.json HTTP/1.1\r\nHost: g\r\n\r\n'.repeat(requests));
    // Reads a little every 200 ms, for three deadlines.
    const until = performance.now() + 3 * WRITE_TIMEOUT_MS;
    while (performance.now() < until && !closed) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let chunk = socket.read(); chunk !== null && received < 40_000_000; chunk = socket.read())
        received += (chunk as Buffer).length;
    }
    expect(closed, 'the slow reader keeps its connection').toBe(false);
    expect(received).toBeGreaterThan(0);
    socket.destroy();
  });
});
