// The gateway's connection on a real three-node Redis Cluster (REDIS_CLUSTER=true): it comes up from one
// seed, its checks read every master (one evicting, or without an append-only file, refuses the keys), the
// stores' commands and scripts reach the node of their key's slot (portals on different nodes), and a
// stalled node costs a command at most its deadline, with the connection back once the node answers.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPortalStore } from '../application/redis-portal-store';
import type { PortalRecord } from '../application/types';
import { TokenVault } from '../application/vault';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { createLogger } from '../logger';
import { bucketOf } from '../rate-limit/gcra';
import { RedisStore } from '../rate-limit/redis-store';
import { startRedis } from '../test-support/redis';
import { type RedisCluster, startRedisCluster } from '../test-support/redis-cluster';
import { RedisConnection, RedisDeadlineError, RedisUnavailableError } from '.';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
const connections: RedisConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await cluster?.dispose();
});

async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let units = 0;
/** A replica's connection to the cluster (through its seed, unless told), started, with the lines it logged. */
function connect(
  options: { commandTimeoutMs?: number; markerKey?: string; url?: string; cluster?: boolean; on?: RedisCluster } = {},
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
  const connection = new RedisConnection({
    url: options.url ?? (options.on ?? cluster).url,
    cluster: options.cluster ?? true,
    commandTimeoutMs: options.commandTimeoutMs ?? 500,
    markerKey: options.markerKey ?? `{cluster-test-${process.pid}-${++units}}:marker`,
    logger,
  });
  connections.push(connection);
  connection.start();
  return { connection, lines };
}

/** One name per node, `name(i)` for the first i whose key lands there: a portal on each of the three nodes. */
async function onEachNode(key: (name: string) => string, name: (i: number) => string, on = cluster): Promise<string[]> {
  const found: (string | undefined)[] = [undefined, undefined, undefined];
  for (let i = 0; found.includes(undefined); i++) {
    const node = await on.nodeOf(key(name(i)));
    found[node] ??= name(i);
  }
  return found as string[];
}

