// Where the portal's limits live: the request-rate bucket (per portal) and the operating-time pause (per
// portal and method). In process by default (memory-store.ts); in Redis when replicas share them
// (redis-store.ts). The fair queue (portal-limiter.ts) stays in process either way and talks to one of these.

/** What a store answers when a request asks for a slot. */
export type Slot =
  /** The method is paused (OPERATION_TIME_LIMIT) for this long: no slot was reserved. */
  | { kind: 'paused'; ms: number }
  /** A slot is reserved: send after this many milliseconds (0: now). */
  | { kind: 'reserved'; waitMs: number }
  /** The slot would come after this many milliseconds, more than the request may wait: nothing reserved. */
  | { kind: 'too-long'; waitMs: number };

export interface SlotRequest {
  /** The Bitrix24 method: its operating-time pause is read in the same step. */
  method: string;
  /** The longest the request may wait for its slot; 0: only a slot free now. */
  maxWaitMs: number;
  /** Requests queued ahead of this one (for an estimate, with `dryRun`). */
  ahead?: number;
  /** Only say what the wait would be; reserve nothing. */
  dryRun?: boolean;
}

export interface LimitStore {
  /** A slot in the portal's bucket, unless the method is paused or the wait is too long. */
  slot(request: SlotRequest): Promise<Slot>;
  /** Bitrix24 answered QUERY_LIMIT_EXCEEDED: its bucket is full, whatever this one says. */
  backOff(): Promise<void>;
  /** Bitrix24 answered OPERATION_TIME_LIMIT: the method is paused until `untilMs` (unix ms) for every replica. */
  pause(method: string, untilMs: number): Promise<void>;
  /** Stops timers and connections. */
  close(): Promise<void>;
}
