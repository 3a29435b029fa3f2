import { LeakyBucket } from './leaky-bucket';
import { RateLimitRejection } from './rejection';

export interface LimiterOptions {
  drainPerSecond: number;
  burst: number;
  /** Requests that may wait at once; one more is refused at once. */
  maxQueue: number;
  /** Longest wait; a request that would wait longer is refused at once, or when its wait runs out. */
  maxWaitMs: number;
  /**
   * False: every request goes at once, nothing queues (RATE_LIMIT_SHAPING=off, when another layer limits the
   * rate, or for a benchmark against an emulator without limits). Default true.
   */
  shaping?: boolean;
  /** Timing slack kept below the portal's burst (see the constructor); default 0.25 s. */
  headroomSeconds?: number;
  now?: () => number;
}

interface Waiter {
  enqueuedAt: number;
  release: (waitedMs: number) => void;
  reject: (error: RateLimitRejection) => void;
  timer: NodeJS.Timeout;
}

/**
 * One leaky bucket per portal in front of Bitrix24, shared by every caller. Waiting requests are released
 * at the bucket's rate, round-robin between teams and first come first served within a team, so one
 * team's burst cannot starve the others.
 */
export class PortalLimiter {
  readonly #bucket: LeakyBucket;
  readonly #queues = new Map<string, Waiter[]>();
  readonly #now: () => number;
  #queued = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly options: LimiterOptions) {
    this.#now = options.now ?? Date.now;
    // Headroom: Bitrix24's bucket counts a request when it arrives, a little after the gateway lets it go,
    // and unevenly so (a new connection takes longer than a kept-alive one). That jitter is time, so the
    // headroom is the requests that drain in `headroomSeconds`, at least one: one request at the standard
    // 2 a second (half a second of slack), five at 20 a second.
    const headroom = Math.max(1, options.drainPerSecond * (options.headroomSeconds ?? 0.25));
    this.#bucket = new LeakyBucket(options.drainPerSecond, Math.max(1, options.burst - headroom), this.#now);
  }

  /** Requests waiting now. */
  get depth(): number {
    return this.#queued;
  }

  /** Resolves (with the milliseconds waited) when the request may go to Bitrix24. */
  acquire(team: string): Promise<number> {
    if (this.#closed) return Promise.reject(rejection('shutting-down', 1));
    if (this.options.shaping === false) return Promise.resolve(0);
    if (this.#queued === 0 && this.#bucket.msUntilRoomFor(1) === 0) {
      this.#bucket.add();
      return Promise.resolve(0);
    }
    if (this.#queued >= this.options.maxQueue) {
      return Promise.reject(rejection('queue-full', this.#retryAfter(this.#queued + 1)));
    }
    if (this.#bucket.msUntilRoomFor(this.#queued + 1) > this.options.maxWaitMs) {
      return Promise.reject(rejection('wait-too-long', this.#retryAfter(this.#queued + 1)));
    }
    return new Promise((release, reject) => {
      const queue = this.#queues.get(team) ?? [];
      const waiter: Waiter = {
        enqueuedAt: this.#now(),
        release,
        reject,
        timer: setTimeout(() => this.#expire(team, waiter), this.options.maxWaitMs),
      };
      queue.push(waiter);
      this.#queues.set(team, queue);
      this.#queued += 1;
      this.#schedule();
    });
  }

  /** Bitrix24 answered QUERY_LIMIT_EXCEEDED: its bucket is full whatever ours says. */
  upstreamFull(): void {
    this.#bucket.fill();
  }

  /** Seconds until a request arriving now would be let through. */
  retryAfterSeconds(): number {
    return this.#retryAfter(this.#queued + 1);
  }

  #retryAfter(count: number): number {
    return Math.max(1, Math.ceil(this.#bucket.msUntilRoomFor(count) / 1000));
  }

  #schedule(): void {
    if (this.#timer || this.#queued === 0) return;
    const wait = this.#bucket.msUntilRoomFor(1);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#releaseReady();
    }, wait);
  }

  #releaseReady(): void {
    while (this.#queued > 0 && this.#bucket.msUntilRoomFor(1) === 0) {
      const [team, queue] = this.#queues.entries().next().value as [string, Waiter[]];
      const waiter = queue.shift()!;
      // The team goes to the back of the round.
      this.#queues.delete(team);
      if (queue.length > 0) this.#queues.set(team, queue);
      this.#queued -= 1;
      clearTimeout(waiter.timer);
      this.#bucket.add();
      waiter.release(this.#now() - waiter.enqueuedAt);
    }
    this.#schedule();
  }

  #expire(team: string, waiter: Waiter): void {
    const queue = this.#queues.get(team);
    const index = queue?.indexOf(waiter) ?? -1;
    if (!queue || index < 0) return;
    queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(team);
    this.#queued -= 1;
    waiter.reject(rejection('wait-too-long', this.#retryAfter(this.#queued + 1)));
  }

  /** Refuses everything waiting, and everything after (at shutdown), and stops the timer. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const queue of this.#queues.values()) {
      for (const waiter of queue) {
        clearTimeout(waiter.timer);
        waiter.reject(rejection('shutting-down', 1));
      }
    }
    this.#queues.clear();
    this.#queued = 0;
  }
}

const rejection = (reason: 'queue-full' | 'wait-too-long' | 'shutting-down', retryAfterSeconds: number) =>
  new RateLimitRejection('QUERY_LIMIT_EXCEEDED', reason, retryAfterSeconds);
