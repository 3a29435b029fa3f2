// The Redis store against a real Redis server: its scripts give the in-process arithmetic's answers, and it
// degrades to the replica's share of the bucket when Redis goes away, and shares again when it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { type RedisServer, startRedis } from '../test-support/redis';
import { bucketOf } from './gcra';
import { MemoryStore } from './memory-store';
import { RedisStore, type SharingState } from './redis-store';
import type { LimitStore, Slot, SlotRequest } from './store';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
const connections: RedisConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await redis.stop();
});

let keys = 0;
/** Stores of replicas that share one portal (one key), started. */
function redisStores(
  count: number,
  options: { sharedBucket?: boolean; replicas?: number; onState?: (state: SharingState) => void } = {},
) {
  keys += 1;
  const key = `test:${process.pid}:${keys}`;
  return Array.from({ length: count }, () => {
    // Each store a replica of its own: its own connection.
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 200,
      markerKey: `${key}:marker`,
      logger: createLogger('silent'),
    });
    connections.push(connection);
    const store = new RedisStore({
      connection,
      key,
      bucket,
      replicas: options.replicas ?? count,
      sharedBucket: options.sharedBucket ?? true,
      logger: createLogger('silent'),
      ...(options.onState && { onState: options.onState }),
    });
    connection.start();
    store.start();
    return store;
  });
}
const redisStore = (options: Parameters<typeof redisStores>[1] = {}) => redisStores(1, options)[0]!;

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !condition(); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Ten seconds between requests, three at once: the milliseconds a test takes do not change a wait's second.
const bucket = bucketOf(0.1, 3);
const steps: (SlotRequest | 'backOff' | ['pause', number])[] = [
  { method: 'm', maxWaitMs: 0 },
  { method: 'm', maxWaitMs: 0 },
  { method: 'm', maxWaitMs: 0 },
  { method: 'm', maxWaitMs: 0 },
  { method: 'm', maxWaitMs: 60_000, ahead: 2, dryRun: true },
  { method: 'm', maxWaitMs: 60_000 },
  { method: 'm', maxWaitMs: 15_000 },
  'backOff',
  { method: 'm', maxWaitMs: 60_000, dryRun: true },
  ['pause', 30_000],
  { method: 'm', maxWaitMs: 60_000 },
  { method: 'other', maxWaitMs: 60_000, dryRun: true },
];

async function run(store: LimitStore): Promise<(Slot | undefined)[]> {
  const answers: (Slot | undefined)[] = [];
  for (const step of steps) {
    if (step === 'backOff') answers.push(void (await store.backOff()));
    else if (Array.isArray(step)) answers.push(void (await store.pause('m', Date.now() + step[1])));
    else answers.push(await store.slot(step));
  }
  return answers;
}

/** Waits to the second: the two clocks (this process's and Redis's) are a few milliseconds apart. */
const toSeconds = (slot: Slot | undefined) =>
  slot === undefined
    ? undefined
    : { kind: slot.kind, s: Math.round((slot.kind === 'paused' ? slot.ms : slot.waitMs) / 1000) };

