// The gateway's one connection to Redis, shared by the portal's limit (src/rate-limit/redis-store.ts) and
// the idempotency keys (src/idempotency/redis-store.ts): one health state, one log line per change of it
// with the cause in words, a deadline the gateway owns around every command, and the checks that say
// whether the server can be trusted with keys: its maxmemory-policy, and whether it restarted empty.
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from '../logger';
import { causeOf, causeWords, followOnCauses, type RedisCause } from './causes';
import { withDeadline } from './deadline';
import { redisClientOptions } from './options';

export interface RedisConnectionOptions {
  /** `redis://` or `rediss://`, credentials included: never logged (only host:port is). */
  url: string;
  /** Every command the gateway waits for is failed after this (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
  /** A key the gateway writes without expiry: gone after a restart, it says Redis came back empty. */
  markerKey: string;
  logger: Logger;
  /** Redis came back empty (its run_id changed and the marker is gone): for a metric. */
  onRestartedEmpty?: () => void;
}

/** What /readyz says of Redis. */
export interface RedisReadiness {
  /** connected; unreachable (down, stalled, refusing the gateway); refused (it could evict idempotency keys). */
  state: 'connected' | 'unreachable' | 'refused';
  /** Why it is unreachable or refused, in words. */
  problem?: string;
  /** What could not be checked (CONFIG not allowed on a managed Redis). */
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

type Client = ReturnType<typeof createClient>;

export class RedisConnection {
  readonly #client: Client;
  readonly #logger: Logger;
  /** host:port, the only part of the URL that is ever logged. */
  readonly where: string;
  readonly #tls: boolean;
  #up = false;
  #closed = false;
  /** The cause last logged while down; undefined: up, or not yet failed. */
  #cause: RedisCause | undefined;
  #everUp = false;
  /** Connected, but the client's hello not yet answered. */
  #handshaking = false;
  #runId: string | undefined;
  #evicting: string | undefined;
  #warning: string | undefined;
  /** The checks run after each (re)connection; commands are allowed during them for the listeners only. */
  #checking: Promise<void> | undefined;
  #probe: NodeJS.Timeout | undefined;
  #probing = false;
  readonly #listeners = new Set<(up: boolean, cause: RedisCause | undefined) => void>();
  readonly #emptyListeners: (() => Promise<void>)[] = [];
  #firstUp: Promise<void>;
  #resolveFirstUp: () => void = () => undefined;

