// The gateway's one connection to Redis, shared by the portal's limit (src/rate-limit/redis-store.ts) and
// the idempotency keys (src/idempotency/redis-store.ts): one health state, one log line per change of it
// with the cause in words, a deadline the gateway owns around every command, and the checks that say
// whether the server can be trusted with keys: its maxmemory-policy, its append-only file, and whether it
// lost its data (restarted empty, flushed, or new), after which keys it does not know are fail-closed for
// the longest lease (the marker, below). A Redis Cluster (`cluster`) is one connection too: one state for
// all its nodes, every master checked, each command sent to its key's node (backend.ts, cluster.ts).
import { createHash } from 'node:crypto';
import type { Logger } from '../logger';
import { type RedisBackend, type RedisCommands, type RedisNode, singleBackend } from './backend';
import { causeOf, causeWords, followOnCauses, type RedisCause } from './causes';
import { clusterBackend } from './cluster';
import { withDeadline } from './deadline';

export interface RedisConnectionOptions {
  /** `redis://` or `rediss://`, credentials included: never logged (only host:port is). A cluster's: one seed node. */
  url: string;
  /**
   * A Redis Cluster (REDIS_CLUSTER): its nodes are learnt from the one in `url`; each command goes to the
   * master of its first key's slot, and the checks read every master.
   */
  cluster?: boolean;
  /** Every command the gateway waits for is failed after this (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
  /**
   * The portal's marker, a hash the gateway writes without expiry (see MARKER): gone after a restart, it
   * says Redis lost its data. In the hash slot of the portal's idempotency keys, so that the claim reads it.
   */
  markerKey: string;
  /**
   * The longest a keyed call can take (the idempotency lease): after Redis lost its data, keys it does not
   * know are refused until the longest lease any replica declared has passed. 0 (a connection that holds
   * no keys) declares none.
   */
  leaseMs?: number;
  /**
   * Refuse idempotency keys while Redis's `appendonly` is `no` (REDIS_REQUIRE_AOF; default true): a
   * restart would lose them. False accepts the risk: a warning, and keys are fail-closed after a restart.
   */
  requireAof?: boolean;
  logger: Logger;
  /** Redis lost its data since this replica last saw it (restarted empty, or flushed): for a metric. */
  onRestartedEmpty?: () => void;
}

/**
 * The portal's marker: `epoch` (Redis's TIME when it was written, which no later writing repeats), `since`
 * (the same, in ms: when the keys Redis does not know became unknowable), `lease` (the longest lease a
 * replica declared, ms), `run` (the run_id it was written under, for people). Written when missing, by the
 * first replica to connect or claim after Redis lost it; read by the claim script in the same step as the
 * key. KEYS[1]: the marker. ARGV: this replica's lease, the server's run_id, and an epoch to renew (written
 * anew if the marker still holds it; '' for none). Answers the marker's epoch, since and lease, Redis's
 * now, and 1 when this call wrote it.
 */
export const MARKER = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'epoch', 'since', 'lease')
if not m[1] or m[1] == ARGV[3] then
  local epoch = t[1] .. '.' .. t[2]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'since', now, 'lease', lease, 'run', ARGV[2])
  return {epoch, tostring(now), tostring(lease), tostring(now), 1}
end
local known = tonumber(m[3]) or 0
if known < lease then
  redis.call('HSET', KEYS[1], 'lease', lease)
  known = lease
