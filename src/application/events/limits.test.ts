// The install limits: through real HTTP, installs past the per-source and the overall limit are 429
// EVENT_RATE_LIMITED with Retry-After, before any exchange, nothing stored; and the limiter itself on a clock
// the test moves: refilled evenly over the minute, its sources bounded (the oldest dropped), any text a key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, type Stack, startStack } from './harness';
import { InstallLimiter } from './install-limit';

describe('installs past the limits, through HTTP', () => {
  let stack: Stack;
  let clock = 1_000_000;
  beforeAll(async () => {
    stack = await startStack({
      portals: 2,
      limits: { installsPerSourcePerMinute: 2, installsPerMinute: 4 },
      now: () => clock,
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers 429 with Retry-After per source, then overall, and exchanges nothing past them', async () => {
    // A forged install (a refresh token Bitrix24 never issued): each delivery spends a turn, then is refused.
    const forged = await stack.cloud.install(stack.cloud.portals[0]!, stack.url, {
      overrides: { 'auth[refresh_token]': randomToken() },
    });
    expect(forged.status).toBe(403);
    const body = stack.received.at(-1)!;
    // Overall 4 a minute: 127.0.0.1 took one, 198.51.100.1 takes its two.
    expect((await stack.post(body, '198.51.100.1')).status).toBe(403);
    expect((await stack.post(body, '198.51.100.1')).status).toBe(403);
    const requests = stack.cloud.stats.tokenRequests;
    const perSource = await stack.post(body, '198.51.100.1');
    expect(perSource.status).toBe(429);
    expect(perSource.body).toEqual({
      error: 'EVENT_RATE_LIMITED',
      error_description: 'Too many install events from this address; retry after Retry-After seconds',
    });
    // Two a minute: the next in 30 s.
    expect(perSource.headers.get('retry-after')).toBe('30');
    // The refusal took nothing from the overall bucket: one turn is left, for another source.
    expect((await stack.post(body, '203.0.113.9')).status).toBe(403);
    const overall = await stack.post(body, '203.0.113.10');
    expect(overall.status).toBe(429);
    expect(overall.body.error_description).toBe('Too many install events overall; retry after Retry-After seconds');
    expect(overall.headers.get('retry-after')).toBe('15');
    expect(stack.cloud.stats.tokenRequests).toBe(requests + 1);
    expect(stack.outcomes.filter(([, outcome]) => outcome === 'rate-limited')).toHaveLength(2);
    expect(await stack.store.list()).toEqual([]);

    // A minute later both buckets are full again: a real install goes through.
    clock += 60_000;
    const portal = stack.cloud.portals[1]!;
    expect((await stack.cloud.install(portal, stack.url)).status).toBe(200);
    expect((await stack.store.get(portal.memberId))?.state).toBe('ready');
  });

  it('does not limit uninstalls and updates that need no exchange', async () => {
    const portal = stack.cloud.portals[1]!;
    for (let i = 0; i < 4; i++) expect((await stack.cloud.update(portal, stack.url)).status).toBe(200);
    expect((await stack.cloud.uninstall(portal, stack.url)).status).toBe(200);
  });
});

describe('InstallLimiter', () => {
  it('refills each bucket evenly over a minute', () => {
    let now = 0;
    const limiter = new InstallLimiter({ installsPerSourcePerMinute: 6, installsPerMinute: 100 }, () => now);
    for (let i = 0; i < 6; i++) expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: false, scope: 'source', retryAfterSeconds: 10 });
    now += 9_000;
    expect(limiter.take('a')).toEqual({ allowed: false, scope: 'source', retryAfterSeconds: 1 });
    now += 1_000;
    expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('b')).toEqual({ allowed: true });
  });

  it('takes nothing from a source when the overall bucket is empty', () => {
    let now = 0;
    const limiter = new InstallLimiter({ installsPerSourcePerMinute: 2, installsPerMinute: 2 }, () => now);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('b').allowed).toBe(true);
    expect(limiter.take('c')).toEqual({ allowed: false, scope: 'overall', retryAfterSeconds: 30 });
    now += 30_000;
    // c's own bucket was not spent by its refusal.
    expect(limiter.take('c').allowed).toBe(true);
  });

  it('remembers at most maxSources, dropping the one used longest ago; any text is a key', () => {
    const limiter = new InstallLimiter({ installsPerSourcePerMinute: 1, installsPerMinute: 1_000, maxSources: 3 });
    for (const source of ['__proto__', 'constructor', 'x'.repeat(10_000)])
      expect(limiter.take(source).allowed).toBe(true);
    expect(limiter.take('__proto__').allowed).toBe(false);
    expect(limiter.take('d').allowed).toBe(true);
    expect(limiter.sources).toBe(3);
    // 'constructor' was the oldest: dropped, so it starts full again; '__proto__' was used since, so it is held.
    expect(limiter.take('constructor').allowed).toBe(true);
    expect(limiter.take('__proto__').allowed).toBe(false);
    expect(({} as Record<string, unknown>).allowed).toBeUndefined();
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new InstallLimiter({ installsPerMinute: 0 })).toThrow(RangeError);
    expect(() => new InstallLimiter({ installsPerSourcePerMinute: 1.5 })).toThrow(RangeError);
  });
});
