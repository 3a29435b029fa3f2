// The portal's limits shared by every replica through Redis: one hash per portal (so that Redis Cluster
// works: a script touches one key), holding the bucket's TAT (gcra.ts, the same arithmetic) and each
// method's operating-time pause, on Redis's own clock, over the gateway's one connection (src/redis: a
// deadline on every command). When Redis cannot be reached or does not answer in time, each replica limits
// on its own at 1/replicas of the portal's rate and burst (never fail-open), and when Redis is back the
// shared bucket is pushed forward by what this replica sent meanwhile; back empty, it starts full.
import type { Logger } from '../logger';
import { causeWords, type RedisConnection } from '../redis';
import type { Bucket } from './gcra';
import { MemoryStore } from './memory-store';
import type { LimitStore, Slot, SlotRequest } from './store';

/** How a replica holds the portal's bucket now. */
export type SharingState = 'shared' | 'degraded';

export interface RedisStoreOptions {
  /** The gateway's connection to Redis (shared with the idempotency keys; its owner closes it). */
  connection: RedisConnection;
  /** The hash's key: `{<prefix>:<portal host>}:limit`, so that gateways of different portals can share one Redis. */
  key: string;
  /** The portal's bucket (its rate and burst, less the headroom). */
  bucket: Bucket;
  /** Replicas that share the bucket: each takes 1/replicas of it while Redis is unreachable. */
  replicas: number;
  /**
   * True: the bucket is in Redis, one for all replicas (one egress address). False: each replica has its own
   * bucket (its own egress address, its own bucket at Bitrix24); the pause is in Redis either way.
   */
  sharedBucket: boolean;
  logger: Logger;
  onState?: (state: SharingState) => void;
  now?: () => number;
  /**
   * On a connection already up, share from the first slot instead of after a probe (application mode: a
   * portal's store is made for the call that needs it, and a probe first would send that call on this
   * replica's own share, an extra round trip). A first slot that fails puts it on its own share, as any.
   */
  shareAtOnce?: boolean;
}

