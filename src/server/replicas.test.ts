// Several replicas, one portal: three gateway processes (the build), one emulator with its real bucket on
// (scaled up: 25 a second, burst 40), one real Redis. The burst is spread unevenly over the replicas, as a
// load balancer may spread it; the portal's own count of rejections says whether the limit held.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../emulator';
import { type GatewayProcess, startGatewayProcess } from '../test-support/processes';
import { type RedisServer, settleMarkers, startRedis } from '../test-support/redis';

const RATE = 25;
const BURST = 40;
/**
 * The burst the gateways are told: a quarter of the portal's, so that the headroom (30 calls, more than a
 * second of the busiest replica's sends) covers sends delayed by a loaded machine (make test runs four
 * suites side by side on two cores), which would otherwise bunch into the portal's bucket. What is tested
 * is the shared bucket, not the machine's latency: three unshared buckets still overflow it within 0.4 s.
 */
const GATEWAY_BURST = 10;
const PREFIX = 'replicas-test';

let redis: RedisServer;
let emulator: RunningEmulator;
let gateways: GatewayProcess[] = [];
beforeAll(async () => {
  // With its append-only file, as production runs it (its start after a stop is empty: the file wiped).
  redis = await startRedis([], undefined, undefined, { aof: true });
  emulator = await startEmulator({
    rateLimit: { enabled: true, drainPerSecond: RATE, burst: BURST },
    operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  });
});
afterEach(async () => {
  redis.resume();
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  gateways = [];
  emulator.reset();
  if (!(await redisUp())) await redis.start();
});
afterAll(async () => {
  await emulator.close();
  await redis.dispose();
});

async function redisUp(): Promise<boolean> {
  try {
    const { createConnection } = await import('node:net');
    return await new Promise((resolve) => {
      const socket = createConnection(redis.port, '127.0.0.1');
      socket.once('connect', () => resolve(Boolean(socket.end())));
      socket.once('error', () => resolve(false));
    });
  } catch {
    return false;
  }
}

/** Three replicas in front of the emulator, sharing Redis (or not). */
async function startReplicas(shared: boolean, more: Record<string, string> = {}): Promise<GatewayProcess[]> {
  const env = {
    BITRIX24_WEBHOOK_URL: emulator.webhookUrl,
    BITRIX24_CLIENT_ID: 'replicas.bot',
    GATEWAY_ALLOW_ANONYMOUS: 'true',
    RATE_LIMIT_PER_SECOND: String(RATE),
    RATE_LIMIT_BURST: String(GATEWAY_BURST),
    QUEUE_MAX_WAIT_MS: '30000',
    RETRY_DEADLINE_MS: '3000',
    RETRY_BASE_DELAY_MS: '100',
    OPERATING_PAUSE_MS: '5000',
    LOG_LEVEL: 'warn',
    ...(shared && { REDIS_URL: redis.url, GATEWAY_REPLICAS: '3', REDIS_KEY_PREFIX: PREFIX }),
    ...more,
  };
  // LOG_LEVEL=warn would hide the listening line, which says where each listens: info, then.
  gateways = await Promise.all([0, 1, 2].map(() => startGatewayProcess({ ...env, LOG_LEVEL: 'info' })));
  if (shared) {
    await Promise.all(gateways.map((gateway) => until(async () => (await readiness(gateway)).limiter === 'shared')));
    // A Redis in use for longer than a lease: keys are not fail-closed as on a new one (src/server/forgetful-redis.test.ts is about that).
    await settleMarkers(redis.url, `{${PREFIX}:`);
  }
  return gateways;
}

const readiness = async (gateway: GatewayProcess) =>
  (await (await fetch(`${gateway.url}/readyz`)).json()) as { status: string; limiter: string };

