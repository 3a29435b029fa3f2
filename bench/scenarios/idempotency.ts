// Unloaded transfers, one at a time (issues #13 and #15): what Redis and an Idempotency-Key add to one
// valid transfer. Two built gateways side by side, one keeping its limit in process and its keys in its data
// folder (SQLite, every write fsynced), one both in Redis
// (`REDIS_URL`), both shaping with a bucket that never fills; for each, transfers with no key, with a fresh
// key each (every one a first request: claimed, sent, completed) and with one key again (a replay: answered
// from the store, never sent upstream). The six kinds are interleaved request by request, in an order
// rotated every round, so that any drift of the machine falls on all of them alike. Each gateway is warmed
// first by a short wrk run with no key.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { settleMarkers } from '../../src/test-support/redis';
import { log } from '../format';
import { wrk } from '../load';
import { CPU, stop } from '../processes';
import { bodies, KEY, settings, TRANSFER } from '../settings';
import {
  emulatorStats,
  resetEmulator,
  type Server,
  startEmulator,
  startGateway,
  startRedis,
  waitShared,
} from '../targets';

/** `data-dir`: the keys in the data folder's database (SQLite, fsynced), the limit in process; `redis`: both in Redis. */
export type KeyStore = 'data-dir' | 'redis';
export type KeyUse = 'none' | 'fresh' | 'replay';
export const stores: KeyStore[] = ['data-dir', 'redis'];
export const keyUses: KeyUse[] = ['none', 'fresh', 'replay'];

export interface KeyRow {
  store: KeyStore;
  key: KeyUse;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** Answers other than 200, or with `Idempotent-Replayed` where it should not be (or missing where it should). */
  errors: number;
}

export interface IdempotencyResult {
  /** Measured requests of each kind, after `warmup` of each. */
  n: number;
  warmup: number;
  /** The gateways' bucket: high enough that no request of the run waits. */
  rate: number;
  burst: number;
  rows: KeyRow[];
  /** Calls the emulator received during the rounds: the no-key and fresh-key requests only, if replays never go upstream. */
  upstreamCalls: { expected: number; got: number };
}

/** The gateways' own bucket (shaping on, so that with Redis each request takes its slot there), never full here. */
const RATE = 1_000;
const BURST = 10_000;
/** wrk's warm-up of each gateway: a few thousand transfers, fewer than BURST less what drains meanwhile. */
const WARM_CONNECTIONS = 4;
const WARM_SECONDS = 2;

export async function idempotencyCost(): Promise<IdempotencyResult> {
  const { sequential: n, sequentialWarmup: warmup } = settings;
  const redis = await startRedis(CPU.load);
  const emulator = await startEmulator(CPU.load);
  const gateways: Partial<Record<KeyStore, Server>> = {};
  try {
    const env = { RATE_LIMIT_PER_SECOND: String(RATE), RATE_LIMIT_BURST: String(BURST) };
    gateways['data-dir'] = await startGateway(emulator, {
      build: 'built',
      mode: 'oauth',
      name: 'gateway-keys-data-dir',
      env,
    });
    gateways.redis = await startGateway(emulator, {
      build: 'built',
      mode: 'oauth',
      name: 'gateway-keys-redis',
      // The benchmark's redis-server keeps no append-only file: accepted here, as production would not.
      env: { ...env, REDIS_URL: redis.url, GATEWAY_REPLICAS: '1', REDIS_REQUIRE_AOF: 'false' },
    });
    await waitShared(gateways.redis);
    // A new Redis fences keys for a lease (docs/replicas.md): aged, as one in use for a while.
    await settleMarkers(redis.url);
    // Fresh processes: warm the transfer path (and the emulator) as the throughput runs are warm, with a
    // load that stays inside the bucket (well under BURST requests), before the rounds' own warm-up.
    for (const store of stores) {
      const pid = gateways[store]!.proc.pid;
      await wrk(`${gateways[store]!.url}${TRANSFER}`, bodies.valid, WARM_CONNECTIONS, WARM_SECONDS, [pid]);
    }
    const agents = {
      'data-dir': new Agent({ keepAlive: true, maxSockets: 1 }),
      redis: new Agent({ keepAlive: true, maxSockets: 1 }),
    };
    const replayKey = { 'data-dir': `replay-${randomUUID()}`, redis: `replay-${randomUUID()}` };
    const send = (store: KeyStore, key: string | undefined) =>
      post(`${gateways[store]!.url}${TRANSFER}`, agents[store], key);

    // The replays' first request: claimed and sent; every later one with that key is a replay.
    for (const store of stores) {
      const first = await send(store, replayKey[store]);
      const again = await send(store, replayKey[store]);
      if (first.status !== 200 || first.replayed || again.status !== 200 || !again.replayed)
        throw new Error(
          `${store}: a key sent twice was answered ${first.status}, then ${again.status} (replayed: ${again.replayed})`,
        );
    }

    const kinds = stores.flatMap((store) => keyUses.map((key) => ({ store, key })));
    const samples = kinds.map(() => [] as number[]);
    const errors = kinds.map(() => 0);
    await resetEmulator(emulator);
    for (let round = 0; round < warmup + n; round++) {
      for (let j = 0; j < kinds.length; j++) {
        const i = (round + j) % kinds.length;
        const { store, key } = kinds[i]!;
        const answer = await send(
          store,
          key === 'none' ? undefined : key === 'fresh' ? `fresh-${randomUUID()}` : replayKey[store],
        );
        if (answer.status !== 200 || answer.replayed !== (key === 'replay')) errors[i]! += 1;
        if (round >= warmup) samples[i]!.push(answer.us);
      }
    }
    const got = (await emulatorStats(emulator)).calls;
    for (const agent of Object.values(agents)) agent.destroy();

    const rows = kinds.map(({ store, key }, i): KeyRow => {
      const sorted = samples[i]!.sort((a, b) => a - b);
      return {
        store,
        key,
        p50Us: percentile(sorted, 50),
        p99Us: percentile(sorted, 99),
        meanUs: sorted.reduce((s, v) => s + v, 0) / sorted.length,
        errors: errors[i]!,
      };
    });
    for (const r of rows)
      log(
        `  ${r.store.padEnd(6)} key ${r.key.padEnd(6)}  p50 ${(r.p50Us / 1000).toFixed(3)} ms  p99 ${(r.p99Us / 1000).toFixed(3)} ms  errors ${r.errors}`,
      );
    const expected = (warmup + n) * stores.length * 2;
    log(`  upstream calls during the rounds: ${got} (no-key and fresh-key requests: ${expected})`);
    return { n, warmup, rate: RATE, burst: BURST, rows, upstreamCalls: { expected, got } };
  } finally {
    for (const gateway of Object.values(gateways)) await stop(gateway.proc);
    await stop(emulator.proc);
    await stop(redis.proc);
  }
}

/** Nearest rank. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** One valid transfer over a kept-alive connection: its status, whether it was a replay, and µs to the body's end. */
function post(
  url: string,
  agent: Agent,
  idempotencyKey: string | undefined,
): Promise<{ status: number; replayed: boolean; us: number }> {
  const body = Buffer.from(bodies.valid);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          authorization: `Bearer ${KEY}`,
          ...(idempotencyKey && { 'idempotency-key': idempotencyKey }),
        },
      },
      (res) => {
        res.on('data', () => undefined);
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            replayed: res.headers['idempotent-replayed'] === 'true',
            us: (performance.now() - started) * 1000,
          }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
