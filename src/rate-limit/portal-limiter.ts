import { RateLimitRejection } from './rejection';
import type { LimitStore, Slot } from './store';

export interface LimiterOptions {
  /** Requests that may wait at once; one more is refused at once. */
  maxQueue: number;
  /**
   * Requests one team may have waiting at once, so that a team that floods the gateway is refused before
   * the others are; default: all of `maxQueue`.
   */
  maxQueuePerTeam?: number;
  /** Longest wait; a request that would wait longer is refused at once, or when its wait runs out. */
  maxWaitMs: number;
  /**
   * False: every request goes at once, nothing queues (RATE_LIMIT_SHAPING=off, when another layer limits the
   * rate, or for a benchmark against an emulator without limits). Default true.
   */
  shaping?: boolean;
  now?: () => number;
}

interface Waiter {
  team: string;
  /** The Bitrix24 method it calls: its operating-time pause is read with its slot. */
  method: string;
  enqueuedAt: number;
  release: (waitedMs: number) => void;
  reject: (error: RateLimitRejection) => void;
  timer: NodeJS.Timeout;
}

/**
 * The fair, bounded queue in front of the portal's bucket (a LimitStore: in process, or shared through
 * Redis). Waiting requests take their slots one at a time, round-robin between teams and first come first
 * served within a team, so one team's burst cannot starve the others. A request that finds no one waiting
 * and a slot free goes at once.
 */
export class PortalLimiter {
  readonly #queues = new Map<string, Waiter[]>();
  readonly #now: () => number;
  readonly #perTeam: number;
  #queued = 0;
  /** Requests past the first step but not yet queued (their estimates are in flight): counted as ahead. */
  #admitting = 0;
  /** The team served last: the next turn goes to another team when one is waiting. */
  #lastServed: string | undefined;
  #pumping = false;
  #closed = false;
  /** The waiter whose slot the pump is waiting for, and how to wake it early (at shutdown). */
  #sleeping: { waiter: Waiter; timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(
    private readonly store: LimitStore,
    private readonly options: LimiterOptions,
  ) {
    this.#now = options.now ?? Date.now;
    this.#perTeam = Math.max(1, Math.min(options.maxQueuePerTeam ?? options.maxQueue, options.maxQueue));
  }

  /** Requests waiting now, the one whose slot the queue is waiting for included. */
  get depth(): number {
    return this.#queued + (this.#sleeping ? 1 : 0);
  }

  /**
   * Resolves (with the milliseconds waited) when `team`'s call of `method` may go to Bitrix24: the bucket is
   * the portal's, shared by every method; the operating-time pause is the method's own.
   */
  async acquire(team: string, method: string): Promise<number> {
    if (this.#closed) throw rejection('shutting-down', 1);
    if (this.options.shaping === false) return 0;
    if (this.#queued === 0) {
      const now = await this.store.slot({ method, maxWaitMs: 0 });
      if (this.#closed) throw rejection('shutting-down', 1);
      if (now.kind === 'paused') throw paused(now.ms);
      if (now.kind === 'reserved') return 0;
    }
    // The wait the bucket answers for a request behind everyone queued here: with a shared bucket it
    // counts the other replicas' requests too.
    const ahead = this.#queued + this.#admitting;
    this.#admitting += 1;
    let estimate: Slot;
    try {
      estimate = await this.store.slot({ method, maxWaitMs: this.options.maxWaitMs, ahead, dryRun: true });
    } finally {
      this.#admitting -= 1;
    }
    if (this.#closed) throw rejection('shutting-down', 1);
    if (estimate.kind === 'paused') throw paused(estimate.ms);
    const retryAfter = seconds(estimate.waitMs);
    if (this.depth >= this.options.maxQueue || this.#waitingOf(team) >= this.#perTeam)
      throw rejection('queue-full', retryAfter);
    if (estimate.kind === 'too-long') throw rejection('wait-too-long', retryAfter);
    return new Promise((release, reject) => {
      const waiter: Waiter = {
        team,
        method,
        enqueuedAt: this.#now(),
        release,
        reject,
        timer: setTimeout(() => this.#expire(waiter), this.options.maxWaitMs),
      };
      this.#queues.set(team, [...(this.#queues.get(team) ?? []), waiter]);
      this.#queued += 1;
      void this.#pump();
    });
  }

  /** Seconds until a call of `method` arriving now would be let through (for Retry-After). */
  async retryAfterSeconds(method: string): Promise<number> {
    const estimate = await this.store.slot({
      method,
      maxWaitMs: Number.MAX_SAFE_INTEGER,
      ahead: this.#queued,
      dryRun: true,
    });
    return seconds(estimate.kind === 'paused' ? estimate.ms : estimate.waitMs);
  }

  /** Takes a slot for each waiter in turn, sleeps until it, and lets the waiter go. One pump at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queued > 0 && !this.#closed) {
        const waiter = this.#next();
        const budget = Math.max(0, this.options.maxWaitMs - (this.#now() - waiter.enqueuedAt));
        const slot = await this.store.slot({ method: waiter.method, maxWaitMs: budget });
        if (slot.kind === 'reserved' && slot.waitMs > 0) await this.#sleep(waiter, slot.waitMs);
        clearTimeout(waiter.timer);
        if (this.#closed) waiter.reject(rejection('shutting-down', 1));
        else if (slot.kind === 'paused') waiter.reject(paused(slot.ms));
        else if (slot.kind === 'too-long') waiter.reject(rejection('wait-too-long', seconds(slot.waitMs)));
        else waiter.release(this.#now() - waiter.enqueuedAt);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** The head of the next team in the round; the team goes to the back of the round. */
  #next(): Waiter {
    let next: [string, Waiter[]] | undefined;
    for (const entry of this.#queues) {
      next ??= entry;
      if (entry[0] !== this.#lastServed) {
        next = entry;
        break;
      }
    }
    const [team, queue] = next!;
    const waiter = queue.shift()!;
    this.#queues.delete(team);
    if (queue.length > 0) this.#queues.set(team, queue);
    this.#queued -= 1;
    this.#lastServed = team;
    return waiter;
  }

  #waitingOf(team: string): number {
    return (this.#queues.get(team)?.length ?? 0) + (this.#sleeping?.waiter.team === team ? 1 : 0);
  }

  #sleep(waiter: Waiter, ms: number): Promise<void> {
    return new Promise((wake) => {
      const timer = setTimeout(() => {
        this.#sleeping = undefined;
        wake();
      }, ms);
      this.#sleeping = { waiter, timer, wake };
    });
  }

  #expire(waiter: Waiter): void {
    const queue = this.#queues.get(waiter.team);
    const index = queue?.indexOf(waiter) ?? -1;
    if (!queue || index < 0) return;
    queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(waiter.team);
    this.#queued -= 1;
    waiter.reject(rejection('wait-too-long', 1));
  }

  /** Refuses everything waiting, and everything after (at shutdown). */
  close(): void {
    this.#closed = true;
    if (this.#sleeping) {
      clearTimeout(this.#sleeping.timer);
      this.#sleeping.wake();
      this.#sleeping = undefined;
    }
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

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

const rejection = (reason: 'queue-full' | 'wait-too-long' | 'shutting-down', retryAfterSeconds: number) =>
  new RateLimitRejection('QUERY_LIMIT_EXCEEDED', reason, retryAfterSeconds);

const paused = (ms: number) => new RateLimitRejection('OPERATION_TIME_LIMIT', 'operating-time', seconds(ms));
