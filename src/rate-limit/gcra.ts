// The portal's bucket as GCRA ("reserve a slot"): one number per portal, the theoretical arrival time (TAT)
// at which the bucket would be empty. The same arithmetic runs in process (memory-store.ts) and as a Lua
// script in Redis (redis-store.ts); gcra.test.ts holds the two to the same answers. Integers of
// microseconds throughout, because Redis truncates Lua's numbers to integers.

export interface Bucket {
  /** Microseconds between two requests at the steady rate: 1e6 / requests a second. */
  intervalUs: number;
  /** Requests that may go at once (the portal's burst, less the gateway's headroom); at least 1. */
  burst: number;
}

export interface ReserveRequest {
  /** Refuse (and reserve nothing) when the slot would come later than this; 0: only a slot free now. */
  maxWaitUs: number;
  /** Slots already promised to requests ahead of this one (the local queue), for an estimate. */
  ahead?: number;
  /** Only say what the wait would be; reserve nothing. */
  dryRun?: boolean;
}

export type Reserved = { reserved: boolean; waitUs: number; tatUs: number };

/** A slot for one request at `nowUs`, or how long it would wait when that is more than allowed. */
export function reserve(tatUs: number, nowUs: number, bucket: Bucket, request: ReserveRequest): Reserved {
  const tat = Math.max(tatUs, nowUs) + (request.ahead ?? 0) * bucket.intervalUs;
  const send = Math.max(nowUs, tat - (bucket.burst - 1) * bucket.intervalUs);
  const waitUs = send - nowUs;
  if (waitUs > request.maxWaitUs || request.dryRun) return { reserved: false, waitUs, tatUs };
  return { reserved: true, waitUs, tatUs: tat + bucket.intervalUs };
}

/** Bitrix24 said its bucket is full (other applications share it): the next slot is one interval away. */
export function backOff(tatUs: number, nowUs: number, bucket: Bucket): number {
  return Math.max(tatUs, nowUs + bucket.burst * bucket.intervalUs);
}

/** A bucket of `drainPerSecond` and `burst`, less `headroom` requests kept as slack. */
export function bucketOf(drainPerSecond: number, burst: number, headroom = 0): Bucket {
  return { intervalUs: Math.round(1e6 / drainPerSecond), burst: Math.max(1, Math.floor(burst - headroom)) };
}

/**
 * The bucket the gateway shapes its calls to: the portal's, less headroom. Bitrix24's bucket counts a
 * request when it arrives, a little after the gateway lets it go, and unevenly so (a new connection takes
 * longer than a kept-alive one). That jitter is time, so the headroom is the requests that drain in
 * `headroomSeconds`, at least one: one request at the standard 2 a second (half a second of slack), five at
 * 20 a second.
 */
export function portalBucket(drainPerSecond: number, burst: number, headroomSeconds = 0.25): Bucket {
  return bucketOf(drainPerSecond, burst, Math.max(1, drainPerSecond * headroomSeconds));
}
