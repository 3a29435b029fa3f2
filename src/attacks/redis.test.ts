// The attack suite, Redis side: the store of the shared limit and the idempotency keys misbehaving, as a
// hostile operator or a bad day would have it, each with a real redis-server (an append-only file in a
// folder of its own, as production runs it, unless the test says otherwise): stalled (SIGSTOP), restarted
// empty, evicting, without an append-only file, refusing CONFIG, asking for a password the gateway lacks,
// out of memory, a key of the wrong type, and, at start, nothing there, TLS to a plain server, a server
// that is not Redis. For each: a keyed call is never sent twice (or is refused with the documented 503 and
// not sent), an unkeyed one is served, nothing hangs past REDIS_COMMAND_TIMEOUT_MS, and the log says what
// happened, once, with no secret.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createClient } from 'redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RedisConfig } from '../config';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { closedPort } from '../test-support/ports';
import { type RedisServer, settleMarkers, startRedis } from '../test-support/redis';
import { type Stack, secretsUsed, startStack, TRANSFER } from '../test-support/stack';

const COMMAND_TIMEOUT_MS = 200;
const SLOW_CHAT = 5904;

let servers: RedisServer[] = [];
let stacks: Stack[] = [];
afterEach(async () => {
  await Promise.all(stacks.map((stack) => stack.close()));
  stacks = [];
  await Promise.all(servers.map((server) => server.dispose()));
  servers = [];
});

/** A redis-server with an append-only file (`aof: false`: none), stopped and removed after the test. */
async function redisServer(args: string[] = [], password?: string, tlsPort?: number, aof = true): Promise<RedisServer> {
  const server = await startRedis(args, password, tlsPort, { aof });
  servers.push(server);
  return server;
}

/**
 * A gateway (and its emulator) on `url`, the emulator's slow test value answering after `slowMs`; `lease`:
 * its IDEMPOTENCY_LEASE_MS (the fail-closed window after Redis lost its data).
 */
async function gateway(
  url: string,
  slowMs = 1_500,
  commandTimeoutMs = COMMAND_TIMEOUT_MS,
  { requireAof, leaseMs }: { requireAof?: boolean; leaseMs?: number } = {},
): Promise<Stack> {
  const redis: RedisConfig = {
    url: new URL(url),
    keyPrefix: `attack-${process.pid}-${stacks.length}`,
    replicas: 1,
    scope: 'shared',
    commandTimeoutMs,
    ...(requireAof !== undefined && { requireAof }),
  };
  const stack = await startStack({
    config: {
      redis,
      upstreamTimeoutMs: 5_000,
      ...(leaseMs && {
        idempotency: { retentionMs: 86_400_000, maxKeys: 10_000, maxBytes: 16_777_216, leaseMs },
        upstreamTimeoutMs: leaseMs - 1_500,
        rateLimit: { drainPerSecond: 10_000, burst: 10_000, maxQueue: 1_000, maxWaitMs: 500, shaping: true },
        retry: { deadlineMs: 0, baseDelayMs: 50 },
      }),
    },
    emulator: { slowResponseMs: slowMs },
  });
  stacks.push(stack);
  return stack;
}

