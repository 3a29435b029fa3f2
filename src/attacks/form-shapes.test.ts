// The attack suite, form bodies that cost PHP's key reader the most for their size (issue 31), against the
// built gateway as production runs it (`node dist/main.js`, its embedded emulator as the portal, every limit
// at its default). Before, a form's append index was counted with Object.keys: `CHAT_ID=112&` and 30,000
// `x[]=1` (180 KB) froze the whole gateway for 17 s, /healthz with it, and at the limit (43,000 of them)
// neither the body nor /healthz was answered within a minute. Here every shape of
// src/test-support/form-shapes.ts, at the body limit, is posted several at a time while /healthz is asked
// over and over: each body gets its documented answer, and /healthz never waits a second.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { formShapes } from '../test-support/form-shapes';
import { type GatewayProcess, startGatewayProcess } from '../test-support/processes';

const TRANSFER = '/rest/imopenlines.bot.session.transfer';
const SEND = '/rest/imopenlines.bot.session.message.send';
const FORM = 'application/x-www-form-urlencoded';
const LIMIT = loadConfig({}).bodyLimitBytes;
const PARALLEL = 3;
const ROUNDS = 3;
const HEALTHZ_WITHIN_MS = 1_000;

const shapes = Object.entries(formShapes(LIMIT));
// A valid call as large as the limit lets one be: message.send's longest MESSAGE, 20,000 characters of three
// bytes of UTF-8 each, percent-encoded (180 KB).
const validSend = `CHAT_ID=112&NAME=DEFAULT&MESSAGE=${encodeURIComponent('€'.repeat(20_000))}`;

/**
 * The documented answer to a shape's body: Bitrix24's own check comes first, and with CHAT_ID=112 and no
 * destination it is TRANSFER_ID_EMPTY; where USER_ID[] gives USER_ID as a list (which PHP's (int) reads as 1),
 * the check passes and the spec refuses the unknown `USER_ID[]`.
 */
const expectedCode = (body: string) => (body.includes('USER_ID[]=') ? 'UNKNOWN_PARAMETER' : 'TRANSFER_ID_EMPTY');

let gateway: GatewayProcess;
beforeAll(async () => {
  gateway = await startGatewayProcess({});
});
afterAll(() => gateway?.stop());

async function post(path: string, body: string): Promise<{ status: number; code?: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': FORM },
    body,
    signal: AbortSignal.timeout(20_000),
  });
  const answer = (await response.json()) as { error?: string };
  return { status: response.status, code: answer.error, ms: performance.now() - started };
}

describe(`form bodies at the body limit (${LIMIT} bytes), against the built gateway`, () => {
  it.each(shapes)('%s is answered with its documented code', async (_, body) => {
    expect(body.length).toBeLessThanOrEqual(LIMIT);
    expect(await post(TRANSFER, body)).toMatchObject({ status: 400, code: expectedCode(body) });
  });

  it('a valid call of the largest size is sent and answered 200', async () => {
    expect(validSend.length).toBeLessThanOrEqual(LIMIT);
    expect(await post(SEND, validSend)).toMatchObject({ status: 200 });
  });

  it(`/healthz answers within ${HEALTHZ_WITHIN_MS} ms while every shape is posted, ${PARALLEL} at a time`, async () => {
    const queue = Array.from({ length: ROUNDS }, () => shapes).flat();
    const answers: { name: string; status: number; code?: string; expected: string }[] = [];
    let posting = true;
    const health: number[] = [];
    const probe = (async () => {
      while (posting) {
        const started = performance.now();
        const response = await fetch(`${gateway.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
        await response.arrayBuffer();
        expect(response.status).toBe(200);
        health.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const [name, body] = next;
          const { status, code } = await post(TRANSFER, body);
          answers.push({ name, status, code, expected: expectedCode(body) });
        }
      }),
    );
    posting = false;
    await probe;

    expect(answers).toHaveLength(ROUNDS * shapes.length);
    for (const { name, status, code, expected } of answers)
      expect({ name, status, code }).toEqual({ name, status: 400, code: expected });
    expect(health.length).toBeGreaterThan(3);
    expect(Math.max(...health), `/healthz took ${health.map(Math.round).join(', ')} ms`).toBeLessThan(
      HEALTHZ_WITHIN_MS,
    );
  }, 60_000);
});
