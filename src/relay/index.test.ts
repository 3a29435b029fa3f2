import { describe, expect, it } from 'vitest';
import { methodOperations } from '../pipeline/operations';
import { documentedAnswer, Redactor } from '.';

const transfer = methodOperations().find((operation) => operation.operationId === 'transferSession')!;
const relay = (upstream: Parameters<typeof documentedAnswer>[0], redactor?: Redactor) =>
  documentedAnswer(upstream, transfer, redactor);

const time = {
  start: 1,
  finish: 2,
  duration: 1,
  processing: 0.5,
  date_start: '2024-10-11T10:00:00+02:00',
  date_finish: '2024-10-11T10:00:01+02:00',
};
const answer = (status: number, body: unknown) => ({
  status,
  contentType: 'application/json',
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('documentedAnswer', () => {
  it('passes on a documented success byte for byte', () => {
    const body = `{ "result": true, "time": ${JSON.stringify(time)} }`;
    expect(relay(answer(200, body))).toEqual({ conforms: true, status: 200, body });
  });

  it('passes on a success with more than the documented fields as the documented fields only', () => {
    const body = JSON.stringify({ result: true, time: { ...time, debug: 'x' }, extra: 1 });
    expect(relay(answer(200, body))).toEqual({
      conforms: true,
      status: 200,
      body: JSON.stringify({ result: true, time }),
    });
  });

  it("redacts the gateway's secrets wherever a portal quotes them", () => {
    const quoted = {
      error: 'INVALID_REQUEST',
      error_description: 'Https required for /rest/1/s3cr3tc0de/imopenlines (client my.bot.id)',
    };
    const relayed = relay(answer(400, quoted), new Redactor(['s3cr3tc0de', 'my.bot.id', 'abc']));
    expect(relayed).toMatchObject({ conforms: true, status: 400 });
    expect(JSON.parse((relayed as { body: string }).body)).toEqual({
      error: 'INVALID_REQUEST',
      error_description: 'Https required for /rest/1/[redacted]/imopenlines (client [redacted])',
    });
  });

  it('redacts a secret written with JSON escapes too (PHP escapes "/")', () => {
    const raw = '{"error":"BOT_ID_ERROR","error_description":"Bot not found: a\\/b\\u0063d"}';
    const relayed = relay(answer(400, raw), new Redactor(['a/bcd']));
    expect(JSON.parse((relayed as { body: string }).body).error_description).toBe('Bot not found: [redacted]');
  });

  it("keeps no secret in the log's reason either", () => {
    const relayed = relay(
      answer(418, { error: 'leak-s3cr3tc0de', error_description: 'x' }),
      new Redactor(['s3cr3tc0de']),
    );
    expect((relayed as { reason: string }).reason).not.toContain('s3cr3tc0de');
  });

  it('passes on a documented Bitrix24 error with its status', () => {
    const body = { error: 'BOT_ID_ERROR', error_description: 'Bot not found' };
    expect(relay(answer(400, body))).toMatchObject({ conforms: true, status: 400, error: { error: 'BOT_ID_ERROR' } });
  });

  it.each([
    ['a body that is not JSON', answer(200, '<html>')],
    ['a success without time', answer(200, { result: true })],
    ['result false: not a transfer', answer(200, { result: false, time })],
    ['result "true" as text', answer(200, { result: 'true', time })],
    ['a code under another status', answer(500, { error: 'BOT_ID_ERROR', error_description: 'x' })],
    ['an undocumented status', answer(418, { error: 'I_AM_A_TEAPOT', error_description: 'x' })],
    ['a code only the gateway answers', answer(502, { error: 'UPSTREAM_TIMEOUT', error_description: 'x' })],
    ['an error without description', answer(400, { error: 'BOT_ID_ERROR' })],
  ])('refuses %s', (_name, upstream) => {
    expect(relay(upstream)).toMatchObject({
      conforms: false,
      status: 502,
      body: { error: 'UPSTREAM_BAD_RESPONSE' },
      reason: expect.any(String),
    });
  });
});