async function readiness(stack: Stack) {
  const response = await fetch(`${stack.gateway.url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as {
      status: string;
      limiter: string;
      redis?: { state: string; problem?: string; warning?: string };
    },
  };
}

async function until(condition: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const shared = (stack: Stack) => until(async () => (await readiness(stack)).body.limiter === 'shared');

/** Shared, and its Redis as one that has kept its data for longer than a lease (not fail-closed as a new one). */
async function settled(stack: Stack, redis: RedisServer): Promise<void> {
  await shared(stack);
  await settleMarkers(redis.url, `{attack-${process.pid}-${stacks.indexOf(stack)}:`);
}

async function metric(stack: Stack, series: string): Promise<number> {
  const text = await stack.gateway.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const keyed = (stack: Stack, key: string, chat = 112) =>
  stack.post(TRANSFER, { CHAT_ID: chat, USER_ID: 12 }, { headers: { 'idempotency-key': key } });
const unkeyed = (stack: Stack) => stack.post(TRANSFER, { CHAT_ID: 113, USER_ID: 12 });
const callsOf = (stack: Stack, chat: number) =>
  stack.emulator.received.filter((call) => Number(call.params.CHAT_ID) === chat).length;
const linesWith = (stack: Stack, text: string) => stack.rawLogs.filter((line) => line.includes(text));

describe('a stalled Redis (SIGSTOP)', () => {
  it('costs a request at most REDIS_COMMAND_TIMEOUT_MS: keyed 503 and not sent, unkeyed served, /readyz degraded, one log line; back: shared, and the refused key is new', async () => {
    const redis = await redisServer();
    // A deadline of 1 s: long beside a request's own time on a loaded machine, short beside the stall.
    const deadline = 1_000;
    const stack = await gateway(redis.url, 1_500, deadline);
    await settled(stack, redis);
    redis.pause();
    const started = performance.now();
    const refused = await keyed(stack, 'stalled-key', 7001);
    const waited = performance.now() - started;
    expect(waited, 'the deadline, not the stall').toBeLessThan(deadline + 1_500);
    expect(waited, 'the deadline').toBeGreaterThanOrEqual(deadline - 50);
    expect([refused.status, refused.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(refused.body.error_description).toContain('timed out');
    expect(callsOf(stack, 7001)).toBe(0);
    const served = await unkeyed(stack);
    expect(served.status).toBe(200);
    // Degraded now: the next keyed call is refused at once, without waiting for the deadline again.
    const quick = performance.now();
    expect((await keyed(stack, 'stalled-key-2', 7002)).status).toBe(503);
    expect(performance.now() - quick).toBeLessThan(deadline * 0.8);
    const ready = await readiness(stack);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', limiter: 'degraded', redis: { state: 'unreachable' } });
    expect(ready.body.redis?.problem).toMatch(/^timed out/);
    expect(await metric(stack, 'gateway_limiter_shared{state="degraded"}')).toBe(1);
    expect(linesWith(stack, '"cause":"timed out"'), 'one line says why').toHaveLength(1);

    redis.resume();
    await shared(stack);
    expect((await readiness(stack)).body.redis).toEqual({ state: 'connected' });
    // The stalled claim ran when Redis resumed; the gateway released it, as it told the caller nothing was sent.
    await until(async () => {
      const retry = await keyed(stack, 'stalled-key', 7001);
      return retry.status === 200;
    }, 5_000);
    expect(callsOf(stack, 7001)).toBe(1);
  }, 30_000);

  it('answers every waiting caller when the gateway stops during the stall, and closes without waiting for Redis', async () => {
    const redis = await redisServer();
    // A deadline long enough that every request has arrived and is waiting for Redis when the gateway stops.
    const stack = await gateway(redis.url, 1_500, 1_500);
    await settled(stack, redis);
    redis.pause();
    const answers = Promise.all([
      ...Array.from({ length: 5 }, (_, i) => keyed(stack, `stop-${i}`, 7100 + i)),
      ...Array.from({ length: 5 }, () => unkeyed(stack)),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = performance.now();
    await stack.gateway.close();
    expect(performance.now() - started, 'close() with a stalled Redis: the deadline, then a short close').toBeLessThan(
      4_000,
    );
    const statuses = (await answers).map((answer) => answer.status);
    expect(
      statuses.every((status) => [200, 503].includes(status)),
      `statuses: ${statuses}`,
    ).toBe(true);
    expect(stack.emulator.received.filter((call) => Number(call.params.CHAT_ID) >= 7100)).toHaveLength(0);
  }, 30_000);
});

describe('a Redis restarted empty', () => {
  it('is logged and counted; a call in flight keeps its key (re-written) and a finished one its answer (written again), so neither retry is sent; a key Redis does not know is refused for the lease', async () => {
    const redis = await redisServer();
    const stack = await gateway(redis.url, 2_500, COMMAND_TIMEOUT_MS, { leaseMs: 4_500 });
    await settled(stack, redis);
    expect((await keyed(stack, 'finished-key', 7201)).status).toBe(200);
    const inFlight = keyed(stack, 'in-flight-key', SLOW_CHAT);
    await until(() => callsOf(stack, SLOW_CHAT) === 1);
    await redis.stop();
    // Its append-only file wiped: empty.
    await redis.start();
    await until(async () => (await metric(stack, 'gateway_redis_restarted_empty_total')) === 1);
    await shared(stack);
    const retry = await keyed(stack, 'in-flight-key', SLOW_CHAT);
    expect([retry.status, retry.body.error]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
    expect((await inFlight).status).toBe(200);
    const replay = await keyed(stack, 'in-flight-key', SLOW_CHAT);
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(callsOf(stack, SLOW_CHAT), 'the slow call, once').toBe(1);
    // The finished call's answer, which Redis lost, was written again by the replica that knew it.
    await until(() => linesWith(stack, 'wrote again 1 answer').length === 1);
    const finished = await keyed(stack, 'finished-key', 7201);
    expect([finished.status, finished.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(callsOf(stack, 7201)).toBe(1);
    expect(linesWith(stack, 'Redis lost its data')).toHaveLength(1);
    // A key Redis does not know cannot be told from a retry of a call it lost: refused until the lease has
    // passed since the loss, with Retry-After the time left, and not sent.
    const fenced = await keyed(stack, 'unknown-key', 7202);
    expect([fenced.status, fenced.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(fenced.body.error_description).toContain('lost its data');
    expect(Number(fenced.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(fenced.headers.get('retry-after'))).toBeLessThanOrEqual(5);
    expect((await readiness(stack)).body).toMatchObject({ status: 'ready', redis: { state: 'fail-closed' } });
    expect(await metric(stack, 'gateway_idempotency_fail_closed')).toBe(1);
    expect(callsOf(stack, 7202)).toBe(0);
    expect((await unkeyed(stack)).status, 'calls without a key are served').toBe(200);
    await until(async () => (await keyed(stack, 'unknown-key', 7202)).status === 200, 8_000);
    expect(callsOf(stack, 7202)).toBe(1);
    expect(await metric(stack, 'gateway_idempotency_fail_closed')).toBe(0);
  }, 30_000);

  it('new (no marker yet): keys are fail-closed for the lease at the first start, unkeyed calls served', async () => {
    const redis = await redisServer();
    const stack = await gateway(redis.url, 1_500, COMMAND_TIMEOUT_MS, { leaseMs: 3_000 });
    await shared(stack);
    const fenced = await keyed(stack, 'first-start', 7211);
    expect([fenced.status, fenced.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(Number(fenced.headers.get('retry-after'))).toBeLessThanOrEqual(3);
    expect((await unkeyed(stack)).status).toBe(200);
    expect(linesWith(stack, 'Redis holds no marker')).toHaveLength(1);
    expect(await metric(stack, 'gateway_redis_restarted_empty_total'), 'a new Redis is no restart').toBe(0);
    await until(async () => (await keyed(stack, 'first-start', 7211)).status === 200, 6_000);
    expect(callsOf(stack, 7211)).toBe(1);
  }, 30_000);
});

describe('a Redis restarted, seen by several replicas', () => {
  it('with its data (append-only): nothing is lost; empty: found by each, though the first back writes the marker again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
    const redis = await redisServer(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    const found: number[] = [0, 0, 0];
    const connections = found.map((_, i) => {
      const connection = new RedisConnection({
        url: redis.url,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        markerKey: `several-${process.pid}:marker`,
        logger: createLogger('silent'),
        onRestartedEmpty: () => {
          found[i]! += 1;
        },
      });
      connection.start();
      return connection;
    });
    const restart = async (empty: boolean) => {
      await until(() => connections.every((connection) => connection.up));
      await redis.stop();
      if (empty) rmSync(join(dir, 'appendonlydir'), { recursive: true, force: true });
      await redis.start();
      await until(() => connections.some((connection) => !connection.up));
      await until(() => connections.every((connection) => connection.up));
    };
    try {
      await restart(false);
      expect(found).toEqual([0, 0, 0]);
      await restart(true);
      expect(found).toEqual([1, 1, 1]);
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('a Redis whose maxmemory-policy can evict keys', () => {
  it('is refused for keys: keyed 503 naming maxmemory-policy and not sent, /readyz 503 not-ready; unkeyed calls served', async () => {
    const redis = await redisServer(['--maxmemory-policy', 'allkeys-lru']);
    const stack = await gateway(redis.url);
    await shared(stack);
    const ready = await readiness(stack);
    expect([ready.status, ready.body.status, ready.body.redis?.state]).toEqual([503, 'not-ready', 'refused']);
    expect(ready.body.redis?.problem).toContain('maxmemory-policy is allkeys-lru');
    const refused = await keyed(stack, 'evictable', 7301);
    expect([refused.status, refused.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(refused.body.error_description).toContain('maxmemory-policy');
    expect(callsOf(stack, 7301)).toBe(0);
    expect((await unkeyed(stack)).status).toBe(200);
    expect(linesWith(stack, '"maxmemoryPolicy":"allkeys-lru"')).toHaveLength(1);
  }, 30_000);

  it('without CONFIG (a managed Redis): warns once and says so in /readyz, and keeps the keys', async () => {
    const redis = await redisServer(['--rename-command', 'CONFIG', '']);
    const stack = await gateway(redis.url);
    await settled(stack, redis);
    expect((await keyed(stack, 'managed', 7401)).status).toBe(200);
    const ready = await readiness(stack);
    expect([ready.status, ready.body.redis?.state]).toEqual([200, 'connected']);
    expect(ready.body.redis?.warning).toContain('CONFIG GET is not allowed');
    expect((await keyed(stack, 'managed', 7401)).headers.get('idempotent-replayed')).toBe('true');
    expect(callsOf(stack, 7401)).toBe(1);
    expect(linesWith(stack, 'CONFIG GET is not allowed')).toHaveLength(1);
  }, 30_000);
});

describe('a Redis without an append-only file', () => {
  it('is refused for keys: keyed 503 naming appendonly and not sent, /readyz 503 not-ready, unkeyed served; REDIS_REQUIRE_AOF=false accepts it with a warning', async () => {
    const redis = await redisServer([], undefined, undefined, false);
    const stack = await gateway(redis.url);
    await shared(stack);
    const ready = await readiness(stack);
    expect([ready.status, ready.body.status, ready.body.redis?.state]).toEqual([503, 'not-ready', 'refused']);
    expect(ready.body.redis?.problem).toContain('appendonly is no');
    const refused = await keyed(stack, 'unpersisted', 7351);
    expect([refused.status, refused.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(refused.body.error_description).toContain('appendonly');
    expect(callsOf(stack, 7351)).toBe(0);
    expect((await unkeyed(stack)).status).toBe(200);
    expect(linesWith(stack, '"appendonly":"no"')).toHaveLength(1);

    const accepting = await gateway(redis.url, 1_500, COMMAND_TIMEOUT_MS, { requireAof: false });
    await settled(accepting, redis);
    expect((await keyed(accepting, 'accepted', 7352)).status).toBe(200);
    const accepted = await readiness(accepting);
    expect([accepted.status, accepted.body.redis?.state]).toEqual([200, 'connected']);
    expect(accepted.body.redis?.warning).toContain('accepted by REDIS_REQUIRE_AOF=false');
    expect((await keyed(accepting, 'accepted', 7352)).headers.get('idempotent-replayed')).toBe('true');
    expect(callsOf(accepting, 7352)).toBe(1);
  }, 30_000);
});

describe('a Redis out of memory (noeviction at its maxmemory)', () => {
  it("refuses a finished call's answer: logged and counted, the answer kept (replayed by its replica) and written back later, so the retry is never sent", async () => {
    const redis = await redisServer();
    const stack = await gateway(redis.url, 1_000);
    await settled(stack, redis);
    const first = keyed(stack, 'oom-key', SLOW_CHAT);
    await until(() => callsOf(stack, SLOW_CHAT) === 1);
    const admin = createClient({ url: redis.url });
    await admin.connect();
    try {
      await admin.configSet('maxmemory', '1');
      expect((await first).status).toBe(200);
      expect(await metric(stack, 'gateway_idempotency_answers_not_stored_total{reason="out of memory"}')).toBe(1);
      expect(linesWith(stack, 'did not take the answer')).toHaveLength(1);
      // The replica keeps the answer: its retry is replayed from there; in Redis the key stays claimed.
      const retry = await keyed(stack, 'oom-key', SLOW_CHAT);
      expect([retry.status, retry.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
      expect(callsOf(stack, SLOW_CHAT)).toBe(1);
      const [key] = await admin.keys('*:idempotency:*');
      expect(JSON.parse((await admin.get(key!))!)).not.toHaveProperty('a');
      // A new key cannot be claimed either: 503, not sent.
      expect((await keyed(stack, 'oom-new', 7501)).status).toBe(503);
      expect(callsOf(stack, 7501)).toBe(0);
      // Redis takes writes again: the answer is written back (tried every second).
      await admin.configSet('maxmemory', '0');
      await until(async () => 'a' in JSON.parse((await admin.get(key!))!), 5_000);
      await until(() => linesWith(stack, 'wrote back 1 answer').length === 1);
    } finally {
      await admin.configSet('maxmemory', '0');
      await admin.close();
    }
  }, 30_000);
});

describe('a Redis that refuses the gateway', () => {
  it('with a password the gateway lacks: logged as authentication failed, once, never the password; keyed 503, unkeyed served', async () => {
    const password = 'redis-server-password-471';
    const wrong = 'gateway-wrong-password-93';
    secretsUsed.add(password);
    secretsUsed.add(wrong);
    const redis = await redisServer(['--requirepass', password], password);
    const stack = await gateway(`redis://:${wrong}@127.0.0.1:${redis.port}`);
    await until(() => linesWith(stack, 'authentication failed').length > 0);
    const refused = await keyed(stack, 'no-auth', 7601);
    expect([refused.status, refused.body.error]).toEqual([503, 'IDEMPOTENCY_STORE_UNAVAILABLE']);
    expect(refused.body.error_description).toContain('authentication failed');
    expect((await unkeyed(stack)).status).toBe(200);
    expect((await readiness(stack)).body).toMatchObject({ limiter: 'degraded', redis: { state: 'unreachable' } });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(linesWith(stack, '"cause":"authentication failed"'), 'once, though the client retried').toHaveLength(1);
    expect(linesWith(stack, `127.0.0.1:${redis.port}`).length).toBeGreaterThan(0);
    expect(stack.rawLogs.filter((line) => line.includes(password) || line.includes(wrong))).toEqual([]);
  }, 30_000);

  it("with a key of the wrong type where the limit's hash goes: logged as wrong type, unkeyed calls still served", async () => {
    const redis = await redisServer();
    const admin = createClient({ url: redis.url });
    await admin.connect();
    const stack = await gateway(redis.url);
    await shared(stack);
    // Another program writes the gateway's key.
    const host = new URL(stack.emulator.webhookUrl).host;
    await admin.set(`{attack-${process.pid}-${stacks.length - 1}:${host}}:limit`, 'not a hash');
    await admin.close();
    expect((await unkeyed(stack)).status).toBe(200);
    expect(linesWith(stack, 'wrong type at a key')).toHaveLength(1);
    expect((await unkeyed(stack)).status).toBe(200);
    expect(linesWith(stack, 'wrong type at a key')).toHaveLength(1);
    // It stays on its own (the probe finds the key still wrong) rather than flapping, and says so once.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect((await readiness(stack)).body.limiter).toBe('degraded');
    expect(linesWith(stack, 'A shared-limit command failed')).toHaveLength(1);
  }, 30_000);
});

