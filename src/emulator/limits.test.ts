import { describe, expect, it } from 'vitest';
import { createEmulator, type EmulatorOptions } from '.';
import { error, OAUTH, postJson, valid } from './testing';

const QUERY_LIMIT_EXCEEDED = error('QUERY_LIMIT_EXCEEDED', 'Too many requests');
const OPERATION_TIME_LIMIT = error('OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.');

/** An emulator on a clock the test sets. */
function clocked(options: EmulatorOptions = {}) {
  const clock = { now: 0 };
  const emulator = createEmulator({ ...options, now: () => clock.now });
  const statuses = async (count: number, params: object = valid) => {
    const result: number[] = [];
    for (let i = 0; i < count; i++) result.push((await postJson(emulator, params as typeof valid)).status);
    return result;
  };
  return { emulator, clock, statuses };
}

const noOperatingLimit = { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 };

describe('the rate limit', () => {
  it('lets a burst of 50 through by default, then answers 503 without adding to the level', async () => {
    const { emulator, statuses } = clocked();
    expect(await statuses(50)).toEqual(Array(50).fill(200));
    const answer = await postJson(emulator, valid);
    expect(answer).toMatchObject({ status: 503, body: QUERY_LIMIT_EXCEEDED });
    expect(emulator.stats).toEqual({ maxBucketLevel: 50, rejectedByRateLimit: 1, calls: 51, receivedDropped: 0 });
  });

  it('drains continuously', async () => {
    const { emulator, clock, statuses } = clocked({
      rateLimit: { enabled: true, drainPerSecond: 2, burst: 3 },
      operatingLimit: noOperatingLimit,
    });
    expect(await statuses(5)).toEqual([200, 200, 200, 503, 503]);
    clock.now = 499;
    expect(await statuses(1)).toEqual([503]);
    clock.now = 500; // 2 a second: one request has drained
    expect(await statuses(2)).toEqual([200, 503]);
    clock.now = 1500; // and two more
    expect(await statuses(3)).toEqual([200, 200, 503]);
    clock.now = 60_000;
    expect(await statuses(4)).toEqual([200, 200, 200, 503]);
    expect(emulator.stats).toEqual({ maxBucketLevel: 3, rejectedByRateLimit: 6, calls: 15, receivedDropped: 0 });
  });

  it('counts every authenticated call, whatever its answer, before the test values', async () => {
    const { emulator, statuses } = clocked({ rateLimit: { enabled: true, drainPerSecond: 2, burst: 2 } });
    expect(await statuses(1, {})).toEqual([400]);
    expect(await statuses(1, { ...valid, CHAT_ID: 5001 })).toEqual([500]);
    expect(await statuses(1, { ...valid, CHAT_ID: 5001 })).toEqual([503]);
    // Unauthenticated calls do not reach the bucket.
    expect(await postJson(emulator, valid, OAUTH)).toMatchObject({ status: 401 });
    expect(emulator.stats.rejectedByRateLimit).toBe(1);
  });

  it('can be switched off', async () => {
    const { emulator, statuses } = clocked({ rateLimit: { enabled: false, drainPerSecond: 2, burst: 1 } });
    expect(await statuses(60)).toEqual(Array(60).fill(200));
    expect(emulator.stats).toMatchObject({ maxBucketLevel: 0, rejectedByRateLimit: 0 });
  });

  it('is emptied by reset()', async () => {
    const { emulator, statuses } = clocked({ rateLimit: { enabled: true, drainPerSecond: 2, burst: 2 } });
    expect(await statuses(3)).toEqual([200, 200, 503]);
    emulator.reset();
    expect(await statuses(3)).toEqual([200, 200, 503]);
  });
});

describe('the operating-time limit', () => {
  const limited = (costPerCallSeconds = 1) =>
    clocked({
      rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
      operatingLimit: { enabled: true, limitSeconds: 3, costPerCallSeconds, windowSeconds: 600 },
    });

  it('blocks the method once its time reaches the limit, until the oldest basket leaves the window', async () => {
    const { emulator, clock, statuses } = limited();
    expect(await statuses(3)).toEqual([200, 200, 200]);
    expect(await postJson(emulator, valid)).toMatchObject({ status: 429, body: OPERATION_TIME_LIMIT });
    clock.now = 599_999;
    expect(await statuses(1)).toEqual([429]);
    clock.now = 600_000;
    const answer = await postJson(emulator, valid);
    expect(answer).toMatchObject({ status: 200, body: { time: { operating: 1, operating_reset_at: 1200 } } });
  });

  it('sums ten one-minute baskets', async () => {
    const { emulator, clock, statuses } = limited();
    for (const at of [0, 60_000, 120_000]) {
      clock.now = at;
      expect(await statuses(1)).toEqual([200]);
    }
    const { body } = await postJson(emulator, valid);
    expect(body).toEqual(OPERATION_TIME_LIMIT);
    clock.now = 600_000; // the basket of minute 0 leaves; minutes 1 and 2 remain
    const answer = await postJson(emulator, valid);
    expect(answer).toMatchObject({ status: 200, body: { time: { operating: 3, operating_reset_at: 660 } } });
    expect(await statuses(1)).toEqual([429]);
    clock.now = 659_999;
    expect(await statuses(1)).toEqual([429]);
    clock.now = 660_000;
    expect(await statuses(1)).toEqual([200]);
  });

  it("charges calls the method rejects, not the platform's answers", async () => {
    const { emulator, statuses } = limited();
    expect(await statuses(2, {})).toEqual([400, 400]);
    expect(await statuses(3, { ...valid, CHAT_ID: 5031 })).toEqual([503, 503, 503]);
    expect(await postJson(emulator, valid)).toMatchObject({ status: 200, body: { time: { operating: 3 } } });
    expect(await statuses(1)).toEqual([429]);
  });

  it('adds up small costs exactly', async () => {
    const { emulator, statuses } = limited(0.1);
    expect(await statuses(29)).toEqual(Array(29).fill(200));
    expect(await postJson(emulator, valid)).toMatchObject({ status: 200, body: { time: { operating: 3 } } });
    expect(await statuses(1)).toEqual([429]);
  });

  it('is forgotten by reset()', async () => {
    const { emulator, statuses } = limited();
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
    emulator.reset();
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
  });

  it('can be switched off, and the time is still reported', async () => {
    const { emulator, statuses } = clocked({
      rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
      operatingLimit: { enabled: false, limitSeconds: 1, costPerCallSeconds: 1, windowSeconds: 600 },
    });
    expect(await statuses(5)).toEqual(Array(5).fill(200));
    expect(await postJson(emulator, valid)).toMatchObject({ status: 200, body: { time: { operating: 6 } } });
  });
});
