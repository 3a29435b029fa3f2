// Idempotency keys in the gateway's Redis (the connection the shared limit uses too), so that a retry
// landing on another replica is recognised: the claim is an atomic set-if-absent with expiry, the answer is
// stored by a compare-and-set on the claimer's token, on Redis's own clock (replicas' clocks may differ).
// Redis is trusted with keys only while it is up, answering within the gateway's deadline, cannot evict
// them and keeps them across a restart (src/redis checks its maxmemory-policy and appendonly); otherwise a
// keyed call is 503 and nothing is sent.
//
// Redis that forgets cannot send twice:
// - After Redis lost its data (restarted empty, flushed, or new: no marker), a key it does not know is
//   refused (503, nothing sent) until the longest lease has passed since then, on every replica: the claim
//   reads the portal's marker (src/redis/connection.ts) in the same script, so a replica that was away
//   meanwhile, or started later, knows too. A call that was running then has finished by the end of that
//   window, and its replica has written its claim or its answer again by then.
// - An answer (or a release) Redis did not take is kept, and written back whenever Redis answers again:
//   over the claimer's own claim, or where the key is gone (Redis lost it), never over another token's
//   claim. So the key is never left free while this replica knows the outcome.
// - The answers it did take are kept too, the most recent within a bound, and written back the same way
//   after Redis lost its data (within the window) or restarted: a client that never got its answer (its own
//   timeout, a broken connection) and retries after the window meets it, rather than a second send.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger';
import { causeOf, type RedisCause, type RedisConnection, RedisUnavailableError } from '../redis';
import {
  type Claim,
  type ClaimRequest,
  type IdempotencyStore,
  IdempotencyStoreUnavailable,
  type StoredAnswer,
  type StoreFailure,
} from './store';

// KEYS[1]: the key; KEYS[2]: the portal's marker (one hash slot). ARGV: fingerprint, token, leaseMs,
// lifetimeMs (the longer of the lease and the retention: the key outlives its call), and `claim` or
// `reclaim`. The entry is a JSON object: f (fingerprint), t (token), l (lease end, unix ms) while in flight;
// a (the answer) once done. Claiming with one's own token again re-writes nothing. A key that is not there
// is claimed only once the longest lease has passed since the marker was written (Redis lost its data, or
// is new: a retry cannot be told from a first call before then), except to re-write a claim this replica
// holds (`reclaim`). A missing marker is written here too: the first claim after a FLUSHALL fences; ARGV[6],
// when a number, is the `since` it is written with (a portal's marker: the connection's marker's since).
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('GET', KEYS[1])
if held then
  local entry = cjson.decode(held)
  if entry.f ~= ARGV[1] then return {'mismatch', ''} end
  if entry.a then return {'done', entry.a} end
  if entry.t == ARGV[2] then return {'claimed', ''} end
  if entry.l > now then return {'in-flight', tostring(entry.l - now)} end
  return {'abandoned', ''}
end
local lease = tonumber(ARGV[3])
local epoch = ''
if ARGV[5] ~= 'reclaim' then
  local m = redis.call('HMGET', KEYS[2], 'epoch', 'since', 'lease')
  epoch = m[1]
  local since = tonumber(m[2]) or 0
  local known = tonumber(m[3]) or 0
  if not epoch then
    epoch = t[1] .. '.' .. t[2]
    since = tonumber(ARGV[6]) or now
    known = lease
    redis.call('HSET', KEYS[2], 'epoch', epoch, 'since', since, 'lease', lease, 'run', 'claim')
  elseif known < lease then
    redis.call('HSET', KEYS[2], 'lease', lease)
    known = lease
  end
  local left = since + known - now
  if left > 0 then return {'fenced', tostring(left), epoch} end
