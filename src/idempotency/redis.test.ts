// Idempotency keys shared by replicas through a real Redis: a retry that lands on another replica is
// recognised, and without Redis nothing is sent. The store against a real server: the claim's fail-closed
// window after Redis lost its data, answers written back, their bound, the refusals (no append-only file).
import { Writable } from 'node:stream';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisConfig } from '../config';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { closedPort } from '../test-support/ports';
import { type RedisServer, settleMarkers, startRedis } from '../test-support/redis';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { RedisIdempotencyStore } from './redis-store';
import { IdempotencyStoreUnavailable } from './store';

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
    requireAof: false,
  };
  const first = await startStack({ config: { redis: shared } });
  const base = new URL(first.emulator.webhookUrl);
  replicas = [
    first,
    ...(await Promise.all([1, 2].map(() => startStack({ upstreamBase: base, config: { redis: shared } })))),
  ];
  await settleMarkers(redis.url, `{test-${process.pid}:`);
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

let units = 0;
/** A replica's connection and store on `url` (the test's Redis unless told), its portal `name`, its log lines. */
async function unit(
  name = `unit-${process.pid}-${++units}`,
  url = redis.url,
  options: { maxPendingBytes?: number; maxRecentBytes?: number } = {},
) {
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    }),
  );
  let lost = 0;
  const markerKey = `{${name}}:marker`;
  const connection = new RedisConnection({
    url,
    commandTimeoutMs: 300,
    markerKey,
    leaseMs: 600,
    requireAof: false,
    logger,
    onRestartedEmpty: () => {
      lost += 1;
    },
  });
  const store = new RedisIdempotencyStore({ connection, prefix: `{${name}}`, markerKey, logger, ...options });
  connection.start();
  await until(() => connection.up);
  return { connection, store, lines, lost: () => lost, markerKey };
}

async function until(condition: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"result":true}' };

