// Application mode across replicas (issue 34): the portals in the gateway's Redis, shared by every replica
// over its one connection (src/redis). Loaded only with REDIS_URL. What it adds to the Redis portal store:
// - every failure to reach Redis is PortalStoreUnavailable (503 PORTAL_STORE_UNAVAILABLE, nothing sent,
//   nothing renewed), never a guess from what this replica saw last;
// - each portal's own limit (its bucket and operating-time pauses) in Redis, beside its record: one hash
//   tag per portal, so that every script touches one slot of a Redis Cluster;
// - when Redis comes back empty, the portals this replica knew are named in the log and counted: their
//   tokens are gone with it, and each needs a re-install.
import type { Logger } from '../logger';
import type { Bucket, LimitStore } from '../rate-limit';
import { RedisStore } from '../rate-limit/redis-store';
import { causeOf, causeWords, type RedisConnection, RedisUnavailableError } from '../redis';
import { portalTag } from './redis-portal-scripts';
import { RedisPortalStore } from './redis-portal-store';
import { PortalStoreFull } from './sqlite-portal-store';
import {
  type PortalRecord,
  type PortalState,
  type PortalStore,
  PortalStoreUnavailable,
  type PortalSummary,
  type PortalTokens,
  type RefreshLeases,
} from './types';
import { type TokenVault, VaultError } from './vault';

export interface SharedPortalsOptions {
  connection: RedisConnection;
  vault: TokenVault;
  /** REDIS_KEY_PREFIX. */
  prefix: string;
  /** GATEWAY_REPLICAS: each takes 1/replicas of a portal's bucket while Redis is away. */
  replicas: number;
  /** RATE_LIMIT_SCOPE=shared: one bucket per portal for every replica (one egress address). */
  sharedBucket: boolean;
  logger: Logger;
  /** Redis came back empty: `count` portals this replica knew are lost (for a metric). */
  onLost?: (count: number) => void;
}

/** The member_ids a replica remembers, to say which portals an emptied Redis lost. */
const MAX_KNOWN = 100_000;
/** The member_ids the log line names (the count says how many more). */
const NAMED_IN_LOG = 100;

export interface SharedPortals {
  store: PortalStore & RefreshLeases & { rewrap(): Promise<number> };
  /** A portal's limit in Redis, under its hash tag. */
  limitOf(memberId: string, bucket: Bucket): LimitStore;
  /** The portal's hash tag (`{<prefix>:portal:<member_id>}`): its idempotency keys and marker live under it. */
  tagOf(memberId: string): string;
  /** Why the store cannot be used now (Redis away), or undefined. */
  problem(): string | undefined;
}

export function sharedPortals(options: SharedPortalsOptions): SharedPortals {
  const { connection, logger } = options;
  const inner = new RedisPortalStore({ connection, vault: options.vault, prefix: options.prefix });
  const store = new GuardedPortals(inner);
  const tagOf = (memberId: string) => portalTag(options.prefix, memberId);
  connection.onRestartedEmpty(async () => {
    const lost = store.forgetKnown();
    if (lost.length === 0) return;
    logger.error(
      { portalsLost: lost.length, memberIds: lost.slice(0, NAMED_IN_LOG) },
      `Redis lost its data: the application's portals went with it, tokens and all. ${lost.length} portal(s) this replica knew need the application installed again (each install restores one)${lost.length > NAMED_IN_LOG ? `; the first ${NAMED_IN_LOG} are named` : ''}`,
    );
    options.onLost?.(lost.length);
  });
  // A portal's limit logs only what needs a person: one line per portal reached would be thousands.
  const quiet = logger.child({}, { level: 'warn' });
  return {
    store,
    tagOf,
    limitOf: (memberId, bucket) => {
      const limit = new RedisStore({
        connection,
        key: `${tagOf(memberId)}:limit`,
        bucket,
        replicas: options.replicas,
        sharedBucket: options.sharedBucket,
        logger: quiet,
        // Made for the call that needs it: that call's slot is the shared bucket's (no probe before it).
        shareAtOnce: true,
      });
      limit.start();
      return limit;
    },
    problem: () => (connection.up ? undefined : causeWords[connection.cause]),
  };
}

/** The Redis portal store, its failures to reach Redis made PortalStoreUnavailable, and the portals it saw remembered. */
class GuardedPortals implements PortalStore, RefreshLeases {
  readonly #known = new Set<string>();

  constructor(private readonly inner: RedisPortalStore) {}

  /** The member_ids seen since the last loss, forgotten now (Redis lost them). */
  forgetKnown(): string[] {
    const known = [...this.#known];
    this.#known.clear();
    return known;
  }

  async get(memberId: string): Promise<PortalRecord | undefined> {
    return this.#seen(await this.#guard(() => this.inner.get(memberId)));
  }

  async getByDomain(domain: string): Promise<PortalRecord | undefined> {
    return this.#seen(await this.#guard(() => this.inner.getByDomain(domain)));
  }

  async list(): Promise<PortalSummary[]> {
    const portals = await this.#guard(() => this.inner.list());
    for (const portal of portals) this.#know(portal.memberId);
    return portals;
  }

  async put(record: PortalRecord): Promise<void> {
    await this.#guard(() => this.inner.put(record));
    this.#know(record.memberId);
  }

  replaceTokens(memberId: string, spent: string, tokens: PortalTokens, clientEndpoint: string): Promise<boolean> {
    return this.#guard(() => this.inner.replaceTokens(memberId, spent, tokens, clientEndpoint));
  }

  markLost(memberId: string, spent: string, reason: string): Promise<boolean> {
    return this.#guard(() => this.inner.markLost(memberId, spent, reason));
  }

  setState(memberId: string, state: PortalState, details?: { reason?: string; botId?: number }): Promise<boolean> {
    return this.#guard(() => this.inner.setState(memberId, state, details));
  }

  setApplicationToken(memberId: string, applicationToken: string): Promise<boolean> {
    return this.#guard(() => this.inner.setApplicationToken(memberId, applicationToken));
  }

  async delete(memberId: string): Promise<boolean> {
    const deleted = await this.#guard(() => this.inner.delete(memberId));
    this.#known.delete(memberId);
    return deleted;
  }

  acquire(memberId: string, ms: number): Promise<string | undefined> {
    return this.#guard(() => this.inner.acquire(memberId, ms));
  }

  release(memberId: string, token: string): Promise<void> {
    return this.#guard(() => this.inner.release(memberId, token));
  }

  held(memberId: string): Promise<boolean> {
    return this.#guard(() => this.inner.held(memberId));
  }

  rewrap(): Promise<number> {
    return this.#guard(() => this.inner.rewrap());
  }

  #seen(record: PortalRecord | undefined): PortalRecord | undefined {
    if (record) this.#know(record.memberId);
    return record;
  }

  #know(memberId: string): void {
    if (this.#known.has(memberId)) return;
    if (this.#known.size >= MAX_KNOWN) this.#known.delete(this.#known.values().next().value!);
    this.#known.add(memberId);
  }

  /** A store failure that is Redis's (away, stalled, refusing) is PortalStoreUnavailable; a bound's is itself. */
  async #guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (
        error instanceof PortalStoreFull ||
        error instanceof VaultError ||
        error instanceof TypeError ||
        error instanceof RangeError
      )
        throw error;
      const cause = error instanceof RedisUnavailableError ? error.why : causeOf(error, false);
      throw new PortalStoreUnavailable(`Redis: ${cause}`);
    }
  }
}