end
local entry = cjson.encode({f = ARGV[1], t = ARGV[2], l = now + lease})
redis.call('SET', KEYS[1], entry, 'PX', ARGV[4])
return {'claimed', '', epoch}
`;

// KEYS[1]: the key. ARGV: token, answer (JSON), retentionMs, fingerprint ('' when unknown). Written over the
// claimer's own claim (1), or where the key is gone (2: Redis lost it; only with the fingerprint); never over
// another token's claim (-1) or an answer already there (0). -2: gone, and no fingerprint to write it with.
const COMPLETE = `
local held = redis.call('GET', KEYS[1])
if held then
  local entry = cjson.decode(held)
  if entry.a then return 0 end
  if entry.t ~= ARGV[1] then return -1 end
  redis.call('SET', KEYS[1], cjson.encode({f = entry.f, a = ARGV[2]}), 'PX', ARGV[3])
  return 1
end
if ARGV[4] == '' then return -2 end
redis.call('SET', KEYS[1], cjson.encode({f = ARGV[4], a = ARGV[2]}), 'PX', ARGV[3])
return 2
`;
// KEYS[1]: the key. ARGV: token. Frees the claimer's own claim only.
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
  /**
   * Prepended to every key: `<prefix>:idempotency:<scoped key>`. A hash tag (`{<REDIS_KEY_PREFIX>:<portal
   * host>}`), the marker's too, so that a claim's script touches one hash slot.
   */
  prefix: string;
  /** The portal's marker (the connection's `markerKey`), read by every claim. */
  markerKey: string;
  /**
   * Application mode: a scoped key `<member_id>/<hash>` lives in its portal's hash tag (this answers it,
   * `{<prefix>:portal:<member_id>}`), beside that portal's own marker, so that each portal's keys share a
   * slot of a Redis Cluster. A portal's marker missing is written with the connection's marker's `since`
   * (when this Redis began, or last lost its data): a portal installed later is not fenced.
   */
  portalTag?: (memberId: string) => string;
  logger: Logger;
  /**
   * At most this many bytes of answers and releases are kept to be written back (MAX_PENDING_BYTES): past
   * it, a new one is not kept, and that is logged and counted.
   */
  maxPendingBytes?: number;
  /** At most this many bytes of the answers Redis took are kept for after a loss (MAX_RECENT_BYTES): the oldest go first. */
  maxRecentBytes?: number;
}

/** What the store tells the metrics. */
export interface RedisKeysState {
  /** Answers and releases kept to be written back when Redis answers again. */
  pending: number;
  pendingBytes: number;
  /** Answers Redis took, kept to be written again if it loses them. */
  recent: number;
  /** Answers and releases not kept, the bound being reached (since start). */
  dropped: number;
  /** Keys Redis does not know are refused now (it lost its data or is new), as this replica last learnt. */
  failClosed: boolean;
}

/** A claim this replica holds while its call runs. */
interface Held {
  fingerprint: string;
  token: string;
  leaseEnd: number;
  lifetimeMs: number;
}

/** An answer Redis took, kept until its retention ends (or the bound is reached) in case Redis loses it. */
interface Recent {
  token: string;
  fingerprint: string;
  answer: string;
  retentionMs: number;
  /** When Redis's copy expires (this process's clock). */
  expires: number;
  bytes: number;
}

/** A write Redis did not take (or whose outcome is unknown): done again once Redis answers. */
type Pending = { token: string; bytes: number } & (
  | { kind: 'release' }
  | { kind: 'complete'; answer: string; retentionMs: number; fingerprint: string }
);

/**
 * The bound on what is kept to be written back: 64 MiB, a few hundred thousand answers (each a few hundred
 * bytes). Only calls that were in flight when Redis went away can be kept (no key is claimed while it is
 * away), so a gateway's queue and connections fill it first; it is a guard, not a working limit.
 */
export const MAX_PENDING_BYTES = 64 * 1024 * 1024;
/**
 * The bound on the answers Redis took that are kept for after a loss: 32 MiB, some 50,000 answers, hours of
 * a portal's traffic at Bitrix24's rates (2 or 5 calls a second, shared by the replicas). The oldest go
 * first: a client that retries a call whose answer it never got does so soon.
 */
export const MAX_RECENT_BYTES = 32 * 1024 * 1024;
/** What an entry costs besides its strings: the map's slot, the object. */
const ENTRY_BYTES = 200;
/** At most this many claims in flight are remembered (more than a gateway's queue and connections hold). */
const MAX_HELD = 100_000;
/** Written back this many at a time (pipelined on the one connection). */
const BATCH = 64;
/** While anything is kept, it is tried again this often (a Redis at its maxmemory stays up). */
const REDO_EVERY_MS = 1_000;

export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #connection: RedisConnection;
  readonly #logger: Logger;
  readonly #claim;
  readonly #complete;
  readonly #release;
  readonly #held = new Map<string, Held>();
  /** Oldest first (a Map keeps the order of insertion). */
  readonly #pending = new Map<string, Pending>();
  readonly #maxPendingBytes: number;
  #pendingBytes = 0;
  /** Oldest first. */
  readonly #recent = new Map<string, Recent>();
  readonly #maxRecentBytes: number;
  #recentBytes = 0;
  /** Redis lost its data or restarted: the recent answers are written again once it counts as up. */
  #rewriteRecent = false;
  #dropped = 0;
  /** A drop not yet logged since the last time everything kept was written back. */
  #dropLogged = false;
  #redoing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RedisIdempotencyOptions) {
    const { connection } = options;
    this.#connection = connection;
    this.#logger = options.logger;
    this.#maxPendingBytes = options.maxPendingBytes ?? MAX_PENDING_BYTES;
    this.#maxRecentBytes = options.maxRecentBytes ?? MAX_RECENT_BYTES;
    this.#claim = connection.script(CLAIM, 2);
    this.#complete = connection.script(COMPLETE);
    this.#release = connection.script(RELEASE);
    // After a loss or a restart, before Redis counts as up again: the claims in flight (the recent answers
    // follow once it is up); after any reconnection too (a no-op where the claims are there).
    const restarted = async () => {
      this.#rewriteRecent = true;
      await this.#reclaim();
      // Found while connected (a FLUSHALL): no reconnection follows to write the answers again.
      if (this.#connection.up) void this.#redo().then(() => this.#rewrite());
    };
    connection.onRestartedEmpty(restarted);
    connection.onRestartedWithData(restarted);
    connection.onChange((up) => {
      if (up)
        void this.#reclaim()
          .then(() => this.#redo())
          .then(() => this.#rewrite());
    });
  }

  async claim({ key, fingerprint, leaseMs, retentionMs }: ClaimRequest): Promise<Claim> {
    // An answer this replica knows and has not yet written back: replayed from here, even with Redis away.
    const known = this.#pending.get(key);
    if (known?.kind === 'complete' && known.fingerprint)
      return known.fingerprint === fingerprint
        ? { kind: 'done', answer: JSON.parse(known.answer) as StoredAnswer }
        : { kind: 'mismatch' };
    await this.#ready();
    const token = randomUUID();
    const lifetimeMs = Math.max(leaseMs, retentionMs);
    let reply: [string, string, string?];
    try {
      reply = (await this.#claim(
        this.#key(key),
        this.#marker(key),
        fingerprint,
        token,
        String(leaseMs),
        String(lifetimeMs),
        'claim',
        this.#markerSince(key),
      )) as typeof reply;
    } catch (error) {
      // A claim past its deadline may still be executed when Redis resumes: it is released then, so that a
      // retry is a new call (the caller was told nothing was sent).
      const failure = this.#failure(error);
      if (failure.reason === 'timed out') this.#keep(key, { kind: 'release', token, bytes: 0 });
      throw failure;
    }
    const [kind, value = '', epoch] = reply;
    switch (kind) {
      case 'claimed':
        // A key claimed where it was not: the window after a loss is over (as far as this replica knows). A
        // portal's marker is its own: it says nothing of the connection's.
        if (epoch && !this.#portalOf(key)) this.#connection.noteMarker(0, epoch);
        this.#hold(key, { fingerprint, token, leaseEnd: Date.now() + leaseMs, lifetimeMs });
        return { kind, token };
      case 'fenced': {
        const ms = Number(value);
        if (!this.#portalOf(key)) this.#connection.noteMarker(ms, epoch);
        throw new IdempotencyStoreUnavailable(
          'does not know this key, and Redis lost its data (restarted empty, flushed, or new) less than the longest lease ago: ' +
            'a retry cannot be told from a first call until that lease has passed',
          'refused',
          ms,
        );
      }
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
    const fingerprint = this.#held.get(key)?.token === token ? this.#held.get(key)!.fingerprint : '';
    this.#held.delete(key);
    const json = JSON.stringify(answer);
    let written: number;
    try {
      written = Number(await this.#complete(this.#key(key), token, json, String(retentionMs), fingerprint));
    } catch (error) {
      // Kept, and written back when Redis answers again (OOM included: a Redis restarted to cure it would
      // otherwise have forgotten the key).
      this.#keep(key, { kind: 'complete', token, answer: json, retentionMs, fingerprint, bytes: 0 });
      throw this.#failure(error);
    }
    if (written === -1) this.#lost();
    // Written (over its claim, or where the key was gone): kept in case Redis loses it. An answer already
    // there (0) may be another request's: not ours to write again.
    else if (written > 0) this.#remember(key, { token, fingerprint, answer: json, retentionMs });
  }

  async release(key: string, token: string): Promise<void> {
    this.#held.delete(key);
    try {
      await this.#release(this.#key(key), token);
    } catch (error) {
      this.#keep(key, { kind: 'release', token, bytes: 0 });
      throw this.#failure(error);
    }
  }

  /** What the metrics read. */
  state(): RedisKeysState {
    return {
      pending: this.#pending.size,
      pendingBytes: this.#pendingBytes,
      recent: this.#recent.size,
      dropped: this.#dropped,
      failClosed: this.#connection.up && this.#connection.failClosedMs > 0,
    };
  }

  /**
   * The connection is its owner's to close. What is still kept is tried once more (a command's deadline at
   * most); what Redis still did not take is logged: its keys stay claimed in Redis, so a retry gets "outcome
   * unknown" after the lease, unless Redis loses them too.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size > 0 && this.#connection.up) await this.#redo();
    const answers = [...this.#pending.values()].filter((write) => write.kind === 'complete').length;
    if (answers > 0)
      this.#logger.error(
        { answersNotWrittenBack: answers },
        `stopping with ${answers} answer(s) Redis did not take: their keys stay claimed (a retry gets "outcome unknown" after the lease, never a second send), unless Redis lost them too`,
      );
  }

  #key(key: string): string {
    const portal = this.#portalOf(key);
    return portal
      ? `${this.options.portalTag!(portal.memberId)}:idempotency:${portal.rest}`
      : `${this.options.prefix}:idempotency:${key}`;
  }

  /** The marker a claim of this key reads: its portal's (application mode), or the connection's. */
  #marker(key: string): string {
    const portal = this.#portalOf(key);
    return portal ? `${this.options.portalTag!(portal.memberId)}:marker` : this.options.markerKey;
  }

  /** What a portal's missing marker is written with: the connection's marker's since, when known. */
  #markerSince(key: string): string {
    const since = this.#portalOf(key) ? this.#connection.markerSince : undefined;
    return since === undefined ? '' : String(since);
  }

  /** The portal of a key scoped to one (`<member_id>/<hash>`), in application mode. */
  #portalOf(key: string): { memberId: string; rest: string } | undefined {
    if (!this.options.portalTag) return undefined;
    const slash = key.indexOf('/');
    return slash > 0 ? { memberId: key.slice(0, slash), rest: key.slice(slash + 1) } : undefined;
  }

  /**
   * Throws, at once, when Redis cannot be trusted with a key now: away (just started: waits no longer than a
   * command), or refused (an evicting policy, no append-only file).
   */
  async #ready(): Promise<void> {
    if (!(await this.#connection.ready()))
      throw new IdempotencyStoreUnavailable(
        `cannot be reached (Redis: ${this.#connection.cause})`,
        reasonOf(this.#connection.cause),
      );
    const refusal = this.#connection.refusal;
    if (refusal) throw new IdempotencyStoreUnavailable(`is refused: ${refusal}`, 'refused');
  }

  #failure(error: unknown): IdempotencyStoreUnavailable {
    if (error instanceof IdempotencyStoreUnavailable) return error;
    // Refused at once while Redis is away: its cause is the connection's.
    const cause = error instanceof RedisUnavailableError ? error.why : causeOf(error, false);
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

  /**
   * Keeps a write to do again, within MAX_PENDING_BYTES. Past it the new one is dropped, not an older one:
   * either way one key loses what this replica knew of it, and what was kept first has waited longest for
   * Redis. A dropped one's key stays claimed in Redis (a retry gets 409, then "outcome unknown" after the
   * lease: never sent); only if Redis also loses its data is it free, once the fail-closed window after the
   * loss has passed. Logged once until everything kept has been written back, and counted.
   */
  #keep(key: string, write: Pending): void {
    const bytes =
      ENTRY_BYTES +
      key.length +
      write.token.length +
      (write.kind === 'complete' ? write.answer.length + write.fingerprint.length : 0);
    const before = this.#pending.get(key);
    // An answer is never replaced by a release of the same key (a claim that timed out is older than it).
    if (before?.kind === 'complete' && write.kind === 'release') return;
    const room = this.#maxPendingBytes - this.#pendingBytes + (before?.bytes ?? 0);
    if (bytes > room) {
      this.#dropped += 1;
      if (!this.#dropLogged)
        this.#logger.error(
          { pending: this.#pending.size, pendingBytes: this.#pendingBytes },
          'too many answers wait to be written back to Redis: this one is not kept (its key stays claimed in Redis, so a retry is not sent, unless Redis also loses its data; counted in gateway_idempotency_write_backs_dropped_total)',
        );
      this.#dropLogged = true;
      return;
    }
    this.#pendingBytes += bytes - (before?.bytes ?? 0);
    this.#pending.set(key, { ...write, bytes });
    this.#timer ??= setInterval(() => {
      if (this.#connection.up) void this.#redo();
    }, REDO_EVERY_MS).unref();
  }

  #forget(key: string, write: Pending): void {
    if (this.#pending.get(key) !== write) return;
    this.#pending.delete(key);
    this.#pendingBytes -= write.bytes;
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#dropLogged = false;
    }
  }

  /**
   * Keeps an answer Redis took, newest last, within MAX_RECENT_BYTES (the oldest, and those whose retention
   * ended, go first). Without the fingerprint (a claim this replica no longer remembered) it could not be
   * written where the key is gone: not kept.
   */
  #remember(key: string, answer: Omit<Recent, 'expires' | 'bytes'>): void {
    if (!answer.fingerprint) return;
    const bytes = ENTRY_BYTES + key.length + answer.token.length + answer.fingerprint.length + answer.answer.length;
    if (bytes > this.#maxRecentBytes) return;
    this.#forgetRecent(key);
    const { token, fingerprint, retentionMs } = answer;
    this.#recent.set(key, {
      token,
      fingerprint,
      answer: answer.answer,
      retentionMs,
      expires: Date.now() + retentionMs,
      bytes,
    });
    this.#recentBytes += bytes;
    const now = Date.now();
    for (const [oldest, kept] of this.#recent) {
      if (this.#recentBytes <= this.#maxRecentBytes && kept.expires > now) break;
      this.#forgetRecent(oldest);
    }
  }

  #forgetRecent(key: string): void {
    const kept = this.#recent.get(key);
    if (!kept) return;
    this.#recent.delete(key);
    this.#recentBytes -= kept.bytes;
  }

  /**
   * After Redis lost its data or restarted: the recent answers written again, where their keys are gone
   * (never over another request's claim), with what is left of their retention. A batch at a time, within
   * the fail-closed window, before any other replica may claim their keys.
   */
  async #rewrite(): Promise<void> {
    if (!this.#rewriteRecent) return;
    this.#rewriteRecent = false;
    const now = Date.now();
    const answers = [...this.#recent].filter(([, kept]) => kept.expires > now);
    let written = 0;
    for (let i = 0; i < answers.length && this.#connection.up; i += BATCH) {
      const results = await Promise.allSettled(
        answers
          .slice(i, i + BATCH)
          .map(([key, kept]) =>
            this.#complete(
              this.#key(key),
              kept.token,
              kept.answer,
              String(Math.max(1, kept.expires - Date.now())),
              kept.fingerprint,
            ),
          ),
      );
      for (const result of results) {
        if (result.status === 'rejected') {
          // Redis went away again: done again at the next loss or restart it shows.
          this.#rewriteRecent = true;
          return;
        }
        if (Number(result.value) === 2) written += 1;
        else if (Number(result.value) === -1) this.#lost();
      }
    }
    if (written > 0)
      this.#logger.info(
        { answers: written },
        `wrote again ${written} answer(s) Redis had lost, so that a retry of one (a client that never got it) is replayed, never sent again`,
      );
  }

  /** Another request claimed the key before this replica's answer was written back. */
  #lost(): void {
    this.#logger.error(
      { lostKey: true },
      "another request claimed a key before this replica could write its call's answer back (this replica could not reach Redis for the whole fail-closed window after Redis lost its data): that call may be sent twice",
    );
  }

  /** Redis answers again: what it did not take is written back, oldest first, a batch at a time. */
  #redo(): Promise<void> {
    this.#redoing ??= this.#writeBack().finally(() => {
      this.#redoing = undefined;
    });
    return this.#redoing;
  }

  async #writeBack(): Promise<void> {
    let answers = 0;
    while (this.#pending.size > 0 && this.#connection.up) {
      const batch = [...this.#pending].slice(0, BATCH);
      const results = await Promise.allSettled(
        batch.map(([key, write]) =>
          write.kind === 'release'
            ? this.#release(this.#key(key), write.token)
            : this.#complete(this.#key(key), write.token, write.answer, String(write.retentionMs), write.fingerprint),
        ),
      );
      let failed = false;
      results.forEach((result, i) => {
        const [key, write] = batch[i]!;
        if (result.status === 'rejected') {
          failed = true;
          return;
        }
        if (write.kind === 'complete') {
          const written = Number(result.value);
          if (written === -1) this.#lost();
          else answers += 1;
          if (written > 0) {
            const { token, fingerprint, answer, retentionMs } = write;
            this.#remember(key, { token, fingerprint, answer, retentionMs });
          }
        }
        this.#forget(key, write);
      });
      if (failed) break;
    }
    if (answers > 0)
      this.#logger.info(
        { answers, pending: this.#pending.size },
        `wrote back ${answers} answer(s) Redis had not taken, so that their retries are replayed, never sent again`,
      );
  }

  /**
   * The claims of this replica's calls in flight, written again where Redis lost them (after a loss, or
   * after any reconnection: a no-op where they are there), so that a retry of one is still refused.
   */
  async #reclaim(): Promise<void> {
    const now = Date.now();
    const claims = [...this.#held];
    for (let i = 0; i < claims.length; i += BATCH)
      await Promise.all(
        claims
          .slice(i, i + BATCH)
          .map(([key, held]) =>
            this.#claim(
              this.#key(key),
              this.#marker(key),
              held.fingerprint,
              held.token,
              String(Math.max(1, held.leaseEnd - now)),
              String(held.lifetimeMs),
              'reclaim',
              '',
            ).catch(() => undefined),
          ),
      );
  }
}

function reasonOf(cause: RedisCause): StoreFailure {
  if (cause === 'timed out' || cause === 'out of memory') return cause;
  if (cause === 'failed' || cause === 'wrong type at a key') return 'failed';
  return 'unreachable';
}