// KEYS[1]: the portal's hash. ARGV: method, shared (1/0), intervalUs, burst, maxWaitUs, ahead, dryRun (1/0).
// Answers {kind, ms-or-µs}: 1 paused (ms left), 2 reserved or would be (µs to wait), 3 too long (µs), 0 not
// paused and the bucket is not shared (the replica's own bucket decides).
const SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('HGET', KEYS[1], 'pause:' .. ARGV[1]) or '0')
if paused * 1000 > now then return {1, math.ceil(paused - now / 1000)} end
if ARGV[2] ~= '1' then return {0, 0} end
local interval, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = math.max(tonumber(redis.call('HGET', KEYS[1], 'tat') or '0'), now) + tonumber(ARGV[6]) * interval
local wait = math.max(now, tat - (burst - 1) * interval) - now
if wait > tonumber(ARGV[5]) then return {3, wait} end
if ARGV[7] == '1' then return {2, wait} end
tat = tat + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
local ttl = math.ceil((tat - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {2, wait}
`;

// ARGV: intervalUs, requests. The TAT goes at least `requests` intervals ahead of now (Bitrix24 said its
// bucket is full: requests = burst), or ahead of what it was (a replica back from its own bucket).
const PUSH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, requests, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if mode == 'full' then tat = math.max(tat, now + requests * interval) else tat = math.max(tat, now) + requests * interval end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
local ttl = math.ceil((tat - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

// ARGV: method, until (unix ms). The later of the pause held and this one.
const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local field = 'pause:' .. ARGV[1]
local ends = math.max(tonumber(redis.call('HGET', KEYS[1], field) or '0'), tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], field, string.format('%.0f', ends))
local ttl = ends - now + 1000
if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

export class RedisStore implements LimitStore {
  readonly #scripts;
  /** The replica's own bucket: its share while Redis is away, or all of its bucket when not shared. */
  readonly #local: MemoryStore;
  /** The pauses this replica knows of, kept here too: they hold when Redis does not answer. */
  readonly #pauses: MemoryStore;
  #state: SharingState = 'degraded';
  #closed = false;
  /** Slots this replica booked on its own while degraded: the shared bucket counts them when Redis is back. */
  #bookedAlone = 0;
  /** While degraded on a connection that is up (a command failed: WRONGTYPE, say): try again now and then. */
  #probe: NodeJS.Timeout | undefined;
  #recovering = false;
  readonly #unlisten: () => void;

  constructor(private readonly options: RedisStoreOptions) {
    const { bucket, replicas, sharedBucket, connection } = options;
    const share = sharedBucket
      ? { intervalUs: bucket.intervalUs * replicas, burst: Math.max(1, Math.floor(bucket.burst / replicas)) }
      : bucket;
    this.#local = new MemoryStore(share, options.now);
    this.#pauses = new MemoryStore(bucket, options.now);
    this.#scripts = { slot: connection.script(SLOT), push: connection.script(PUSH), pause: connection.script(PAUSE) };
    // While Redis is away the replica limits on its own; the connection reconnects meanwhile.
    const changes = connection.onChange((up, cause) => (up ? void this.#recover() : this.#degrade(cause ?? 'failed')));
    // Redis came back empty: the bucket it held is gone, and the other replicas' requests with it; the
    // portal's bucket may be full of them, so the shared one starts full.
    const restarts = connection.onRestartedEmpty(async () => {
      if (!this.options.sharedBucket) return;
      const { intervalUs, burst } = this.options.bucket;
      await this.#scripts.push(this.options.key, String(intervalUs), String(burst), 'full').catch(() => undefined);
    });
    // A store may live shorter than the connection (one portal's, in application mode): it stops listening.
    this.#unlisten = () => {
      changes();
      restarts();
    };
  }

  /** How the bucket is held now. */
  get state(): SharingState {
    return this.#state;
  }

  /** Shares as soon as the connection is up (started by its owner); degraded until then. */
  start(): void {
    if (!this.options.connection.up) return;
    if (!this.options.shareAtOnce) return void this.#recover();
    this.#state = 'shared';
    this.options.onState?.('shared');
  }

  async slot(request: SlotRequest): Promise<Slot> {
    const local = this.#pauses.slotNow({ ...request, maxWaitMs: Number.MAX_SAFE_INTEGER, dryRun: true });
    if (local.kind === 'paused') return local;
    if (this.#state === 'shared') {
      try {
        const [kind, value] = (await this.#scripts.slot(
          this.options.key,
          request.method,
          this.options.sharedBucket ? '1' : '0',
          String(this.options.bucket.intervalUs),
          String(this.options.bucket.burst),
          String(Math.round(request.maxWaitMs * 1000)),
          String(request.ahead ?? 0),
          request.dryRun ? '1' : '0',
        )) as [number, number];
        if (kind === 1) return { kind: 'paused', ms: value };
        if (kind === 2) return { kind: 'reserved', waitMs: Math.ceil(value / 1000) };
        if (kind === 3) return { kind: 'too-long', waitMs: Math.ceil(value / 1000) };
        // Not paused, and the bucket is this replica's own.
        return this.#local.slotNow(request);
      } catch {
        this.#degrade(this.options.connection.up ? 'failed' : this.options.connection.cause);
      }
    }
    const slot = this.#local.slotNow(request);
    if (slot.kind === 'reserved' && !request.dryRun && this.options.sharedBucket) this.#bookedAlone += 1;
    return slot;
  }

  async backOff(): Promise<void> {
    await this.#local.backOff();
    if (this.#state !== 'shared' || !this.options.sharedBucket) return;
    const { intervalUs, burst } = this.options.bucket;
    await this.#scripts
      .push(this.options.key, String(intervalUs), String(burst), 'full')
      .catch(() => this.#degrade(this.options.connection.up ? 'failed' : this.options.connection.cause));
  }

  async pause(method: string, untilMs: number): Promise<void> {
    await this.#pauses.pause(method, untilMs);
    if (this.#state !== 'shared') return;
    await this.#scripts
      .pause(this.options.key, method, String(Math.round(untilMs)))
      .catch(() => this.#degrade(this.options.connection.up ? 'failed' : this.options.connection.cause));
  }

  /** Stops the store's timers; the connection is its owner's to close. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    this.#unlisten();
  }

  #degrade(why: keyof typeof causeWords): void {
    if (this.#closed || this.#state === 'degraded') return;
    this.#state = 'degraded';
    // Never fail open: the portal's bucket may be full of the other replicas' requests, so this replica's
    // share starts full too, and fills up again at its rate.
    void this.#local.backOff();
    // The connection says when it is back; a command that failed on a connection still up is retried here.
    this.#probe ??= setInterval(() => {
      if (this.options.connection.up) void this.#recover();
    }, 1_000).unref();
    // The connection logs what happened to it; a command refused on a connection still up is this store's.
    if (this.options.connection.up)
      this.options.logger.warn(
        { limiter: 'degraded', why: causeWords[why], replicas: this.options.replicas },
        "A shared-limit command failed: this replica limits on its own, at its share of the portal's rate",
      );
    this.options.onState?.('degraded');
  }

  /** Redis is back: push the shared bucket forward by what this replica sent meanwhile, and its pauses in. */
  async #recover(): Promise<void> {
    if (this.#closed || this.#state === 'shared' || this.#recovering) return;
    this.#recovering = true;
    try {
      // The hash must be readable (a key of another type there, WRONGTYPE, keeps the replica on its own).
      await this.#scripts.slot(this.options.key, 'probe', '1', '1', '1', '0', '0', '1');
      if (this.options.sharedBucket) {
        // Each slot this replica booked on its own is a slot of the shared bucket.
        const booked = this.#bookedAlone;
        if (booked > 0)
          await this.#scripts.push(this.options.key, String(this.options.bucket.intervalUs), String(booked), 'add');
        this.#bookedAlone = 0;
      }
      for (const [method, until] of this.#pauses.pauses())
        await this.#scripts.pause(this.options.key, method, String(until));
      if (this.#closed) return;
      this.#state = 'shared';
      clearInterval(this.#probe);
      this.#probe = undefined;
      this.options.logger.info({ limiter: 'shared' }, "Redis reached: the replicas share the portal's bucket");
      this.options.onState?.('shared');
    } catch {
      // Still degraded: the connection says when it is back; on a connection still up, the probe tries again.
      if (!this.#closed)
        this.#probe ??= setInterval(() => {
          if (this.options.connection.up) void this.#recover();
        }, 1_000).unref();
    } finally {
      this.#recovering = false;
    }
  }
}
