// Each portal its own limits and connections (application mode): a keep-alive pool to the portal's
// `client_endpoint`, its own leaky bucket and operating-time pauses, and the same shaped caller as a
// single-portal gateway's (src/rate-limit). Kept for the portals called lately only: past `maxPortals` the
// one idle longest is dropped (its state is a bucket that refills anyway, and a pool), so memory is bounded
// however many portals are installed. A portal whose calls are in flight is never dropped.
import type { Config } from '../config';
import {
  type Bucket,
  type Caller,
  type LimitStore,
  MemoryStore,
  OperatingPause,
  PortalLimiter,
  portalBucket,
  type ShapedAnswer,
  type ShapingEvents,
  shapedCaller,
} from '../rate-limit';
import { type UpstreamAnswer, UpstreamClient, type UpstreamParams } from '../upstream';

export type Outcome = { answer: UpstreamAnswer; error?: undefined } | { answer?: undefined; error: unknown };

export type PortalCall = (method: string, params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer>;

interface PortalCaller {
  endpoint: string;
  client: UpstreamClient;
  limiter: PortalLimiter;
  store: LimitStore;
  call: PortalCall;
  inFlight: number;
  /** Dropped from the map (an uninstall, a rename) while calls were in flight: closed once they end. */
  forgotten: boolean;
}

export interface PortalCallersOptions {
  config: Pick<
    Config,
    'rateLimit' | 'operatingPauseMs' | 'retry' | 'upstreamTimeoutMs' | 'upstreamConnections' | 'upstreamBodyLimitBytes'
  >;
  /** Called as a portal's call is sent; what it returns is called with its answer or failure (metrics). */
  observe?: (method: string) => (outcome: Outcome) => void;
  events?: ShapingEvents;
  /** How many portals' callers are kept at once (default 1,000). */
  maxPortals?: number;
  /** A portal's own bucket (its plan: BITRIX24_PORTAL_PLANS), or undefined for the configured one. */
  bucketOf?: (memberId: string) => { drainPerSecond: number; burst: number } | undefined;
  /** A portal's own queue bound (BITRIX24_PORTAL_QUEUES), or undefined for QUEUE_MAX_LENGTH. */
  queueOf?: (memberId: string) => number | undefined;
  /** Where a portal's limit lives: in this process (the default), or in Redis, shared by every replica. */
  limitOf?: (memberId: string, bucket: Bucket) => LimitStore;
}

export class PortalCallers {
  /** By member_id, in order of last use (a Map keeps insertion order: a use moves it to the end). */
  readonly #callers = new Map<string, PortalCaller>();
  readonly #options: PortalCallersOptions;
  readonly #maxPortals: number;

  constructor(options: PortalCallersOptions) {
    this.#options = options;
    this.#maxPortals = options.maxPortals ?? 1_000;
  }

  /** Calls `method` on the portal at `endpoint` (`https://<portal>/rest/`) within that portal's limits. */
  async call(memberId: string, endpoint: string, method: string, params: UpstreamParams, caller: Caller) {
    const portal = this.#callerOf(memberId, endpoint);
    portal.inFlight += 1;
    try {
      return await portal.call(method, params, caller);
    } finally {
      portal.inFlight -= 1;
      if (portal.forgotten && portal.inFlight === 0) void this.#close(portal);
    }
  }

  /** The calls waiting in every portal's queue. */
  get depth(): number {
    let depth = 0;
    for (const portal of this.#callers.values()) depth += portal.limiter.depth;
    return depth;
  }

  /** How many portals' callers are kept now. */
  get size(): number {
    return this.#callers.size;
  }

  /** Drops a portal's caller (an uninstall): its calls in flight finish on their own. */
  forget(memberId: string): void {
    const portal = this.#callers.get(memberId);
    if (!portal) return;
    this.#callers.delete(memberId);
    portal.forgotten = true;
    if (portal.inFlight === 0) void this.#close(portal);
  }

  /** Waiting calls are refused (503, never sent); calls in flight fail as timed out. */
  abort(): void {
    for (const portal of this.#callers.values()) {
      portal.limiter.close();
      portal.client.abort();
    }
  }

  async close(): Promise<void> {
    const portals = [...this.#callers.values()];
    this.#callers.clear();
    await Promise.all(portals.map((portal) => this.#close(portal)));
  }

  #callerOf(memberId: string, endpoint: string): PortalCaller {
    let portal = this.#callers.get(memberId);
    if (portal && portal.endpoint !== endpoint) {
      // The portal was renamed: a new pool to its new address; the old one closes once its calls are done.
      this.forget(memberId);
      portal = undefined;
    }
    if (portal) {
      this.#callers.delete(memberId);
      this.#callers.set(memberId, portal);
      return portal;
    }
    portal = this.#create(memberId, endpoint);
    this.#callers.set(memberId, portal);
    this.#evict();
    return portal;
  }

  #create(memberId: string, endpoint: string): PortalCaller {
    const { config, observe, events } = this.#options;
    const { maxQueuePerTeam: teamDefault, maxWaitMs, shaping } = config.rateLimit;
    const own = this.#options.queueOf?.(memberId);
    const maxQueue = own ?? config.rateLimit.maxQueue;
    // A team's share of a portal's own bound is its share of the default one.
    const maxQueuePerTeam =
      own === undefined || teamDefault === undefined || config.rateLimit.maxQueue === 0
        ? teamDefault
        : Math.max(1, Math.ceil((teamDefault * own) / config.rateLimit.maxQueue));
    const { drainPerSecond, burst } = this.#options.bucketOf?.(memberId) ?? config.rateLimit;
    const bucket = portalBucket(drainPerSecond, burst);
    const store = this.#options.limitOf?.(memberId, bucket) ?? new MemoryStore(bucket);
    const limiter = new PortalLimiter(store, {
      maxQueue,
      maxWaitMs,
      ...(maxQueuePerTeam !== undefined && { maxQueuePerTeam }),
      ...(shaping !== undefined && { shaping }),
    });
    const client = new UpstreamClient({
      base: new URL(endpoint),
      mode: 'oauth',
      timeoutMs: config.upstreamTimeoutMs,
      // As many as a single portal's gateway has (UPSTREAM_CONNECTIONS): a portal's burst (50 calls at once)
      // goes as fast as one portal's; a pool opens connections only as calls need them, and closes idle ones.
      connections: config.upstreamConnections,
      maxBodyBytes: config.upstreamBodyLimitBytes,
    });
    const call = shapedCaller({
      limiter,
      store,
      pause: new OperatingPause(config.operatingPauseMs),
      call: async (method, params, headers) => {
        const observed = observe?.(method);
        try {
          const answer = await client.call(method, params, headers);
          observed?.({ answer });
          return answer;
        } catch (error) {
          observed?.({ error });
          throw error;
        }
      },
      retryDeadlineMs: config.retry.deadlineMs,
      retryBaseDelayMs: config.retry.baseDelayMs,
      ...(events && { events }),
    });
    return { endpoint, client, limiter, store, call, inFlight: 0, forgotten: false };
  }

  /** Drops the portals idle longest while more than `maxPortals` are kept (never one with calls in flight). */
  #evict(): void {
    if (this.#callers.size <= this.#maxPortals) return;
    for (const [memberId, portal] of this.#callers) {
      if (this.#callers.size <= this.#maxPortals) return;
      if (portal.inFlight > 0) continue;
      this.#callers.delete(memberId);
      void this.#close(portal);
    }
  }

  async #close(portal: PortalCaller): Promise<void> {
    portal.limiter.close();
    await Promise.all([portal.client.close(), portal.store.close()]);
  }
}
