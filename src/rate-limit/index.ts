export { LeakyBucket } from './leaky-bucket';
export { OperatingPause } from './operating-pause';
export { type LimiterOptions, PortalLimiter } from './portal-limiter';
export { RateLimitRejection } from './rejection';
export {
  type Caller,
  type ShapedAnswer,
  type ShapedCallerOptions,
  type ShapingEvents,
  shapedCaller,
} from './shaped-caller';
