// Idempotency keys in the gateway's Redis (the connection the shared limit uses too), so that a retry
// landing on another replica is recognised: the claim is an atomic set-if-absent with expiry, the answer is
// stored by a compare-and-set on the claimer's token, on Redis's own clock (replicas' clocks may differ).
// Redis is trusted with keys only while it is up, answering within the gateway's deadline, and cannot evict
// them (src/redis checks its maxmemory-policy); otherwise a keyed call is 503 and nothing is sent.
import { randomUUID } from 'node:crypto';
import { causeOf, type RedisCause, type RedisConnection } from '../redis';
import {
  type Claim,
  type ClaimRequest,
  type IdempotencyStore,
  IdempotencyStoreUnavailable,
  type StoredAnswer,
  type StoreFailure,
} from './store';

// KEYS[1]: the key. ARGV: fingerprint, token, leaseMs, lifetimeMs (the longer of the lease and the
// retention: the key outlives its call). The entry is a JSON object: f (fingerprint), t (token), l (lease
// end, unix ms) while in flight; a (the answer) once done. Claiming with one's own token again (after Redis
// came back empty) re-writes the claim.
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('GET', KEYS[1])
if not held then
  local entry = cjson.encode({f = ARGV[1], t = ARGV[2], l = now + tonumber(ARGV[3])})
  redis.call('SET', KEYS[1], entry, 'PX', ARGV[4])
  return {'claimed', ''}
end
local entry = cjson.decode(held)
if entry.f ~= ARGV[1] then return {'mismatch', ''} end
if entry.a then return {'done', entry.a} end
if entry.t == ARGV[2] then return {'claimed', ''} end
if entry.l > now then return {'in-flight', tostring(entry.l - now)} end
return {'abandoned', ''}
`;

// KEYS[1]: the key. ARGV: token, answer (JSON), retentionMs; or token alone to release.
const COMPLETE = `
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local entry = cjson.decode(held)
if entry.t ~= ARGV[1] or entry.a then return 0 end
redis.call('SET', KEYS[1], cjson.encode({f = entry.f, a = ARGV[2]}), 'PX', ARGV[3])
return 1
`;
const RELEASE = `
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local entry = cjson.decode(held)
if entry.t ~= ARGV[1] or entry.a then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

export interface RedisIdempotencyOptions {
  /** The gateway's connection to Redis (shared with the limit; its owner closes it). */
  connection: RedisConnection;
  /** Prepended to every key: `<prefix>:idempotency:<scoped key>`. */
  prefix: string;
}

/** A claim this replica holds while its call runs. */
interface Held {
  fingerprint: string;
  token: string;
  leaseEnd: number;
  lifetimeMs: number;
}

/** A write whose outcome is unknown (its deadline passed): done again once Redis answers. */
type Unsure = { token: string } & ({ kind: 'release' } | { kind: 'complete'; answer: string; retentionMs: number });

/** At most this many unsure writes are remembered (each is a few hundred bytes and an answer). */
const MAX_UNSURE = 10_000;
/** At most this many claims in flight are remembered (more than a gateway's queue and connections hold). */
const MAX_HELD = 100_000;