describe('the Redis store', () => {
  it('lets only the claimer complete or release, and answers "abandoned" once a lease ran out', async () => {
    const { connection, store } = await unit(`unit-${process.pid}`);
    await settleMarkers(redis.url, `{unit-${process.pid}}`);
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

describe("a portal's keys (application mode)", () => {
  /** A replica whose connection found its marker written `sinceMs` before now (0: Redis just began). */
  async function portalUnit(sinceMs: number) {
    const name = `portal-unit-${process.pid}-${++units}`;
    const raw = createClient({ url: redis.url });
    await raw.connect();
    const markerKey = `{${name}:portals}:marker`;
    if (sinceMs > 0)
      await raw.hSet(markerKey, { epoch: 'test', since: String(Date.now() - sinceMs), lease: '600', run: 'test' });
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 300,
      markerKey,
      leaseMs: 600,
      requireAof: false,
      logger: createLogger('silent'),
    });
    const store = new RedisIdempotencyStore({
      connection,
      prefix: `{${name}:portals}`,
      markerKey,
      portalTag: (memberId) => `{${name}:portal:${memberId}}`,
      logger: createLogger('silent'),
    });
    connection.start();
    await until(() => connection.up);
    return { name, raw, connection, store };
  }
  const claim = (key: string) => ({ key, fingerprint: 'f', leaseMs: 600, retentionMs: 60_000 });

  it("live under the portal's hash tag, beside its own marker, and are not fenced once Redis is older than a lease", async () => {
    const { name, raw, connection, store } = await portalUnit(60_000);
    // A portal installed long after Redis began: its first keys, and the ones after, are claimed.
    for (const key of ['member1/k1', 'member1/k2', 'member1/k3', 'member2/k1'])
      expect((await store.claim(claim(key))).kind, key).toBe('claimed');
    expect(await raw.exists(`{${name}:portal:member1}:idempotency:k1`)).toBe(1);
    expect(await raw.exists(`{${name}:portal:member2}:idempotency:k1`)).toBe(1);
    expect(await raw.hGet(`{${name}:portal:member1}:marker`, 'since')).toBe(String(connection.markerSince));
    await connection.close();
    await raw.close();
  });

  it('are fenced with every other key while Redis is younger than a lease (it is new, or lost its data)', async () => {
    const { raw, connection, store } = await portalUnit(0);
    await expect(store.claim(claim('member1/k1'))).rejects.toBeInstanceOf(IdempotencyStoreUnavailable);
    await until(async () => (await store.claim(claim('member1/k2')).catch(() => undefined))?.kind === 'claimed');
    await connection.close();
    await raw.close();
  });
});

describe('a key outlives its call', () => {
  it('in the store: a claim lives the longer of its lease and the retention (lease 1.5 s, retention 0.2 s)', async () => {
    const { connection, store } = await unit(`lease-${process.pid}`);
    await settleMarkers(redis.url, `{lease-${process.pid}}`);
    try {
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
          requireAof: false,
        },
        // Shorter than the call (the configuration's minimum is 60 s; the rule is the same).
        idempotency: { retentionMs: 300, maxKeys: 100, maxBytes: 1_000_000 },
        upstreamTimeoutMs: 5_000,
      },
      emulator: { slowResponseMs: 1_800 },
    });
    try {
      await settleMarkers(redis.url, `{lease-gw-${process.pid}:`);
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const request = (key: string, leaseMs = 600) => ({ key, fingerprint: 'f', leaseMs, retentionMs: 60_000 });
/** The claim's refusal, or what it claimed. */
const attempt = (store: RedisIdempotencyStore, key: string, leaseMs = 600) =>
  store.claim(request(key, leaseMs)).catch((error: unknown) => error);

describe('a Redis that forgets cannot send twice: the store', () => {
  let server: RedisServer;
  const closing: RedisConnection[] = [];
  const replica = async (name: string, options: { maxPendingBytes?: number; maxRecentBytes?: number } = {}) => {
    const made = await unit(name, server.url, options);
    closing.push(made.connection);
    return made;
  };
  beforeAll(async () => {
    server = await startRedis([], undefined, undefined, { aof: true });
  });
  afterAll(async () => {
    await Promise.all(closing.map((connection) => connection.close()));
    await server.dispose();
  });

  it('fences keys Redis does not know for the lease after a new marker, on every replica; claims in flight are written again', async () => {
    const a = await replica('fence');
    const b = await replica('fence');
    // A new Redis (no marker before these replicas): a retry cannot be told from a first call.
    const fresh = (await attempt(a.store, 'k0')) as IdempotencyStoreUnavailable;
    expect(fresh).toBeInstanceOf(IdempotencyStoreUnavailable);
    expect(fresh.why).toContain('lost its data');
    expect(fresh.retryAfterMs).toBeGreaterThan(0);
    expect(fresh.retryAfterMs).toBeLessThanOrEqual(600);
    expect(a.connection.readiness().state).toBe('fail-closed');
    await sleep(650);
    expect((await a.store.claim(request('k1'))).kind).toBe('claimed');
    expect(a.connection.readiness().state).toBe('connected');
    // A claim of a longer lease: the window is the longest lease a replica declared (here from now on).
    await until(async () => ((await attempt(a.store, 'k3', 1_500)) as { kind?: string }).kind === 'claimed');

    // Emptied while A's call runs (its append-only file wiped).
    await server.stop();
    await server.start();
    await until(() => a.connection.up && b.connection.up && a.lost() === 1 && b.lost() === 1);
    expect(await b.store.claim(request('k3', 1_500)), "A's claim, written again").toMatchObject({ kind: 'in-flight' });
    const fenced = (await attempt(b.store, 'k2')) as IdempotencyStoreUnavailable;
    expect(fenced).toBeInstanceOf(IdempotencyStoreUnavailable);
    expect(fenced.retryAfterMs).toBeLessThanOrEqual(600);
    expect(b.connection.readiness()).toMatchObject({ state: 'fail-closed' });
    expect(b.store.state().failClosed).toBe(true);
    expect(a.lines.filter((line) => line.includes('Redis lost its data'))).toHaveLength(1);
    await sleep(650);
    expect((await b.store.claim(request('k2'))).kind).toBe('claimed');
  });

  it('keeps an answer Redis did not take and writes it back where the key is gone; replays it meanwhile', async () => {
    const a = await replica('back');
    await settleMarkers(server.url, '{back}');
    const claim = await a.store.claim(request('k'));
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await server.stop();
    await expect(a.store.complete('k', claim.token, answer, 60_000)).rejects.toBeInstanceOf(
      IdempotencyStoreUnavailable,
    );
    expect(a.store.state()).toMatchObject({ pending: 1, dropped: 0 });
    expect(await a.store.claim(request('k')), 'replayed from what the replica keeps').toEqual({ kind: 'done', answer });
    expect(await a.store.claim({ ...request('k'), fingerprint: 'other' })).toEqual({ kind: 'mismatch' });
    await server.start();
    const b = await replica('back');
    await until(() => a.store.state().pending === 0);
    // Within the fail-closed window: the answer written back is there.
    expect(b.connection.readiness().state).toBe('fail-closed');
    expect(await b.store.claim(request('k'))).toEqual({ kind: 'done', answer });
    expect(a.lines.filter((line) => line.includes('wrote back 1 answer'))).toHaveLength(1);
  });

  it('writes the answers Redis took again once it lost them, within the window: a late retry is replayed; the oldest go past the bound', async () => {
    const a = await replica('recent', { maxRecentBytes: 1_500 });
    await settleMarkers(server.url, '{recent}');
    const long = { ...answer, body: 'x'.repeat(400) };
    for (const key of ['r1', 'r2', 'r3']) {
      const claim = await a.store.claim(request(key));
      if (claim.kind !== 'claimed') throw new Error(claim.kind);
      await a.store.complete(key, claim.token, long, 60_000);
    }
    expect(a.store.state().recent, 'two fit in the bound: the oldest went').toBe(2);
    await server.stop();
    await server.start();
    const b = await replica('recent');
    await until(() => a.lines.some((line) => line.includes('wrote again 2 answer')));
    expect(b.connection.readiness().state).toBe('fail-closed');
    expect(await b.store.claim(request('r2'))).toEqual({ kind: 'done', answer: long });
    expect(await b.store.claim(request('r3'))).toEqual({ kind: 'done', answer: long });
    expect(await attempt(b.store, 'r1'), 'not kept: fail-closed, then free').toBeInstanceOf(
      IdempotencyStoreUnavailable,
    );
  });

  it("never writes an answer back over another token's claim, and says so", async () => {
    const a = await replica('other');
    await settleMarkers(server.url, '{other}');
    const claim = await a.store.claim(request('x'));
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    const admin = createClient({ url: server.url });
    await admin.connect();
    try {
      const theirs = JSON.stringify({ f: 'f', t: 'their-token', l: Date.now() + 60_000 });
      await admin.set('{other}:idempotency:x', theirs);
      await a.store.complete('x', claim.token, answer, 60_000);
      expect(await admin.get('{other}:idempotency:x')).toBe(theirs);
      expect(a.lines.filter((line) => line.includes('another request claimed a key'))).toHaveLength(1);
    } finally {
      await admin.close();
    }
  });

  it('keeps what fits its bound, oldest first: the rest is dropped, logged once and counted', async () => {
    const a = await replica('bound', { maxPendingBytes: 1_000 });
    await settleMarkers(server.url, '{bound}');
    const claims = await Promise.all(['b1', 'b2', 'b3'].map((key) => a.store.claim(request(key))));
    await server.stop();
    const long = { ...answer, body: 'x'.repeat(400) };
    for (const [i, claim] of claims.entries()) {
      if (claim.kind !== 'claimed') throw new Error(claim.kind);
      await a.store.complete(`b${i + 1}`, claim.token, long, 60_000).catch(() => undefined);
    }
    expect(a.store.state()).toMatchObject({ pending: 1, dropped: 2 });
    expect(a.lines.filter((line) => line.includes('too many answers wait to be written back'))).toHaveLength(1);
    await server.start({ keepData: true });
    await until(() => a.store.state().pending === 0);
    const b = await replica('bound');
    expect(await b.store.claim(request('b1'))).toEqual({ kind: 'done', answer: long });
    // Dropped, but its claim was kept by Redis (its append-only file): never free.
    expect(await b.store.claim(request('b2'))).toMatchObject({ kind: 'in-flight' });
  });

  it('finds a FLUSHALL while connected: the next claim fences, and each replica writes its claims and answers again', async () => {
    const a = await replica('flush');
    const b = await replica('flush');
    await settleMarkers(server.url, '{flush}');
    expect((await a.store.claim(request('mine', 1_500))).kind).toBe('claimed');
    const done = await a.store.claim(request('done'));
    if (done.kind !== 'claimed') throw new Error(done.kind);
    await a.store.complete('done', done.token, answer, 60_000);
    const admin = createClient({ url: server.url });
    await admin.connect();
    await admin.flushAll();
    await admin.close();
    expect(await attempt(b.store, 'new')).toBeInstanceOf(IdempotencyStoreUnavailable);
    expect(await attempt(a.store, 'new-too')).toBeInstanceOf(IdempotencyStoreUnavailable);
    await until(() => a.lost() === 1 && b.lost() === 1);
    await until(async () => (await b.store.claim(request('mine', 1_500))).kind === 'in-flight');
    await until(async () => ((await attempt(b.store, 'done')) as { kind?: string }).kind === 'done');
  });

  it('counts a restart of a Redis without an append-only file as a loss even when a snapshot brought the marker back', async () => {
    const rdb = await startRedis(['--appendonly', 'no'], undefined, undefined, { aof: true });
    try {
      const a = await unit('rdb', rdb.url);
      closing.push(a.connection);
      const admin = createClient({ url: rdb.url });
      await admin.connect();
      const marker = await admin.hGet(a.markerKey, 'epoch');
      await admin.sendCommand(['SAVE']);
      await admin.close();
      await rdb.stop();
      await rdb.start({ keepData: true });
      await until(() => a.lost() === 1);
      expect(a.connection.epoch).not.toBe(marker);
      expect(a.connection.readiness().state).toBe('fail-closed');
    } finally {
      await rdb.dispose();
    }
  });

  it('refuses keys on a Redis without an append-only file unless REDIS_REQUIRE_AOF=false, naming appendonly', async () => {
    const connection = new RedisConnection({
      url: redis.url,
      commandTimeoutMs: 300,
      markerKey: '{strict}:marker',
      leaseMs: 600,
      logger: createLogger('silent'),
    });
    closing.push(connection);
    const store = new RedisIdempotencyStore({
      connection,
      prefix: '{strict}',
      markerKey: '{strict}:marker',
      logger: createLogger('silent'),
    });
    connection.start();
    await until(() => connection.up);
    expect(connection.readiness()).toMatchObject({ state: 'refused' });
    expect(connection.readiness().problem).toContain('appendonly is no');
    const refused = (await attempt(store, 'k')) as IdempotencyStoreUnavailable;
    expect([refused.reason, refused.why]).toEqual(['refused', expect.stringContaining('REDIS_REQUIRE_AOF=false')]);
    const accepting = await unit('accepting');
    closing.push(accepting.connection);
    expect(accepting.connection.readiness().warning).toContain('accepted by REDIS_REQUIRE_AOF=false');
  });
});

describe('Idempotency-Key without its Redis', () => {
  let lost: Stack;
  beforeAll(async () => {
    const url = new URL(`redis://127.0.0.1:${await closedPort()}`);
    lost = await startStack({
      config: {
        redis: { url, keyPrefix: 'lost', replicas: 2, scope: 'shared', commandTimeoutMs: 100, requireAof: false },
      },
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
