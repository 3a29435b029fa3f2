export { type Bucket, bucketOf, portalBucket } from './gcra';
export { MemoryStore } from './memory-store';
export { OperatingPause } from './operating-pause';
export { type LimiterOptions, PortalLimiter } from './portal-limiter';
// RedisStore (./redis-store) is not re-exported: it loads the Redis client, imported only when REDIS_URL is set.
export { RateLimitRejection } from './rejection';
export {
  type Caller,
  type ShapedAnswer,
  type ShapedCallerOptions,
  type ShapingEvents,
  shapedCaller,
} from './shaped-caller';
export type { LimitStore, Slot, SlotRequest } from './store';

/** How a gateway holds the portal's limits: in this process only, shared through Redis, or degraded (Redis away). */
export type LimiterState = 'in-process' | 'shared' | 'degraded';