describe('Redis problems at start, each logged once with its cause in words', () => {
  let http: Server;
  afterAll(() => new Promise((resolve) => http?.close(resolve)));

  it('nothing there (refused), rediss:// to a plain server and redis:// to a TLS one (TLS mismatch), an HTTP server (not Redis)', async () => {
    const plain = await redisServer();
    // A TLS-only redis-server, its certificate made for the test.
    const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const tlsPort = await closedPort();
    const tls = await redisServer(
      [
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'cert.pem'),
        '--tls-key-file',
        join(dir, 'key.pem'),
        '--tls-ca-cert-file',
        join(dir, 'cert.pem'),
        '--tls-auth-clients',
        'no',
      ],
      undefined,
      tlsPort,
    );
    http = createServer((_request, response) => response.end('hello'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const cases = {
      // Port 1: privileged, so that no other test's server can take it meanwhile, as a free port may be.
      refused: 'redis://127.0.0.1:1',
      'TLS mismatch': `rediss://127.0.0.1:${plain.port}`,
      'TLS mismatch, the other way': `redis://127.0.0.1:${tlsPort}`,
      'not Redis': `redis://127.0.0.1:${(http.address() as AddressInfo).port}`,
    };
    const logs = new Map<string, string[]>();
    const connections = Object.entries(cases).map(([cause, url]) => {
      const lines: string[] = [];
      logs.set(cause, lines);
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      });
      const connection = new RedisConnection({
        url,
        // A refused connect is answered at once; its connect timeout (4 × this, at least 1 s) is made long
        // enough that a machine busy with other suites cannot make it fire first ("timed out").
        commandTimeoutMs: cause === 'refused' ? 1_000 : 100,
        markerKey: 'attack:marker',
        logger: createLogger('info', sink),
      });
      connection.start();
      return connection;
    });
    try {
      // Long enough for the client's reconnects (100, 200, 400, 800 ms) and one TLS connect timeout (1 s).
      await new Promise((resolve) => setTimeout(resolve, 2_800));
      for (const [name, lines] of logs) {
        const cause = name.split(',')[0];
        expect(JSON.parse(lines[0]!), `${name}: ${lines.join('\n')}`).toMatchObject({ cause, level: 40 });
        expect(lines[0]).toContain('unreachable at start');
        // Once per change: the client retried several times, and a line comes only with a new cause (a
        // busy machine's other processes may take a free port meanwhile: that is a change too).
        const causes = lines.map((line) => (JSON.parse(line) as { cause: string }).cause);
        expect(
          causes.every((each, i) => i === 0 || each !== causes[i - 1]),
          `${name}: ${lines.join('\n')}`,
        ).toBe(true);
        expect(causes.length, `${name}: ${lines.join('\n')}`).toBeLessThanOrEqual(2);
      }
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
      await tls.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