describe('a connection to a Redis Cluster', () => {
  it('comes up from one seed node, checks every master, and reads as connected', async () => {
    const { connection, lines } = connect();
    await until(() => connection.up);
    expect(connection.readiness()).toEqual({ state: 'connected' });
    expect(lines.some((line) => line.includes(`Redis reached at 127.0.0.1:${cluster.ports[0]}`))).toBe(true);
    // A key of each node, through the one connection: each command reaches the node of its slot.
    const keys = await onEachNode(
      (name) => name,
      (i) => `{reach-${i}}:x`,
    );
    for (const key of keys) await connection.run((client) => client.sendCommand(['SET', key, 'v']));
    for (const [node, key] of keys.entries())
      expect(await cluster.cli(node, 'GET', key), `node ${node} holds ${key}`).toBe('v');
  });

  it.each([
    ['maxmemory-policy', 'allkeys-lru', 'noeviction', /maxmemory-policy is allkeys-lru on the cluster's node/],
    ['appendonly', 'no', 'yes', /appendonly is no on the cluster's node/],
  ])('refuses the keys while one master has %s %s, naming that node', async (name, bad, good, problem) => {
    await cluster.cli(2, 'CONFIG', 'SET', name, bad);
    try {
      const { connection, lines } = connect();
      await until(() => connection.up);
      const readiness = connection.readiness();
      expect(readiness.state).toBe('refused');
      expect(readiness.problem).toMatch(problem);
      expect(readiness.problem).toContain(`127.0.0.1:${cluster.ports[2]}`);
      expect(lines.some((line) => line.includes(`"node":"127.0.0.1:${cluster.ports[2]}"`))).toBe(true);
    } finally {
      await cluster.cli(2, 'CONFIG', 'SET', name, good);
      // Turned on again, the append-only file holds nothing until its first rewrite is done: a later test
      // that kills the node would see it lose its keys.
      await until(async () =>
        /aof_rewrite_in_progress:0\r?\n[\s\S]*aof_rewrite_scheduled:0/.test(
          await cluster.cli(2, 'INFO', 'persistence'),
        ),
      );
    }
    const { connection } = connect();
    await until(() => connection.up);
    expect(connection.readiness().state).toBe('connected');
  });

  it("counts a restart of any master as a restart of Redis (its run_id is one of the masters' together)", async () => {
    const { connection, lines } = connect();
    await until(() => connection.up);
    // Not the seed: the node the connection first asked.
    await cluster.restart(2);
    await until(() => lines.some((line) => line.includes('Redis restarted and kept its data'))).catch(() => {
      throw new Error(`no restart seen in:\n${lines.join('\n')}`);
    });
    await until(() => connection.up);
    expect(connection.readiness().state).toBe('connected');
  });

  it("gives the portals' shared buckets on different nodes their slots from Redis", async () => {
    const { connection } = connect();
    await until(() => connection.up);
    const hosts = await onEachNode(
      (host) => `{limits-${process.pid}:${host}}:limit`,
      (i) => `portal${i}.bitrix24.com`,
    );
    // Ten seconds between requests, three at once: a fourth at once is too long a wait.
    const bucket = bucketOf(0.1, 3);
    for (const [node, host] of hosts.entries()) {
      const key = `{limits-${process.pid}:${host}}:limit`;
      const store = new RedisStore({
        connection,
        key,
        bucket,
        replicas: 2,
        sharedBucket: true,
        logger: createLogger('silent'),
      });
      store.start();
      await until(() => store.state === 'shared');
      const slots = [];
      for (let i = 0; i < 4; i++) slots.push(await store.slot({ method: 'm', maxWaitMs: 0 }));
      expect(slots.map((slot) => slot.kind)).toEqual(['reserved', 'reserved', 'reserved', 'too-long']);
      // The bucket is in the node of its slot: the shared one, not the replica's own share (one at once).
      expect(Number(await cluster.cli(node, 'HGET', key, 'tat'))).toBeGreaterThan(0);
      await store.close();
    }
  });

  it('claims and completes idempotency keys of portals on different nodes', async () => {
    const { connection } = connect();
    await until(() => connection.up);
    const tags = await onEachNode(
      (tag) => tag,
      (i) => `{keys-${process.pid}:portal${i}.bitrix24.com}`,
    );
    for (const [node, tag] of tags.entries()) {
      const markerKey = `${tag}:marker`;
      // A marker older than any lease: a Redis that has kept its data a while (the fence after a loss is
      // src/idempotency's subject, not this one's).
      await cluster.cli(node, 'HSET', markerKey, 'epoch', '1.1', 'since', '0', 'lease', '0', 'run', 'test');
      const store = new RedisIdempotencyStore({ connection, prefix: tag, markerKey, logger: createLogger('silent') });
      const request = { key: 'k', fingerprint: 'f', leaseMs: 5_000, retentionMs: 60_000 };
      const claim = await store.claim(request);
      if (claim.kind !== 'claimed') throw new Error(`node ${node}: ${claim.kind}`);
      expect(await store.claim(request)).toMatchObject({ kind: 'in-flight' });
      const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: `{"node":${node}}` };
      await store.complete('k', claim.token, answer, 60_000);
      expect(await store.claim(request)).toEqual({ kind: 'done', answer });
      expect(await store.claim({ ...request, fingerprint: 'other' })).toEqual({ kind: 'mismatch' });
      expect(await cluster.cli(node, 'EXISTS', `${tag}:idempotency:k`)).toBe('1');
      await store.close();
    }
  });

  it("keeps the portals' records on different nodes: put, get, list, replaceTokens", async () => {
    const { connection } = connect();
    await until(() => connection.up);
    const prefix = `portals-${process.pid}`;
    const store = new RedisPortalStore({
      connection,
      vault: new TokenVault([{ id: 'key-a', key: randomBytes(32) }]),
      prefix,
    });
    const memberIds = await onEachNode(
      (memberId) => `{${prefix}:portal:${memberId}}`,
      (i) => `member${String(i).padStart(4, '0')}`,
    );
    const records = memberIds.map((memberId, n) => portal(memberId, n));
    for (const record of records) await store.put(record);
    for (const record of records) expect(await store.get(record.memberId)).toEqual(record);
    expect((await store.getByDomain(records[1]!.domain))?.memberId).toBe(records[1]!.memberId);
    expect((await store.list()).map((summary) => summary.memberId)).toEqual([...memberIds].sort());
    for (const record of records) {
      const next = { ...record.tokens, accessToken: `${record.tokens.accessToken}-2`, refreshToken: 'refresh-2' };
      expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, next, record.clientEndpoint)).toBe(
        true,
      );
      // Over the refresh token it replaces only: the spent one, again, with another pair, is refused.
      const other = { ...next, refreshToken: 'refresh-3' };
      expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, other, record.clientEndpoint)).toBe(
        false,
      );
      expect((await store.get(record.memberId))?.tokens).toEqual(next);
    }
    for (const [node, memberId] of memberIds.entries())
      expect(await cluster.cli(node, 'EXISTS', `{${prefix}:portal:${memberId}}`), memberId).toBe('1');
  });

  it('fails a command for a stalled node within its deadline, fails fast while down, and is back once the node answers', async () => {
    const { connection, lines } = connect({ commandTimeoutMs: 300 });
    await until(() => connection.up);
    const keys = await onEachNode(
      (name) => name,
      (i) => `{stall-${process.pid}-${i}}:x`,
    );
    const get = (key: string) => connection.run((client) => client.sendCommand(['GET', key]));
    cluster.pause(1);
    try {
      const started = Date.now();
      const error = await get(keys[1]!).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisDeadlineError);
      // The deadline (300 ms), and room for a busy machine: never the node's stall.
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(connection.readiness()).toMatchObject({
        state: 'unreachable',
        problem: expect.stringMatching(/^timed out/),
      });
      // Down: every command fails at once, whichever node it is for, until a probe is answered by all.
      expect(await get(keys[0]!).catch((caught: unknown) => caught)).toBeInstanceOf(RedisUnavailableError);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(connection.up).toBe(false);
    } finally {
      cluster.resume(1);
    }
    await until(() => connection.up);
    for (const key of keys) await get(key);
    expect(lines.filter((line) => line.includes('Redis lost at'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('Redis reached at'))).toHaveLength(2);
  });
});