end
return {m[1], tostring(tonumber(m[2]) or 0), tostring(known), tostring(now), 0}
`;

/** What /readyz says of Redis. */
export interface RedisReadiness {
  /**
   * connected; unreachable (down, stalled, refusing the gateway); refused (it could evict idempotency keys,
   * or lose them: no append-only file); fail-closed (it lost its data or is new: keys it does not know are
   * refused until the longest lease has passed).
   */
  state: 'connected' | 'unreachable' | 'refused' | 'fail-closed';
  /** Why it is unreachable, refused or fail-closed, in words. */
  problem?: string;
  /** What could not be checked (CONFIG not allowed on a managed Redis), or a risk accepted (REDIS_REQUIRE_AOF=false). */
  warning?: string;
}

/** A command refused because Redis is away: fails at once, without waiting. */
export class RedisUnavailableError extends Error {
  constructor(readonly why: RedisCause) {
    super(`Redis is unreachable: ${why}`);
    this.name = 'RedisUnavailableError';
  }
}

/** The policies under which Redis may drop a key the gateway wrote (every key of the gateway has a TTL). */
const EVICTING = /^(allkeys|volatile)-/;

/** Causes that put the connection down from a command: the server (or a slot's master) is away, not the command wrong. */
const AWAY: ReadonlySet<RedisCause> = new Set(['timed out', 'connection closed', 'not connected', 'cluster down']);

export class RedisConnection {
  readonly #backend: RedisBackend;
  readonly #logger: Logger;
  /** host:port, the only part of the URL that is ever logged. */
  readonly where: string;
  readonly #tls: boolean;
  #up = false;
  #closed = false;
  /** The cause last logged while down; undefined: up, or not yet failed. */
  #cause: RedisCause | undefined;
  #everUp = false;
  #runId: string | undefined;
  #evicting: string | undefined;
  /** Set while Redis keeps no append-only file and REDIS_REQUIRE_AOF is not false. */
  #unpersisted: string | undefined;
  /** appendonly as last read: undefined when CONFIG could not be read. */
  #aof: boolean | undefined;
  #warning: string | undefined;
  /** The marker's epoch as this replica last saw it: another one means Redis lost its data meanwhile. */
  #epoch: string | undefined;
  #since: number | undefined;
  /** Until when (this process's clock) keys Redis does not know are refused; 0: not fail-closed. */
  #failClosedUntil = 0;
  /** A check of the marker while up, asked for by a claim that found another epoch (Redis flushed). */
  #verifying: Promise<void> | undefined;
  /** The checks run after each (re)connection; commands are allowed during them for the listeners only. */
  #checking: Promise<void> | undefined;
  #probe: NodeJS.Timeout | undefined;
  #probing = false;
  readonly #listeners = new Set<(up: boolean, cause: RedisCause | undefined) => void>();
  readonly #emptyListeners = new Set<() => Promise<void>>();
  readonly #restartListeners: (() => Promise<void>)[] = [];
  #firstUp: Promise<void>;
  #resolveFirstUp: () => void = () => undefined;
  readonly #markerSha = createHash('sha1').update(MARKER).digest('hex');

  constructor(private readonly options: RedisConnectionOptions) {
    const url = new URL(options.url);
    this.where = `${url.hostname}:${url.port || '6379'}`;
    this.#tls = url.protocol === 'rediss:';
    this.#logger = options.logger;
    this.#firstUp = new Promise((resolve) => {
      this.#resolveFirstUp = resolve;
    });
    const events = {
      error: (error: unknown, handshaking: boolean) => this.#down(causeOf(error, this.#tls, handshaking)),
      ready: () => void this.#check(),
    };
    this.#backend = options.cluster
      ? clusterBackend(options.url, options.commandTimeoutMs, events)
      : singleBackend(options.url, options.commandTimeoutMs, events);
  }

  /** Connects in the background: a Redis that cannot be reached at start is logged, not fatal. */
  start(): void {
    this.#backend.start();
  }

  /** Connected, answering, and checked. */
  get up(): boolean {
    return this.#up;
  }

  /** Why Redis is not up now, when it is not. */
  get cause(): RedisCause {
    return this.#cause ?? 'not connected';
  }

  /** Set when Redis's maxmemory-policy can evict keys: idempotency keys are then refused. */
  get evicting(): string | undefined {
    return this.#evicting;
  }

  /**
   * Why Redis cannot be trusted with idempotency keys, when it cannot: an evicting maxmemory-policy, or no
   * append-only file (unless REDIS_REQUIRE_AOF=false). Keyed calls are then 503 and /readyz 503.
   */
  get refusal(): string | undefined {
    return this.#evicting ?? this.#unpersisted;
  }

  /**
   * The marker's `since` as this replica last read it (ms, Redis's clock): when Redis began, or last lost its
   * data. A portal's own marker (application mode) is written with it, so that only keys older than it fence.
   */
  get markerSince(): number | undefined {
    return this.#since;
  }

  /** The marker's epoch as this replica last saw it. */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** How long keys Redis does not know are still refused, as this replica last learnt it (ms; 0: not). */
  get failClosedMs(): number {
    return Math.max(0, this.#failClosedUntil - Date.now());
  }

  readiness(): RedisReadiness {
    const warning = this.#warning && { warning: this.#warning };
    if (!this.#up) return { state: 'unreachable', problem: causeWords[this.cause], ...warning };
    const refusal = this.refusal;
    if (refusal) return { state: 'refused', problem: refusal, ...warning };
    const left = this.failClosedMs;
    if (left > 0)
      return {
        state: 'fail-closed',
        problem:
          `Redis lost its data or is new: calls with an Idempotency-Key it does not know get 503 for ${Math.ceil(left / 1000)} s more, ` +
          'until the longest lease has passed (a retry cannot be told from a first call until then)',
        ...warning,
      };
    return { state: 'connected', ...warning };
  }

  /** Called on every change: up (connected and checked) or down, with the cause. Answers how to stop listening. */
  onChange(listener: (up: boolean, cause: RedisCause | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Called when Redis came back empty, before it counts as up again: re-write what must not be lost. Answers
   * how to stop listening (a store that lives shorter than the connection: one portal's limit).
   */
  onRestartedEmpty(listener: () => Promise<void>): () => void {
    this.#emptyListeners.add(listener);
    return () => this.#emptyListeners.delete(listener);
  }

  /**
   * Called when Redis restarted and kept its data (a new run_id, the marker there), before it counts as up
   * again: a host that crashed under appendfsync everysec may still have lost its last writes.
   */
  onRestartedWithData(listener: () => Promise<void>): void {
    this.#restartListeners.push(listener);
  }

  /**
   * What a claim learnt of the marker: keys are fail-closed for `ms` more (0: no longer), under the marker
   * `epoch`. An epoch other than the one this replica saw means Redis lost its data while connected
   * (FLUSHALL, or a restart between two of its checks): the marker is checked again, as after a reconnection.
   */
  noteMarker(ms: number, epoch?: string): void {
    this.#failClosedUntil = ms > 0 ? Date.now() + ms : 0;
    if (epoch !== undefined && this.#epoch !== undefined && epoch !== this.#epoch && this.#up)
      this.#verifying ??= this.#verifyMarker().finally(() => {
        this.#verifying = undefined;
      });
  }

  /** Resolves true once Redis is up, false after `ms` (a request at start waits no longer than a command). */
  async ready(ms = this.options.commandTimeoutMs): Promise<boolean> {
    if (this.#up || this.#everUp) return this.#up;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#firstUp,
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return this.#up;
  }

  /**
   * A command within the gateway's deadline. Fails at once while Redis is down; a command past its deadline
   * puts the connection down ("timed out") until a probe is answered.
   */
  async run<T>(command: (client: RedisCommands) => Promise<T>): Promise<T> {
    if (!this.#up && !this.#checking) throw new RedisUnavailableError(this.cause);
    try {
      return await withDeadline(command(this.#backend.commands), this.options.commandTimeoutMs);
    } catch (error) {
      const cause = causeOf(error, this.#tls);
      if (AWAY.has(cause)) this.#down(cause);
      else this.#commandFailed(cause);
      throw error;
    }
  }

  /**
   * A Lua script by its SHA1 (EVALSHA), loaded on first use or after a restart (NOSCRIPT). Its first `keys`
   * arguments are its keys (one hash slot), the rest its arguments.
   */
  script(source: string, keys = 1): (...keysThenArgs: string[]) => Promise<unknown> {
    const sha = createHash('sha1').update(source).digest('hex');
    return (...keysThenArgs) => this.run((client) => evalScript(client, sha, source, keys, keysThenArgs));
  }

  /** Closes the connection; one that does not close in time (a stalled server) is destroyed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    try {
      await withDeadline(this.#backend.close(), Math.min(this.options.commandTimeoutMs, 1_000));
    } catch {
      this.#backend.destroy();
    }
  }

  /** A command-level failure that leaves the connection up (WRONGTYPE, OOM, NOPERM): logged once per cause. */
  #commandProblem: RedisCause | undefined;
  #commandFailed(cause: RedisCause): void {
    if (this.#commandProblem === cause) return;
    this.#commandProblem = cause;
    this.#logger.error({ redis: this.where, cause }, `Redis refused a command: ${causeWords[cause]}`);
  }

  #down(cause: RedisCause): void {
    if (this.#closed) return;
    const wasUp = this.#up;
    // A socket closing after a refusal already logged says nothing new.
    if (!wasUp && (this.#cause === cause || (this.#cause && followOnCauses.has(cause)))) return;
    this.#up = false;
    this.#cause = cause;
    this.#logger.warn(
      { redis: this.where, cause, limiter: 'degraded' },
      `Redis ${wasUp ? 'lost' : this.#everUp ? 'still unreachable' : 'unreachable at start'} at ${this.where}: ${causeWords[cause]}. ` +
        "Meanwhile this replica limits on its own, at its share of the portal's rate, and calls with an Idempotency-Key get 503",
    );
    // A server that stalls keeps its socket: a ping now and then says when it answers again.
    this.#probe ??= setInterval(() => this.#tryProbe(), 1_000).unref();
    if (wasUp) for (const listener of this.#listeners) listener(false, cause);
  }

  #tryProbe(): void {
    if (this.#probing || !this.#backend.isReady || this.#checking) return;
    this.#probing = true;
    // Every master: a cluster counts as up only when each of them answers.
    this.#deadline(this.#backend.masters().then((nodes) => Promise.all(nodes.map((node) => node.ping()))))
      .then(
        () => this.#check(),
        () => undefined,
      )
      .finally(() => {
        this.#probing = false;
      });
  }

  /** After a (re)connection: read what the server is and says, then count it as up. */
  #check(): Promise<void> {
    this.#checking ??= this.#runChecks().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  #deadline = <T>(work: Promise<T>) => withDeadline(work, this.options.commandTimeoutMs);

  async #runChecks(): Promise<void> {
    if (this.#closed || this.#up) return;
    try {
      const nodes = await this.#deadline(this.#backend.masters());
      // A master whose view of a cluster is not ok answers CLUSTERDOWN for its slots: not up yet.
      const serving = await this.#deadline(Promise.all(nodes.map((node) => node.serving())));
      if (serving.includes(false)) throw new Error('CLUSTERDOWN a master says the cluster is down');
      const runId = await this.#runIdOf(nodes);
      await this.#checkConfig(nodes);
      await this.#checkMarker(runId ?? 'unknown', this.#runId !== undefined && runId !== this.#runId);
      this.#runId = runId;
    } catch (error) {
      this.#down(causeOf(error, this.#tls));
      return;
    }
    if (this.#closed) return;
    const wasDown = this.#cause !== undefined || !this.#everUp;
    this.#up = true;
    this.#cause = undefined;
    this.#commandProblem = undefined;
    this.#everUp = true;
    clearInterval(this.#probe);
    this.#probe = undefined;
    this.#resolveFirstUp();
    if (wasDown) this.#logger.info({ redis: this.where, limiter: 'shared' }, `Redis reached at ${this.where}`);
    for (const listener of this.#listeners) listener(true, undefined);
  }

  /**
   * The server's run_id, new after each restart; a cluster's, its masters' in order, so that a restart of
   * any of them (or a new master) counts as a restart. Undefined when one does not say.
   */
  async #runIdOf(nodes: RedisNode[]): Promise<string | undefined> {
    const infos = await this.#deadline(Promise.all(nodes.map((node) => node.info('server'))));
    const ids = infos.map((info) => /run_id:([0-9a-f]+)/.exec(info)?.[1]);
    return ids.every((id) => id !== undefined) ? ids.sort().join(',') : undefined;
  }

  /** While up: a claim met another marker than the one this replica saw. */
  async #verifyMarker(): Promise<void> {
    try {
      await this.#checkMarker(this.#runId ?? 'unknown', false);
    } catch (error) {
      this.#commandFailed(causeOf(error, this.#tls));
    }
  }

  /**
   * Reads (or writes) the portal's marker: another epoch than the one this replica saw, or none, means Redis
   * lost its data; keys it does not know are fail-closed until `since` + the longest lease. A restart of a
   * Redis without an append-only file counts as a loss even with the marker there: a snapshot (RDB) brings
   * back an old marker with old keys, and hides that the newer ones are gone.
   */
  async #checkMarker(runId: string, restarted: boolean): Promise<void> {
    // Across a restart without an append-only file, only a snapshot can have kept the marker this replica
    // saw: it is written anew (unless another replica did first), so that every replica fences.
    const renew = restarted && this.#aof === false ? (this.#epoch ?? '') : '';
    const reply = await this.#marker(runId, renew);
    const seen = this.#epoch;
    this.#epoch = reply.epoch;
    this.#since = reply.since;
    const left = reply.since + reply.lease - reply.now;
    this.#failClosedUntil = left > 0 ? Date.now() + left : 0;
    const failClosed = `calls with an Idempotency-Key that Redis does not know get 503 for ${Math.ceil(Math.max(0, left) / 1000)} s (until the longest lease, ${reply.lease} ms, has passed since then), since a retry cannot be told from a first call`;
    if (seen !== undefined && reply.epoch !== seen) {
      this.options.onRestartedEmpty?.();
      this.#logger.error(
        { redis: this.where, restartedEmpty: true, failClosedMs: Math.max(0, left) },
        'Redis lost its data (restarted empty, or flushed: the marker key is gone or was written again): finished ' +
          'idempotency keys are lost and the shared limit starts over. This replica re-writes the claims of its calls in flight and the answers it knows, pushes the shared bucket full, and ' +
          `${failClosed}. Run Redis with persistence (appendonly yes)`,
      );
      for (const listener of this.#emptyListeners) await listener();
    } else if (seen === undefined && (reply.wrote || left > 0) && (this.options.leaseMs ?? 0) > 0) {
      this.#logger.warn(
        { redis: this.where, failClosedMs: Math.max(0, left) },
        `Redis holds no marker of this gateway's older than a lease (it is new, or it lost its data): ${failClosed}`,
      );
    } else if (restarted) {
      this.#logger.info({ redis: this.where }, 'Redis restarted and kept its data (the marker key is there)');
      for (const listener of this.#restartListeners) await listener();
    }
  }

  async #marker(
    runId: string,
    renew: string,
  ): Promise<{ epoch: string; since: number; lease: number; now: number; wrote: boolean }> {
    const [epoch, since, lease, now, wrote] = (await this.#deadline(
      evalScript(this.#backend.commands, this.#markerSha, MARKER, 1, [
        this.options.markerKey,
        String(this.options.leaseMs ?? 0),
        runId,
        renew,
      ]),
    )) as [string, string, string, string, number];
    return { epoch, since: Number(since), lease: Number(lease), now: Number(now), wrote: wrote === 1 };
  }

  /**
   * CONFIG GET maxmemory-policy and appendonly: an evicting policy is refused for idempotency keys, and so is
   * a Redis without an append-only file unless REDIS_REQUIRE_AOF=false accepts it; CONFIG not allowed, a warning.
   */
  async #checkConfig(nodes: RedisNode[]): Promise<void> {
    let read: { where: string; policy: string; appendonly: string }[];
    try {
      read = await this.#deadline(
        Promise.all(
          nodes.map(async (node) => {
            const get = async (name: string) => String((await node.configGet(name))[name] ?? '');
            return { where: node.where, policy: await get('maxmemory-policy'), appendonly: await get('appendonly') };
          }),
        ),
      );
    } catch (error) {
      // Renamed or forbidden (rename-command CONFIG "", an ACL without +config): a managed Redis.
      if (AWAY.has(causeOf(error, this.#tls))) throw error;
      const warning =
        'CONFIG GET is not allowed on this Redis: the gateway cannot check that it never evicts keys (maxmemory-policy must be noeviction) nor that it keeps them across a restart (appendonly must be yes)';
      if (this.#warning !== warning) this.#logger.warn({ redis: this.where }, warning);
      this.#warning = warning;
      this.#evicting = undefined;
      this.#unpersisted = undefined;
      this.#aof = undefined;
      return;
    }
    // Any master of a cluster that evicts, or keeps no append-only file, does so for the keys of its slots:
    // named, so that the operator knows which node to set.
    const on = (where: string) => (this.options.cluster ? ` on the cluster's node ${where}` : '');
    const node = (where: string) => (this.options.cluster ? { node: where } : {});
    const shownOf = (policy: string) => (/^[a-z-]{1,32}$/.test(policy) ? policy : 'unknown');
    const evictor = read.find(({ policy }) => EVICTING.test(policy));
    const evicting = evictor
      ? `Redis's maxmemory-policy is ${shownOf(evictor.policy)}${on(evictor.where)}, which can evict idempotency keys (a retry of an evicted call would be sent again): set maxmemory-policy noeviction`
      : undefined;
    if (evictor && evicting !== this.#evicting)
      this.#logger.error(
        { redis: this.where, ...node(evictor.where), maxmemoryPolicy: shownOf(evictor.policy) },
        `${evicting}. Calls with an Idempotency-Key get 503 and /readyz 503 until then; calls without one are served`,
      );
    else if (!evicting && this.#evicting)
      this.#logger.info(
        { redis: this.where, maxmemoryPolicy: shownOf(read[0]?.policy ?? '') },
        "Redis's maxmemory-policy no longer evicts",
      );
    this.#evicting = evicting;

    const without = read.find(({ appendonly }) => appendonly !== 'yes');
    this.#aof = without === undefined;
    const required = this.options.requireAof ?? true;
    const unpersisted =
      without && required
        ? `Redis's appendonly is no${on(without.where)}: a restart would lose the idempotency keys (a snapshot alone brings back old ones and hides the loss): set appendonly yes, or REDIS_REQUIRE_AOF=false to accept the risk`
        : undefined;
    if (without && unpersisted && unpersisted !== this.#unpersisted)
      this.#logger.error(
        { redis: this.where, ...node(without.where), appendonly: 'no' },
        `${unpersisted}. Calls with an Idempotency-Key get 503 and /readyz 503 until then; calls without one are served`,
      );
    else if (!unpersisted && this.#unpersisted)
      this.#logger.info({ redis: this.where, appendonly: 'yes' }, "Redis's append-only file is on");
    this.#unpersisted = unpersisted;
    const accepted =
      without && !required
        ? `Redis's appendonly is no${on(without.where)}, accepted by REDIS_REQUIRE_AOF=false: after a restart every key is lost, and keys Redis does not know get 503 for the longest lease`
        : undefined;
    if (without && accepted && accepted !== this.#warning)
      this.#logger.warn({ redis: this.where, ...node(without.where), appendonly: 'no' }, accepted);
    this.#warning = accepted;
  }
}

/** EVALSHA, or EVAL when Redis does not know the script (first use, or after a restart). */
async function evalScript(
  client: RedisCommands,
  sha: string,
  source: string,
  keys: number,
  keysThenArgs: string[],
): Promise<unknown> {
  try {
    return await client.sendCommand(['EVALSHA', sha, String(keys), ...keysThenArgs]);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
    return await client.sendCommand(['EVAL', source, String(keys), ...keysThenArgs]);
  }
}
