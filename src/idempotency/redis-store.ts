// Idempotency keys in the Redis of the shared rate limit, so that a retry landing on another replica is
// recognised: the claim is an atomic set-if-absent with expiry, the answer is stored by a compare-and-set on
// the claimer's token, on Redis's own clock (replicas' clocks may differ).
import { randomUUID } from 'node:crypto';
import { createClient, defineScript } from 'redis';
import { redisClientOptions } from '../redis';
import type { Claim, ClaimRequest, IdempotencyStore, StoredAnswer } from './store';

// KEYS[1]: the key. ARGV: fingerprint, token, leaseMs, retentionMs. The entry is a JSON object: f
// (fingerprint), t (token), l (lease end, unix ms) while in flight; a (the answer) once done.
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

const scripts = {
  claim: defineScript({
    SCRIPT: CLAIM,
    NUMBER_OF_KEYS: 1,
    parseCommand: (parser, key: string, ...args: string[]) => {
      parser.pushKey(key);
      for (const arg of args) parser.push(arg);
    },
    transformReply: (reply: unknown) => reply as [string, string],
  }),
  complete: defineScript({
    SCRIPT: COMPLETE,
    NUMBER_OF_KEYS: 1,
    parseCommand: (parser, key: string, ...args: string[]) => {
      parser.pushKey(key);
      for (const arg of args) parser.push(arg);
    },
    transformReply: (reply: unknown) => reply as number,
  }),
  release: defineScript({
    SCRIPT: RELEASE,
    NUMBER_OF_KEYS: 1,
    parseCommand: (parser, key: string, token: string) => {
      parser.pushKey(key);
      parser.push(token);
    },
    transformReply: (reply: unknown) => reply as number,
  }),
};

export interface RedisIdempotencyOptions {
  url: string;
  /** Prepended to every key: `<prefix>:idempotency:<scoped key>`. */
  prefix: string;
  commandTimeoutMs: number;
}

export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #client;
  readonly #connected: Promise<unknown>;

  constructor(private readonly options: RedisIdempotencyOptions) {
    this.#client = createClient({ ...redisClientOptions(options.url, options.commandTimeoutMs), scripts });
    // Errors surface on each command; the client reconnects on its own.
    this.#client.on('error', () => {});
    this.#connected = this.#client.connect().catch(() => undefined);
  }

  async claim({ key, fingerprint, leaseMs, retentionMs }: ClaimRequest): Promise<Claim> {
    const token = randomUUID();
    const [kind, value = ''] = await this.#run(() =>
      this.#client.claim(this.#key(key), fingerprint, token, String(leaseMs), String(retentionMs)),
    );
    switch (kind) {
      case 'claimed':
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
    await this.#run(() => this.#client.complete(this.#key(key), token, JSON.stringify(answer), String(retentionMs)));
  }

  async release(key: string, token: string): Promise<void> {
    await this.#run(() => this.#client.release(this.#key(key), token));
  }

  async close(): Promise<void> {
    if (this.#client.isReady) await this.#client.quit().catch(() => this.#client.destroy());
    else if (this.#client.isOpen) this.#client.destroy();
  }

  #key(key: string): string {
    return `${this.options.prefix}:idempotency:${key}`;
  }

  /** A command; it fails when Redis is not connected or does not answer within the command timeout. */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    if (!this.#client.isReady) {
      // Just started, or reconnecting: wait for the connection no longer than for a command.
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise((resolve) => {
        timer = setTimeout(resolve, this.options.commandTimeoutMs);
      });
      await Promise.race([this.#connected, waited]);
      clearTimeout(timer);
      if (!this.#client.isReady) throw new Error('Redis is not connected');
    }
    return command();
  }
}