describe('a cluster that is down, and REDIS_CLUSTER set the other way than the server', () => {
  it('takes CLUSTERDOWN for unreachable, and is back once the cluster serves every slot again', async () => {
    // Nodes that give up on a silent one after half a second: the cluster then refuses every slot.
    const quick = await startRedisCluster({ args: ['--cluster-node-timeout', '500'] });
    try {
      const { connection, lines } = connect({ on: quick, commandTimeoutMs: 300 });
      await until(() => connection.up);
      const keys = await onEachNode(
        (name) => name,
        (i) => `{down-${process.pid}-${i}}:x`,
        quick,
      );
      quick.pause(2);
      try {
        await until(async () => (await quick.cli(0, 'CLUSTER', 'INFO')).includes('cluster_state:fail'));
        // A key of a node that answers: refused by the cluster, not timed out.
        const error = await connection
          .run((client) => client.sendCommand(['GET', keys[0]!]))
          .catch((caught: unknown) => caught);
        expect(String(error)).toMatch(/CLUSTERDOWN/);
        expect(connection.readiness()).toMatchObject({
          state: 'unreachable',
          problem: expect.stringMatching(/^the Redis Cluster is down \(CLUSTERDOWN\)/),
        });
      } finally {
        quick.resume(2);
      }
      await until(() => connection.up, 20_000);
      for (const key of keys) await connection.run((client) => client.sendCommand(['SET', key, 'v']));
      expect(lines.filter((line) => line.includes('"cause":"cluster down"'))).toHaveLength(1);
    } finally {
      await quick.dispose();
    }
  }, 60_000);

  it('names a seed without cluster support (REDIS_CLUSTER=true on one Redis), once, and closes while retrying', async () => {
    const single = await startRedis();
    try {
      const { connection, lines } = connect({ url: single.url });
      await until(() => connection.readiness().problem?.startsWith('REDIS_CLUSTER=true, but') ?? false);
      // Retried meanwhile (a second at least), logged once.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(connection.up).toBe(false);
      expect(lines.filter((line) => line.includes('"cause":"not a cluster"'))).toHaveLength(1);
      await connection.close();
    } finally {
      await single.dispose();
    }
  });

  it('names a node of a cluster taken for one Redis (REDIS_CLUSTER=false): another node holds the key', async () => {
    // The marker's slot on another node than the one REDIS_URL names: the first check meets MOVED.
    const [, markerKey] = await onEachNode(
      (key) => key,
      (i) => `{single-${process.pid}-${i}}:marker`,
    );
    const { connection } = connect({ cluster: false, markerKey: markerKey! });
    await until(() => connection.readiness().problem?.includes('set REDIS_CLUSTER=true') ?? false);
    expect(connection.up).toBe(false);
  });
});

function portal(memberId: string, n: number): PortalRecord {
  const secret = (kind: string) => `${kind}-${n}-${randomBytes(12).toString('hex')}`;
  return {
    memberId,
    clientEndpoint: `https://portal${n}.bitrix24.com/rest/`,
    domain: `portal${n}.bitrix24.com`,
    state: 'ready',
    botId: 100 + n,
    applicationToken: secret('app'),
    tokens: {
      accessToken: secret('access'),
      refreshToken: secret('refresh'),
      expiresAt: 1_800_000,
      issuedAt: 1_700_000,
    },
    installedAt: 1_700_000,
  };
}
