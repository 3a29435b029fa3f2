import { describe, expect, it } from 'vitest';
import { relay } from '.';

const time = { start: 1, finish: 2, duration: 1, processing: 0.5, date_start: '2024-10-11T10:00:00+02:00', date_finish: '2024-10-11T10:00:01+02:00' };
const answer = (status: number, body: unknown) => ({ status, contentType: 'application/json', body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('relay', () => {
  it('passes on a documented success byte for byte', () => {
    const body = JSON.stringify({ result: true, time, extra: 1 });
    expect(relay(answer(200, body))).toEqual({ conforms: true, status: 200, body });
  });

  it('passes on a documented Bitrix24 error with its status', () => {
    const body = { error: 'BOT_ID_ERROR', error_description: 'Bot not found' };
    expect(relay(answer(400, body))).toMatchObject({ conforms: true, status: 400, code: 'BOT_ID_ERROR' });
  });

  it.each([
    ['a body that is not JSON', answer(200, '<html>')],
    ['a success without time', answer(200, { result: true })],
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
