import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../logger';
import { RateLimitRejection } from '../rate-limit';
import { type UpstreamAnswer, UpstreamError } from '../upstream';
import { PROBE_METHOD, type Schedule, UpstreamHealth, UpstreamProbe, webhookRefusal } from '.';

const TRANSFER = 'imopenlines.bot.session.transfer';

function recorder(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const answer = (status: number, body: unknown): UpstreamAnswer => ({
  status,
  contentType: 'application/json',
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const refused = (status: number, error: string) => answer(status, { error, error_description: 'text' });
const ok = answer(200, { result: true });

describe('webhookRefusal', () => {
  it.each([
    [401, 'NO_AUTH_FOUND', 'NO_AUTH_FOUND'],
    [403, 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS'],
    [403, 'insufficient_scope', 'insufficient_scope'],
    [403, 'ACCESS_DENIED', 'ACCESS_DENIED'],
    [403, 'WRONG_AUTH_TYPE', undefined],
    [401, 'expired_token', undefined],
    [400, 'NO_AUTH_FOUND', undefined],
    [403, '__proto__', undefined],
  ])('%d %s is %s', (status, code, expected) => {
    expect(webhookRefusal(refused(status, code))).toBe(expected);
  });
});

describe('UpstreamHealth in webhook mode', () => {
  it('turns refused on a refusal of the webhook, ok on a success, with one log line per change', () => {
    const { logger, lines } = recorder();
    const counted: string[] = [];
    const health = new UpstreamHealth({ mode: 'webhook', logger, onWebhookRefused: (code) => counted.push(code) });
    expect(health.report()).toEqual({ state: 'unknown' });
    health.answered(TRANSFER, refused(401, 'NO_AUTH_FOUND'));
    health.answered(TRANSFER, refused(401, 'NO_AUTH_FOUND'));
    health.answered(PROBE_METHOD, refused(401, 'NO_AUTH_FOUND'));
    expect(health.report()).toEqual({
      state: 'refused',
      problem: expect.stringContaining("refused the gateway's webhook (BITRIX24_WEBHOOK_URL) with NO_AUTH_FOUND"),
    });
    // The callers' calls are counted, not the probe's.
    expect(counted).toEqual(['NO_AUTH_FOUND', 'NO_AUTH_FOUND']);
    // Limits and Bitrix24's own failures say nothing of the credentials.
    health.answered(TRANSFER, refused(503, 'QUERY_LIMIT_EXCEEDED'));
    health.answered(TRANSFER, refused(429, 'OPERATION_TIME_LIMIT'));
    health.answered(TRANSFER, refused(500, 'INTERNAL_SERVER_ERROR'));
    expect(health.report().state).toBe('refused');
    // An error of the method's own is answered only past the webhook's check.
    health.answered(TRANSFER, refused(400, 'BOT_ID_ERROR'));
    expect(health.report()).toEqual({ state: 'ok' });
    health.answered(TRANSFER, ok);
    expect(lines.map((line) => [line.upstream, line.was])).toEqual([
      ['refused', 'unknown'],
      ['ok', 'refused'],
    ]);
    expect(lines[0]!.msg).toBe(
      `Upstream refused: Bitrix24 refused the gateway's webhook (${TRANSFER}: 401 NO_AUTH_FOUND)`,
    );
  });

  it('turns unreachable on no connection or no answer in time, not on an answer it cannot read', () => {
    const { logger, lines } = recorder();
    const health = new UpstreamHealth({ mode: 'webhook', logger });
    health.failed(TRANSFER, new UpstreamError('bad-response', 'an answer that is not valid HTTP'));
    health.answered(TRANSFER, { status: 200, contentType: 'text/html', body: '<html>The portal is being updated' });
    expect(health.report().state).toBe('unknown');
    health.failed(PROBE_METHOD, new UpstreamError('unreachable', 'ECONNREFUSED'));
    expect(health.report()).toEqual({ state: 'unreachable', problem: 'Bitrix24 could not be reached (ECONNREFUSED)' });
    health.failed(TRANSFER, new UpstreamError('timeout', 'no answer within 100 ms'));
    expect(health.report().problem).toBe(
      'Bitrix24 did not answer within UPSTREAM_TIMEOUT_MS (no answer within 100 ms)',
    );
    health.answered(PROBE_METHOD, answer(200, { result: '2026-01-01T00:00:00+00:00' }));
    expect(health.report().state).toBe('ok');
    expect(lines.map((line) => line.upstream)).toEqual(['unreachable', 'unreachable', 'ok']);
  });
});

describe('UpstreamHealth in OAuth mode', () => {
  it("takes any answer of Bitrix24's as reachable (the gateway holds no credentials), and counts no refusal", () => {
    const { logger } = recorder();
    const counted: string[] = [];
    const health = new UpstreamHealth({ mode: 'oauth', logger, onWebhookRefused: (code) => counted.push(code) });
    health.failed(PROBE_METHOD, new UpstreamError('unreachable', 'ECONNREFUSED'));
    health.answered(PROBE_METHOD, refused(401, 'NO_AUTH_FOUND'));
    expect(health.report()).toEqual({ state: 'ok' });
    health.answered(TRANSFER, refused(403, 'insufficient_scope'));
    expect(health.report()).toEqual({ state: 'ok' });
    expect(counted).toEqual([]);
  });
});

/** A clock and a scheduler the test moves by hand. */
function manualTime() {
  let now = 0;
  const timers: { at: number; callback: () => void }[] = [];
  const schedule: Schedule = (ms, callback) => {
    const timer = { at: now + ms, callback };
    timers.push(timer);
    return () => timers.splice(timers.indexOf(timer), 1);
  };
  return {
    now: () => now,
    schedule,
    pending: () => timers.map((timer) => timer.at),
    /** Moves the clock to `to`, running every timer due on the way, in order. */
    async advance(to: number) {
      for (;;) {
        // What a probe schedules comes after its promise settles.
        await new Promise((resolve) => setImmediate(resolve));
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > to) break;
        timers.shift();
        now = next.at;
        next.callback();
      }
      now = to;
    },
  };
}

describe('UpstreamProbe', () => {
  it('probes at start, then only after the interval without a call, one at a time', async () => {
    const time = manualTime();
    const { logger } = recorder();
    const health = new UpstreamHealth({ mode: 'webhook', logger, now: time.now });
    const probes: number[] = [];
    const probe = new UpstreamProbe({
      health,
      intervalMs: 60_000,
      logger,
      now: time.now,
      schedule: time.schedule,
      probe: async () => {
        probes.push(time.now());
        health.answered(PROBE_METHOD, ok);
      },
    });
    probe.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(probes).toEqual([0]);
    await time.advance(59_999);
    expect(probes).toEqual([0]);
    await time.advance(60_000);
    expect(probes).toEqual([0, 60_000]);
    // A call at 90 s puts the next probe a minute after it.
    await time.advance(90_000);
    health.answered(TRANSFER, ok);
    await time.advance(149_999);
    expect(probes).toEqual([0, 60_000]);
    await time.advance(150_000);
    expect(probes).toEqual([0, 60_000, 150_000]);
    // Busy: a call every 30 s, no probe.
    for (let t = 180_000; t <= 600_000; t += 30_000) {
      await time.advance(t);
      health.answered(TRANSFER, ok);
    }
    expect(probes).toEqual([0, 60_000, 150_000]);
    probe.stop();
    expect(time.pending()).toEqual([]);
    await time.advance(10_000_000);
    expect(probes).toEqual([0, 60_000, 150_000]);
  });

  it('waits a whole interval after a probe the limiter refused (no storm)', async () => {
    const time = manualTime();
    const { logger } = recorder();
    const health = new UpstreamHealth({ mode: 'webhook', logger, now: time.now });
    const probes: number[] = [];
    const probe = new UpstreamProbe({
      health,
      intervalMs: 1_000,
      logger,
      now: time.now,
      schedule: time.schedule,
      probe: async () => {
        probes.push(time.now());
        throw new RateLimitRejection('QUERY_LIMIT_EXCEEDED', 'queue-full', 1);
      },
    });
    probe.start();
    await time.advance(5_500);
    expect(probes).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000]);
    probe.stop();
  });
});