  constructor(private readonly options: RedisConnectionOptions) {
    const url = new URL(options.url);
    this.where = `${url.hostname}:${url.port || '6379'}`;
    this.#tls = url.protocol === 'rediss:';
    this.#logger = options.logger;
    this.#client = createClient(redisClientOptions(options.url, options.commandTimeoutMs));
    this.#firstUp = new Promise((resolve) => {
      this.#resolveFirstUp = resolve;
    });
    this.#client.on('error', (error: unknown) => this.#down(causeOf(error, this.#tls, this.#handshaking)));
    this.#client.on('connect', () => {
      this.#handshaking = true;
    });
    this.#client.on('ready', () => {
      this.#handshaking = false;
      void this.#check();
    });
  }

  /** Connects in the background: a Redis that cannot be reached at start is logged, not fatal. */
  start(): void {
    this.#client.connect().catch((error: unknown) => this.#down(causeOf(error, this.#tls)));
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

  readiness(): RedisReadiness {
    const warning = this.#warning && { warning: this.#warning };
    if (!this.#up) return { state: 'unreachable', problem: causeWords[this.cause], ...warning };
    if (this.#evicting) return { state: 'refused', problem: this.#evicting, ...warning };
    return { state: 'connected', ...warning };
  }

  /** Called on every change: up (connected and checked) or down, with the cause. */
  onChange(listener: (up: boolean, cause: RedisCause | undefined) => void): void {
    this.#listeners.add(listener);
  }

  /** Called when Redis came back empty, before it counts as up again: re-write what must not be lost. */
  onRestartedEmpty(listener: () => Promise<void>): void {
    this.#emptyListeners.push(listener);
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
  async run<T>(command: (client: Client) => Promise<T>): Promise<T> {
    if (!this.#up && !this.#checking) throw new RedisUnavailableError(this.cause);
    try {
      return await withDeadline(command(this.#client), this.options.commandTimeoutMs);
    } catch (error) {
      const cause = causeOf(error, this.#tls);
      if (cause === 'timed out' || cause === 'connection closed' || cause === 'not connected') this.#down(cause);
      else this.#commandFailed(cause);
      throw error;
    }
  }

  /** A Lua script on one key, by its SHA1 (EVALSHA), loaded on first use or after a restart (NOSCRIPT). */
  script(source: string): (key: string, ...args: string[]) => Promise<unknown> {
    const sha = createHash('sha1').update(source).digest('hex');
    return (key, ...args) =>
      this.run(async (client) => {
        try {
          return await client.sendCommand(['EVALSHA', sha, '1', key, ...args]);
        } catch (error) {
          if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
          return await client.sendCommand(['EVAL', source, '1', key, ...args]);
        }
      });
  }

  /** Closes the connection; one that does not close in time (a stalled server) is destroyed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    if (!this.#client.isOpen) return;
    try {
      await withDeadline(this.#client.close(), Math.min(this.options.commandTimeoutMs, 1_000));
    } catch {
      this.#client.destroy();
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
    if (this.#probing || !this.#client.isReady || this.#checking) return;
    this.#probing = true;
    withDeadline(this.#client.ping(), this.options.commandTimeoutMs)
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

  async #runChecks(): Promise<void> {
    if (this.#closed || this.#up) return;
    const deadline = <T>(work: Promise<T>) => withDeadline(work, this.options.commandTimeoutMs);
    try {
      const info = await deadline(this.#client.info('server'));
      const runId = /run_id:([0-9a-f]+)/.exec(info)?.[1];
      await this.#checkPolicy(deadline);
      const marker = await deadline(this.#client.get(this.options.markerKey));
      const restarted = this.#runId !== undefined && runId !== this.#runId;
      // The marker holds the run_id it was written under: one of the server's own run means another
      // replica found it gone first and wrote it again.
      if (restarted && (marker === null || marker === runId)) {
        this.options.onRestartedEmpty?.();
        this.#logger.error(
          { redis: this.where, restartedEmpty: true },
          'Redis restarted empty (its run_id changed and the marker key is gone): finished idempotency keys are ' +
            'lost (a retry of such a call would be sent again) and the shared limit starts over; this replica ' +
            're-writes the claims of its calls in flight and pushes the shared bucket full. Run Redis with persistence (appendonly yes)',
        );
        for (const listener of this.#emptyListeners) await listener();
      } else if (restarted) {
        this.#logger.info({ redis: this.where }, 'Redis restarted and kept its data (the marker key is there)');
      }
      if (marker === null)
        await deadline(this.#client.set(this.options.markerKey, runId ?? 'unknown')).catch((error: unknown) =>
          this.#commandFailed(causeOf(error, this.#tls)),
        );
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

  /** CONFIG GET maxmemory-policy: an evicting policy is refused for idempotency keys; CONFIG not allowed, a warning. */
  async #checkPolicy(deadline: <T>(work: Promise<T>) => Promise<T>): Promise<void> {
    let policy: string;
    try {
      const reply = (await deadline(this.#client.configGet('maxmemory-policy'))) as Record<string, string>;
      policy = String(reply['maxmemory-policy'] ?? '');
    } catch (error) {
      // Renamed or forbidden (rename-command CONFIG "", an ACL without +config): a managed Redis.
      const cause = causeOf(error, this.#tls);
      if (cause === 'timed out' || cause === 'connection closed' || cause === 'not connected') throw error;
      const warning =
        'CONFIG GET maxmemory-policy is not allowed on this Redis: the gateway cannot check that it never evicts keys (it must be noeviction)';
      if (this.#warning !== warning) this.#logger.warn({ redis: this.where }, warning);
      this.#warning = warning;
      this.#evicting = undefined;
      return;
    }
    this.#warning = undefined;
    const shown = /^[a-z-]{1,32}$/.test(policy) ? policy : 'unknown';
    const evicting = EVICTING.test(policy)
      ? `Redis's maxmemory-policy is ${shown}, which can evict idempotency keys (a retry of an evicted call would be sent again): set maxmemory-policy noeviction`
      : undefined;
    if (evicting && evicting !== this.#evicting)
      this.#logger.error(
        { redis: this.where, maxmemoryPolicy: shown },
        `${evicting}. Calls with an Idempotency-Key get 503 and /readyz 503 until then; calls without one are served`,
      );
    else if (!evicting && this.#evicting)
      this.#logger.info({ redis: this.where, maxmemoryPolicy: shown }, "Redis's maxmemory-policy no longer evicts");
    this.#evicting = evicting;
  }
}
