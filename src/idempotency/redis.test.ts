// Idempotency keys shared by replicas through a real Redis: a retry that lands on another replica is
// recognised, and without Redis nothing is sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisConfig } from '../config';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { closedPort } from '../test-support/ports';
import { type RedisServer, startRedis } from '../test-support/redis';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { RedisIdempotencyStore } from './redis-store';

let redis: RedisServer;
let replicas: Stack[];
beforeAll(async () => {
  redis = await startRedis();
  const shared: RedisConfig = {
    url: new URL(redis.url),
    keyPrefix: `test-${process.pid}`,
    replicas: 3,
    scope: 'shared',
    commandTimeoutMs: 500,
  };
  const first = await startStack({ config: { redis: shared } });
  const base = new URL(first.emulator.webhookUrl);
  replicas = [
    first,
    ...(await Promise.all([1, 2].map(() => startStack({ upstreamBase: base, config: { redis: shared } })))),
  ];
});
afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.close()));
  await redis.stop();
});

const transfer = { CHAT_ID: 112, USER_ID: 12 };
const calls = () => replicas[0]!.emulator.received.length;

describe('Idempotency-Key across three replicas sharing Redis', () => {
  it('sends 21 concurrent requests with one key, spread over the replicas, to Bitrix24 once', async () => {
    replicas[0]!.emulator.reset();
    const key = `spread-${process.pid}`;
    const answers = await Promise.all(
      Array.from({ length: 21 }, (_, i) =>
        replicas[i % 3]!.post(TRANSFER, transfer, { headers: { 'idempotency-key': key } }),
      ),
    );
    expect(calls()).toBe(1);
    expect(answers.every((answer) => answer.status === 200 || answer.body.error === 'IDEMPOTENCY_KEY_IN_USE')).toBe(
      true,
    );
    const replay = await replicas[2]!.post(TRANSFER, transfer, { headers: { 'idempotency-key': key } });
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    const mismatch = await replicas[1]!.post(
      TRANSFER,
      { ...transfer, USER_ID: 99 },
      { headers: { 'idempotency-key': key } },
    );
    expect(mismatch.body.error).toBe('IDEMPOTENCY_KEY_MISMATCH');
    expect(calls()).toBe(1);
  });
});

describe('the Redis store', () => {
  it('lets only the claimer complete or release, and answers "abandoned" once a lease ran out', async () => {
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 500,
      markerKey: `unit-${process.pid}:marker`,
      logger: createLogger('silent'),
    });
    connection.start();
    const store = new RedisIdempotencyStore({ connection, prefix: `unit-${process.pid}` });
    const claim = { key: 'k1', fingerprint: 'f', leaseMs: 100, retentionMs: 60_000 };
    const first = await store.claim(claim);
    expect(first.kind).toBe('claimed');
    await store.complete('k1', 'not-the-token', { status: 200, headers: {}, body: 'x' }, 60_000);
    await store.release('k1', 'not-the-token');
    expect(await store.claim(claim)).toMatchObject({ kind: 'in-flight' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await store.claim(claim)).toEqual({ kind: 'abandoned' });
    const second = await store.claim({ ...claim, key: 'k2' });
    if (second.kind !== 'claimed') throw new Error(second.kind);
    await store.release('k2', second.token);
    expect((await store.claim({ ...claim, key: 'k2' })).kind).toBe('claimed');
    await connection.close();
  });
});

describe('a key outlives its call', () => {
  it('in the store: a claim lives the longer of its lease and the retention (lease 1.5 s, retention 0.2 s)', async () => {
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 500,
      markerKey: `lease-${process.pid}:marker`,
      logger: createLogger('silent'),
    });
    connection.start();
    try {
      const store = new RedisIdempotencyStore({ connection, prefix: `lease-${process.pid}` });
      const claim = { key: 'long-call', fingerprint: 'f', leaseMs: 1_500, retentionMs: 200 };
      expect((await store.claim(claim)).kind).toBe('claimed');
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect((await store.claim(claim)).kind, 'past the retention, within the lease').toBe('in-flight');
    } finally {
      await connection.close();
    }
  });

  it('through a gateway: a retry after the retention of a call still running at a slow portal is refused, not sent', async () => {
    const slow = await startStack({
      config: {
        redis: {
          url: new URL(redis.url),
          keyPrefix: `lease-gw-${process.pid}`,
          replicas: 1,
          scope: 'shared',
          commandTimeoutMs: 500,
        },
        // Shorter than the call (the configuration's minimum is 60 s; the rule is the same).
        idempotency: { retentionMs: 300, maxKeys: 100, maxBytes: 1_000_000 },
        upstreamTimeoutMs: 5_000,
      },
      emulator: { slowResponseMs: 1_800 },
    });
    try {
      const headers = { 'idempotency-key': 'slow-call' };
      const body = { CHAT_ID: 5904, USER_ID: 12 };
      const first = slow.post(TRANSFER, body, { headers });
      await new Promise((resolve) => setTimeout(resolve, 900));
      const retry = await slow.post(TRANSFER, body, { headers });
      expect([retry.status, retry.body.error]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
      expect((await first).status).toBe(200);
      expect(slow.emulator.received).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });
});

describe('Idempotency-Key without its Redis', () => {
  let lost: Stack;
  beforeAll(async () => {
    const url = new URL(`redis://127.0.0.1:${await closedPort()}`);
    lost = await startStack({
      config: { redis: { url, keyPrefix: 'lost', replicas: 2, scope: 'shared', commandTimeoutMs: 100 } },
    });
  });
  afterAll(() => lost.close());

  it('answers 503 IDEMPOTENCY_STORE_UNAVAILABLE and sends nothing; without a key the call still goes', async () => {
    const answer = await lost.post(TRANSFER, transfer, { headers: { 'idempotency-key': 'any-key' } });
    expect([answer.status, answer.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(lost.emulator.received).toHaveLength(0);
    expect((await lost.post(TRANSFER, transfer)).status).toBe(200);
  });
});