export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #connection: RedisConnection;
  readonly #claim;
  readonly #complete;
  readonly #release;
  readonly #held = new Map<string, Held>();
  readonly #unsure = new Map<string, Unsure>();

  constructor(private readonly options: RedisIdempotencyOptions) {
    const { connection } = options;
    this.#connection = connection;
    this.#claim = connection.script(CLAIM);
    this.#complete = connection.script(COMPLETE);
    this.#release = connection.script(RELEASE);
    connection.onRestartedEmpty(() => this.#reclaim());
    connection.onChange((up) => {
      if (up) void this.#redo();
    });
  }

  async claim({ key, fingerprint, leaseMs, retentionMs }: ClaimRequest): Promise<Claim> {
    await this.#usable();
    const token = randomUUID();
    const lifetimeMs = Math.max(leaseMs, retentionMs);
    let reply: [string, string];
    try {
      reply = (await this.#claim(
        this.#key(key),
        fingerprint,
        token,
        String(leaseMs),
        String(lifetimeMs),
      )) as typeof reply;
    } catch (error) {
      // A claim past its deadline may still be executed when Redis resumes: it is released then, so that a
      // retry is a new call (the caller was told nothing was sent).
      const failure = this.#failure(error);
      if (failure.reason === 'timed out') this.#remember(key, { kind: 'release', token });
      throw failure;
    }
    const [kind, value = ''] = reply;
    switch (kind) {
      case 'claimed':
        this.#hold(key, { fingerprint, token, leaseEnd: Date.now() + leaseMs, lifetimeMs });
        return { kind, token };
      case 'done':
        return { kind, answer: JSON.parse(value) as StoredAnswer };
      case 'in-flight':
        return { kind, retryAfterMs: Number(value) };
      case 'mismatch':
      case 'abandoned':
        return { kind };
      default:
        throw new Error(`an idempotency claim answered ${kind}`);
    }
  }

  async complete(key: string, token: string, answer: StoredAnswer, retentionMs: number): Promise<void> {
    this.#held.delete(key);
    const json = JSON.stringify(answer);
    try {
      await this.#complete(this.#key(key), token, json, String(retentionMs));
    } catch (error) {
      const failure = this.#failure(error);
      // Refused (OOM) is final; a write whose outcome is unknown is done again when Redis answers.
      if (failure.reason !== 'out of memory')
        this.#remember(key, { kind: 'complete', token, answer: json, retentionMs });
      throw failure;
    }
  }

  async release(key: string, token: string): Promise<void> {
    this.#held.delete(key);
    try {
      await this.#release(this.#key(key), token);
    } catch (error) {
      this.#remember(key, { kind: 'release', token });
      throw this.#failure(error);
    }
  }

  /** The connection is its owner's to close. */
  async close(): Promise<void> {}

  #key(key: string): string {
    return `${this.options.prefix}:idempotency:${key}`;
  }

  /** Throws, at once, when Redis cannot be trusted with a key now. */
  async #usable(): Promise<void> {
    // Just started: wait for the connection no longer than for a command.
    if (!(await this.#connection.ready()))
      throw new IdempotencyStoreUnavailable(
        `cannot be reached (Redis: ${this.#connection.cause})`,
        reasonOf(this.#connection.cause),
      );
    const evicting = this.#connection.evicting;
    if (evicting) throw new IdempotencyStoreUnavailable(`is refused: ${evicting}`, 'refused');
  }

  #failure(error: unknown): IdempotencyStoreUnavailable {
    if (error instanceof IdempotencyStoreUnavailable) return error;
    const cause = causeOf(error, false);
    return new IdempotencyStoreUnavailable(`cannot be reached (Redis: ${cause})`, reasonOf(cause));
  }

  /** Remembers a claim in flight; past MAX_HELD, the ones whose lease ended (their call is over) are let go. */
  #hold(key: string, held: Held): void {
    if (this.#held.size >= MAX_HELD) {
      const now = Date.now();
      for (const [other, { leaseEnd }] of this.#held) if (leaseEnd <= now) this.#held.delete(other);
    }
    if (this.#held.size < MAX_HELD) this.#held.set(key, held);
  }

  #remember(key: string, write: Unsure): void {
    if (this.#unsure.size < MAX_UNSURE || this.#unsure.has(key)) this.#unsure.set(key, write);
  }

  /** Redis answers again: the writes whose outcome was unknown are done again (each is a no-op if it was done). */
  async #redo(): Promise<void> {
    for (const [key, write] of this.#unsure) {
      if (!this.#connection.up) return;
      try {
        if (write.kind === 'release') await this.#release(this.#key(key), write.token);
        else await this.#complete(this.#key(key), write.token, write.answer, String(write.retentionMs));
        this.#unsure.delete(key);
      } catch {
        return;
      }
    }
  }

  /** Redis came back empty: the claims of this replica's calls in flight are written again, so that a retry of one is still refused. */
  async #reclaim(): Promise<void> {
    const now = Date.now();
    for (const [key, held] of this.#held) {
      const leaseMs = Math.max(1, held.leaseEnd - now);
      await this.#claim(this.#key(key), held.fingerprint, held.token, String(leaseMs), String(held.lifetimeMs)).catch(
        () => undefined,
      );
    }
  }
}

function reasonOf(cause: RedisCause): StoreFailure {
  if (cause === 'timed out' || cause === 'out of memory') return cause;
  if (cause === 'failed' || cause === 'wrong type at a key') return 'failed';
  return 'unreachable';
}