describe('the Redis store', () => {
  it('answers as the in-process bucket does, step by step', async () => {
    const store = redisStore();
    await until(() => store.state === 'shared');
    const inRedis = (await run(store)).map(toSeconds);
    const inProcess = (await run(new MemoryStore(bucket))).map(toSeconds);
    expect(inRedis).toEqual(inProcess);
    expect(inRedis).toEqual([
      { kind: 'reserved', s: 0 },
      { kind: 'reserved', s: 0 },
      { kind: 'reserved', s: 0 },
      { kind: 'too-long', s: 10 },
      { kind: 'reserved', s: 30 },
      { kind: 'reserved', s: 10 },
      { kind: 'too-long', s: 20 },
      // Bitrix24 said its bucket is full; ours was fuller already (10 s booked ahead): it stays.
      undefined,
      { kind: 'reserved', s: 20 },
      undefined,
      { kind: 'paused', s: 30 },
      // The pause is the method's own: another method still has its slots.
      { kind: 'reserved', s: 20 },
    ]);
    await store.close();
  });

  it("shares one bucket between two stores (two replicas), on Redis's clock", async () => {
    const [a, b] = redisStores(2, { replicas: 1 }) as [RedisStore, RedisStore];
    await until(() => a.state === 'shared' && b.state === 'shared');
    const answers = [];
    for (const store of [a, b, a, b]) answers.push(toSeconds(await store.slot({ method: 'm', maxWaitMs: 0 })));
    expect(answers).toEqual([
      { kind: 'reserved', s: 0 },
      { kind: 'reserved', s: 0 },
      { kind: 'reserved', s: 0 },
      { kind: 'too-long', s: 10 },
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it('with shareAtOnce, a store made on a connection already up takes its first slot from the shared bucket', async () => {
    keys += 1;
    const key = `test:${process.pid}:${keys}`;
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 200,
      markerKey: `${key}:marker`,
      logger: createLogger('silent'),
    });
    connections.push(connection);
    connection.start();
    await until(() => connection.up);
    const made = (shareAtOnce: boolean) => {
      const store = new RedisStore({
        connection,
        key,
        bucket,
        replicas: 2,
        sharedBucket: true,
        logger: createLogger('silent'),
        shareAtOnce,
      });
      store.start();
      return store;
    };
    const first = made(true);
    expect(first.state).toBe('shared');
    for (let n = 0; n < 3; n++) expect((await first.slot({ method: 'm', maxWaitMs: 0 })).kind).toBe('reserved');
    // The shared bucket is full: a portal's store made now for the next call says so at once (on its own
    // share, before a probe, that call would have gone: a slot more than the portal allows).
    const next = made(true);
    expect((await next.slot({ method: 'm', maxWaitMs: 0 })).kind).toBe('too-long');
    const probed = made(false);
    expect(probed.state).toBe('degraded');
    expect((await probed.slot({ method: 'm', maxWaitMs: 0 })).kind).toBe('reserved');
    await Promise.all([first.close(), next.close(), probed.close()]);
  });

  it('limits on its own at its share while Redis is stalled, and shares again, the bucket pushed forward, when it answers', async () => {
    const states: SharingState[] = [];
    const store = redisStore({ replicas: 3, onState: (state) => states.push(state) });
    await until(() => store.state === 'shared');
    redis.pause();
    try {
      // The stalled server keeps its socket: the gateway's own deadline (200 ms here) ends the wait.
      const started = performance.now();
      const away = await store.slot({ method: 'm', maxWaitMs: 0 });
      expect(performance.now() - started, 'the deadline, not the stall').toBeLessThan(1_500);
      expect(store.state).toBe('degraded');
      // Never fail open: the portal's bucket may be full of the other replicas' requests, so the share
      // (one request at once, 3 / 3, one every 30 s) starts full.
      expect(toSeconds(away)).toEqual({ kind: 'too-long', s: 30 });
      expect(toSeconds(await store.slot({ method: 'm', maxWaitMs: 60_000 }))).toEqual({ kind: 'reserved', s: 30 });
    } finally {
      redis.resume();
    }
    await until(() => store.state === 'shared', 10_000);
    expect(states).toEqual(['shared', 'degraded', 'shared']);
    // What this replica booked meanwhile counts in the shared bucket, and so does the slot the stalled
    // command took when Redis resumed (it was written before its deadline): one more goes at once, not three.
    const after = [];
    for (let i = 0; i < 3; i++) after.push(toSeconds(await store.slot({ method: 'm', maxWaitMs: 0 }))?.kind);
    expect(after).toEqual(['reserved', 'too-long', 'too-long']);
    await store.close();
  }, 20_000);

  it("after Redis restarted empty, starts the shared bucket full: the other replicas may have filled the portal's", async () => {
    const store = redisStore({ replicas: 3 });
    await until(() => store.state === 'shared');
    await redis.stop();
    await redis.start();
    await until(() => store.state === 'shared', 10_000);
    expect(toSeconds(await store.slot({ method: 'm', maxWaitMs: 0 }))?.kind).toBe('too-long');
    await store.close();
  }, 20_000);

  it('with a bucket per replica (RATE_LIMIT_SCOPE=replica), shares the pause only', async () => {
    const [a, b] = redisStores(2, { sharedBucket: false }) as [RedisStore, RedisStore];
    await until(() => a.state === 'shared' && b.state === 'shared');
    for (let i = 0; i < 3; i++) expect((await a.slot({ method: 'm', maxWaitMs: 0 })).kind).toBe('reserved');
    // b has its own bucket: three more at once.
    for (let i = 0; i < 3; i++) expect((await b.slot({ method: 'm', maxWaitMs: 0 })).kind).toBe('reserved');
    await a.pause('m', Date.now() + 20_000);
    expect(toSeconds(await b.slot({ method: 'm', maxWaitMs: 0 }))).toEqual({ kind: 'paused', s: 20 });
    await Promise.all([a.close(), b.close()]);
  });
});
