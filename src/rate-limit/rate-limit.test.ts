import { describe, expect, it, vi } from 'vitest';
import type { UpstreamAnswer } from '../upstream';
import { MemoryStore, OperatingPause, PortalLimiter, portalBucket, RateLimitRejection, shapedCaller } from '.';

interface Options {
  drainPerSecond: number;
  burst: number;
  maxQueue: number;
  maxWaitMs: number;
  maxQueuePerTeam?: number;
  headroomSeconds?: number;
  shaping?: boolean;
  now?: () => number;
}

/** A limiter over an in-process store, as one replica has it. */
function limiterOf({ drainPerSecond, burst, headroomSeconds, now, ...options }: Options): PortalLimiter {
  const store = new MemoryStore(portalBucket(drainPerSecond, burst, headroomSeconds), now);
  return new PortalLimiter(store, { ...options, ...(now && { now }) });
}

/** Lets the limiter's pending steps (each a promise) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('PortalLimiter', () => {
  it('lets a burst through at once (less one request of headroom), then releases at the rate, round-robin between teams', async () => {
    // A fake clock: on a busy machine, a real one could refill the bucket between two synchronous calls.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const limiter = limiterOf({
      drainPerSecond: 200,
      burst: 3,
      maxQueue: 10,
      maxWaitMs: 1_000,
      headroomSeconds: 0,
    });
    const order: string[] = [];
    const take = (team: string, n: number) => limiter.acquire(team, 'm').then(() => order.push(`${team}${n}`));
    const all = Promise.all([
      take('a', 1),
      take('a', 2),
      take('a', 3),
      take('a', 4),
      take('a', 5),
      take('b', 1),
      take('b', 2),
    ]);
    await vi.advanceTimersByTimeAsync(100).finally(() => vi.useRealTimers());
    await all;
    // a1 and a2 fit the burst; then the queue alternates a, b, a, b, a.
    expect(order).toEqual(['a1', 'a2', 'a3', 'b1', 'a4', 'b2', 'a5']);
  });

  it('refuses at once past the queue length, with Retry-After', async () => {
    const limiter = limiterOf({ drainPerSecond: 10, burst: 1, maxQueue: 2, maxWaitMs: 10_000 });
    const passed = [limiter.acquire('a', 'm'), limiter.acquire('a', 'm'), limiter.acquire('a', 'm')];
    await settle();
    await expect(limiter.acquire('a', 'm')).rejects.toMatchObject({
      code: 'QUERY_LIMIT_EXCEEDED',
      reason: 'queue-full',
      retryAfterSeconds: 1,
    });
    expect(limiter.depth).toBe(2);
    limiter.close();
    await Promise.allSettled(passed);
  });

  it('refuses a team past its share of the queue before the others', async () => {
    const limiter = limiterOf({
      drainPerSecond: 1,
      burst: 1,
      maxQueue: 4,
      maxQueuePerTeam: 2,
      maxWaitMs: 60_000,
      headroomSeconds: 0,
    });
    const admitted = [limiter.acquire('a', 'm'), limiter.acquire('a', 'm'), limiter.acquire('a', 'm')];
    await settle();
    await expect(limiter.acquire('a', 'm')).rejects.toMatchObject({ reason: 'queue-full' });
    const other = limiter.acquire('b', 'm');
    await settle();
    expect(limiter.depth).toBe(3);
    limiter.close();
    await Promise.allSettled([...admitted, other]);
  });

  it('refuses at once a request that would wait too long', async () => {
    const limiter = limiterOf({
      drainPerSecond: 1,
      burst: 2,
      maxQueue: 100,
      maxWaitMs: 1_500,
      headroomSeconds: 0,
    });
    await limiter.acquire('a', 'm');
    const second = limiter.acquire('a', 'm');
    await expect(limiter.acquire('a', 'm')).rejects.toMatchObject({ reason: 'wait-too-long', retryAfterSeconds: 2 });
    limiter.close();
    await expect(second).rejects.toBeInstanceOf(RateLimitRejection);
  });

  it('keeps a quarter of a second of requests as headroom, at least one', async () => {
    const immediate = async (drainPerSecond: number) => {
      // A frozen clock: what is let through at once is the burst less the headroom.
      const limiter = limiterOf({
        drainPerSecond,
        burst: 50,
        maxQueue: 100,
        maxWaitMs: 3_600_000,
        now: () => 0,
      });
      const waiting = Array.from({ length: 60 }, () => limiter.acquire('a', 'm').catch(() => undefined));
      await settle();
      const through = 60 - limiter.depth;
      limiter.close();
      await Promise.all(waiting);
      return through;
    };
    expect(await immediate(2)).toBe(49);
    expect(await immediate(20)).toBe(45);
  });
});

describe('OperatingPause', () => {
  it('pauses until operating_reset_at, or for the fallback', () => {
    let now = 10_000;
    const pause = new OperatingPause(5_000, () => now);
    expect(pause.until(13) - now).toBe(3_000);
    now = 20_000;
    expect(pause.until() - now).toBe(5_000);
    // A reset time an earlier answer gave (time.operating_reset_at) stands when the refusal gives none.
    pause.noteResetAt(22);
    expect(pause.until() - now).toBe(2_000);
  });
});

describe('OperatingPause, with a hostile or broken portal', () => {
  it.each([
    ['not a number', '1796118360'],
    ['infinite (1e400 in JSON)', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
    ['in the past', 5],
    ['further ahead than the operating window', 10 + 601],
  ])(
    'does not believe an operating_reset_at %s: the configured pause applies, Retry-After finite',
    (_name, resetAt) => {
      const now = 10_000;
      const pause = new OperatingPause(5_000, () => now);
      pause.noteResetAt(resetAt);
      expect(pause.until(resetAt) - now).toBe(5_000);
    },
  );

  it('believes one within the window, to the second', () => {
    const pause = new OperatingPause(5_000, () => 10_000);
    expect(pause.until(10 + 600) - 10_000).toBe(600_000);
  });
});

describe('shapedCaller', () => {
  const answer = (status: number, body: unknown): UpstreamAnswer => ({
    status,
    contentType: 'application/json',
    body: JSON.stringify(body),
  });
  const limited = answer(503, { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' });
  const setup = (answers: UpstreamAnswer[], deadline = 1_000) => {
    const calls: number[] = [];
    const sleeps: number[] = [];
    let clock = 0;
    const now = () => clock;
    const store = new MemoryStore(portalBucket(1_000, 100), now);
    const caller = shapedCaller({
      limiter: new PortalLimiter(store, { maxQueue: 10, maxWaitMs: 1_000, now }),
      store,
      pause: new OperatingPause(10_000, now),
      call: async () => {
        calls.push(1);
        return answers.shift()!;
      },
      retryDeadlineMs: deadline,
      retryBaseDelayMs: 10,
      now,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });
    return { caller, calls, sleeps };
  };

  it('retries QUERY_LIMIT_EXCEEDED with growing delays until it goes through', async () => {
    const ok = answer(200, { result: true });
    const { caller, calls, sleeps } = setup([limited, limited, ok]);
    expect(await caller('m', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'N' }, { team: 'a' })).toEqual(ok);
    expect([calls.length, sleeps]).toEqual([3, [10, 20]]);
  });

  it('gives up at the deadline with Retry-After', async () => {
    const { caller, calls } = setup([limited, limited, limited, limited], 25);
    expect(await caller('m', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'N' }, { team: 'a' })).toMatchObject({
      status: 503,
      retryAfterSeconds: expect.any(Number),
    });
    expect(calls.length).toBe(2);
  });

  it('pauses the method on OPERATION_TIME_LIMIT and answers for Bitrix24 meanwhile', async () => {
    const blocked = answer(429, { error: 'OPERATION_TIME_LIMIT', error_description: 'blocked' });
    const { caller, calls } = setup([blocked]);
    expect(await caller('m', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'N' }, { team: 'a' })).toMatchObject({
      status: 429,
      retryAfterSeconds: 10,
    });
    await expect(caller('m', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'N' }, { team: 'a' })).rejects.toMatchObject({
      code: 'OPERATION_TIME_LIMIT',
      retryAfterSeconds: 10,
    });
    expect(calls.length).toBe(1);
  });

  it("pauses only the method Bitrix24 blocked: another method's calls still go", async () => {
    const blocked = answer(429, { error: 'OPERATION_TIME_LIMIT', error_description: 'blocked' });
    const ok = answer(200, { result: true });
    const { caller, calls } = setup([blocked, ok]);
    expect((await caller('blocked.method', { CHAT_ID: 1 }, { team: 'a' })).status).toBe(429);
    expect(await caller('other.method', { CHAT_ID: 1 }, { team: 'a' })).toEqual(ok);
    await expect(caller('blocked.method', { CHAT_ID: 1 }, { team: 'a' })).rejects.toMatchObject({
      code: 'OPERATION_TIME_LIMIT',
    });
    expect(calls.length).toBe(2);
  });

  it.each([
    ['a body that is not JSON', '_LIMIT operating_reset_at <html>'],
    ['JSON null', 'null'],
    ['a time that is not an object', '{"error":"QUERY_LIMIT_EXCEEDED_x","time":"operating_reset_at"}'],
    ['an error that is not a string', '{"error":["QUERY_LIMIT_EXCEEDED"],"time":{"operating_reset_at":null}}'],
  ])('passes on a limit-like answer with %s, as it is, once', async (_name, body) => {
    const odd: UpstreamAnswer = { status: 503, contentType: 'application/json', body };
    const { caller, calls } = setup([odd]);
    expect(await caller('m', { CHAT_ID: 1 }, { team: 'a' })).toEqual(odd);
    expect(calls.length).toBe(1);
  });

  it('does not retry anything else', async () => {
    const { caller, calls } = setup([answer(500, { error: 'INTERNAL_SERVER_ERROR', error_description: 'x' })]);
    expect((await caller('m', { CHAT_ID: 1, USER_ID: 1, LEAVE: 'N' }, { team: 'a' })).status).toBe(500);
    expect(calls.length).toBe(1);
  });
});

describe('PortalLimiter with shaping off (RATE_LIMIT_SHAPING=off)', () => {
  it('lets every request go at once, however far over the rate', async () => {
    const limiter = limiterOf({ drainPerSecond: 0.001, burst: 1, maxQueue: 0, maxWaitMs: 0, shaping: false });
    const waits = await Promise.all(Array.from({ length: 100 }, () => limiter.acquire('a', 'm')));
    expect(waits).toEqual(Array(100).fill(0));
    expect(limiter.depth).toBe(0);
  });
});