async function until(condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * 150 transfers at once, chat i to replica 0 for most, the others for the rest; the answers' statuses. With
 * `keyEvery`, every so many carries an Idempotency-Key.
 */
async function burst(
  replicas: GatewayProcess[],
  split = [100, 30, 20],
  keyEvery = 0,
): Promise<{ statuses: number[]; ms: number }> {
  const started = performance.now();
  const targets = split.flatMap((count, replica) => Array.from({ length: count }, () => replicas[replica]!));
  const statuses = await Promise.all(
    targets.map(async (gateway, i) => {
      const response = await fetch(`${gateway.url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(keyEvery > 0 && i % keyEvery === 0 && { 'idempotency-key': `burst-${process.pid}-${i}` }),
        },
        body: JSON.stringify({ CHAT_ID: i + 1, USER_ID: 12 }),
        signal: AbortSignal.timeout(40_000),
      });
      await response.arrayBuffer();
      return response.status;
    }),
  );
  return { statuses, ms: performance.now() - started };
}

/** What the replicas logged besides their access lines (a change of the limiter's state, a retry). */
const said = (replicas: GatewayProcess[]) =>
  replicas
    .map((replica) => replica.lines.filter((line) => !line.includes('"msg":"request"')).join('\n'))
    .join('\n--\n');

/** How many calls the portal received for each chat: every request is its own chat. */
const callsPerChat = () => {
  const calls = new Map<unknown, number>();
  for (const call of emulator.received) calls.set(call.params.CHAT_ID, (calls.get(call.params.CHAT_ID) ?? 0) + 1);
  return calls;
};

describe("three replicas sharing the portal's bucket through Redis", () => {
  it("drain an uneven burst of 150 at the portal's rate: no QUERY_LIMIT_EXCEEDED from it, every caller 200", async () => {
    // A deadline missed on a loaded machine would degrade one replica while the others share (each then
    // sends its share beside the shared bucket): this test is of the healthy shared bucket.
    const replicas = await startReplicas(true, { REDIS_COMMAND_TIMEOUT_MS: '2000' });
    const draining = burst(replicas);
    // The bucket's key, read while the burst drains: it expires a second after the bucket empties.
    await until(async () => emulator.received.length >= 40);
    const keys = await redisKeys();
    const { statuses, ms } = await draining;
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(
      emulator.stats.rejectedByRateLimit,
      `the portal's own rejections; the replicas said:\n${said(replicas)}`,
    ).toBe(0);
    expect([...callsPerChat().values()].every((calls) => calls === 1)).toBe(true);
    // The theoretical minimum: what the portal's burst takes at once, the rest at its rate.
    const theoretical = ((150 - GATEWAY_BURST) / RATE) * 1000;
    expect(ms, 'a generous sanity bound; the benchmark measures the ratio').toBeLessThan(theoretical * 3 + 2_000);
    expect(keys).toContain(`{${PREFIX}:${new URL(emulator.url).host}}:limit`);
  }, 60_000);

  it('without Redis, each replica holds its own bucket: the portal rejects what the three send together', async () => {
    const replicas = await startReplicas(false);
    await burst(replicas, [50, 50, 50]);
    expect(emulator.stats.rejectedByRateLimit, 'the rejections the shared bucket prevents').toBeGreaterThan(0);
  }, 60_000);

  it('with Redis gone mid-burst: no caller hangs, no chat is called twice, the portal rejects nothing; Redis back: shared again', async () => {
    const replicas = await startReplicas(true);
    const running = burst(replicas);
    // Mid-burst (about 0.5 s in, on a quiet machine): once the gateways have sent their burst and half a
    // second's worth, however loaded the machine is.
    await until(async () => emulator.received.length >= GATEWAY_BURST + RATE / 2);
    await redis.stop();
    const { statuses } = await running;
    expect(
      statuses.every((status) => status === 200 || status === 503),
      `statuses: ${statuses}`,
    ).toBe(true);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(100);
    expect(
      [...callsPerChat().values()].every((calls) => calls === 1),
      'a chat called twice',
    ).toBe(true);
    expect(emulator.stats.rejectedByRateLimit, "the portal's own rejections at the degraded rate").toBe(0);
    expect((await readiness(replicas[0]!)).limiter).toBe('degraded');
    const metrics = await (await fetch(`${replicas[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_limiter_shared\{state="degraded"\} 1/);
    await redis.start();
    for (const replica of replicas) await until(async () => (await readiness(replica)).limiter === 'shared');
  }, 90_000);

  it('with Redis stalled mid-burst (SIGSTOP): no caller hangs, no chat is called twice, the portal rejects nothing; Redis answering: shared again', async () => {
    const replicas = await startReplicas(true);
    const running = burst(replicas, [100, 30, 20], 3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    redis.pause();
    let statuses: number[];
    try {
      ({ statuses } = await running);
      expect((await readiness(replicas[0]!)).limiter).toBe('degraded');
      const metrics = await (await fetch(`${replicas[0]!.url}/metrics`)).text();
      expect(metrics).toMatch(/gateway_limiter_shared\{state="degraded"\} 1/);
      // A line per change of state (a loaded machine may add one before the stall; the attack suite counts exactly).
      expect(replicas[0]!.lines.filter((line) => line.includes('"cause":"timed out"')).length).toBeGreaterThan(0);
    } finally {
      redis.resume();
    }
    // Keyed calls met by the stall are 503 IDEMPOTENCY_STORE_UNAVAILABLE (not sent); the rest go at the shares.
    expect(
      statuses.every((status) => status === 200 || status === 503),
      `statuses: ${statuses}`,
    ).toBe(true);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(80);
    expect(
      [...callsPerChat().values()].every((calls) => calls === 1),
      'a chat called twice',
    ).toBe(true);
    expect(emulator.stats.rejectedByRateLimit, "the portal's own rejections at the degraded rate").toBe(0);
    for (const replica of replicas) await until(async () => (await readiness(replica)).limiter === 'shared');
  }, 90_000);

  it('stop on SIGTERM during a stall within SHUTDOWN_TIMEOUT_MS, every caller answered', async () => {
    // A deadline long enough that every request has arrived and waits for Redis when SIGTERM comes.
    const [gateway] = await startReplicas(true, { REDIS_COMMAND_TIMEOUT_MS: '1500', SHUTDOWN_TIMEOUT_MS: '4000' });
    redis.pause();
    try {
      const answers = Array.from({ length: 10 }, (_, i) =>
        fetch(`${gateway!.url}/rest/imopenlines.bot.session.transfer`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(i % 2 === 0 && { 'idempotency-key': `sigterm-${process.pid}-${i}` }),
          },
          body: JSON.stringify({ CHAT_ID: 9000 + i, USER_ID: 12 }),
        }).then(
          (response) => response.status,
          (error: unknown) => `no answer: ${error}`,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 400));
      const started = performance.now();
      const exited = new Promise<number | null>((resolve) => gateway!.child.once('exit', resolve));
      gateway!.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(performance.now() - started, 'SHUTDOWN_TIMEOUT_MS').toBeLessThan(4_000);
      const statuses = await Promise.all(answers);
      expect(
        statuses.every((status) => status === 200 || status === 503),
        `statuses: ${statuses}`,
      ).toBe(true);
    } finally {
      redis.resume();
    }
    expect([...callsPerChat().values()].every((calls) => calls === 1)).toBe(true);
  }, 60_000);

  it('learn of an operating-time pause that one of them met: the other two answer 429 without calling Bitrix24', async () => {
    const [first, second, third] = await startReplicas(true);
    const blocked = await fetch(`${first!.url}/rest/imopenlines.bot.session.transfer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 4291, USER_ID: 12 }),
    });
    expect([blocked.status, ((await blocked.json()) as { error: string }).error]).toEqual([
      429,
      'OPERATION_TIME_LIMIT',
    ]);
    const calls = emulator.received.length;
    for (const other of [second!, third!]) {
      const answer = await fetch(`${other.url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ CHAT_ID: 1, USER_ID: 12 }),
      });
      expect([answer.status, ((await answer.json()) as { error: string }).error]).toEqual([
        429,
        'OPERATION_TIME_LIMIT',
      ]);
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(emulator.received.length, 'calls to Bitrix24 while the method is paused').toBe(calls);
  }, 60_000);
});

/** The keys in the test's Redis, read with the real client. */
async function redisKeys(): Promise<string[]> {
  const { createClient } = await import('redis');
  const client = createClient({ url: redis.url });
  await client.connect();
  try {
    return await client.keys(`{${PREFIX}:*`);
  } finally {
    await client.close();
  }
}
