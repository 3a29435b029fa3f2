// The portals of one process (the data folder's store), read from memory: every write goes through this
// process (the folder is locked to it), so a record read once stays true until this process writes it, and
// each write forgets it. A call then reads no row and opens no sealed token (the two reads of a call, its
// portal step's and its token's, were a fifth of its CPU). Bounded: the records read last, at most
// `maxRecords`; the others are read again. Not for Redis, where other replicas write.
import type { PortalRecord, PortalState, PortalStore, PortalSummary, PortalTokens } from './types';

export interface CachedPortalsOptions {
  /** How many records are kept at most (1,000 unless told: as many as the portals' callers kept). */
  maxRecords?: number;
}

export class CachedPortals<S extends PortalStore> implements PortalStore {
  /** By member_id, in order of last use (a Map keeps insertion order: a read moves it to the end). */
  readonly #records = new Map<string, PortalRecord>();
  readonly #max: number;
  /** Bumped by every write: a read that began before a write does not keep what it read. */
  #writes = 0;

  constructor(
    readonly inner: S,
    options: CachedPortalsOptions = {},
  ) {
    this.#max = options.maxRecords ?? 1_000;
  }

  async get(memberId: string): Promise<PortalRecord | undefined> {
    const held = this.#records.get(memberId);
    if (held) {
      this.#records.delete(memberId);
      this.#records.set(memberId, held);
      return held;
    }
    const writes = this.#writes;
    const record = await this.inner.get(memberId);
    if (record && writes === this.#writes) this.#keep(record);
    return record;
  }

  getByDomain(domain: string): Promise<PortalRecord | undefined> {
    return this.inner.getByDomain(domain);
  }

  list(): Promise<PortalSummary[]> {
    return this.inner.list();
  }

  put(record: PortalRecord): Promise<void> {
    return this.#writing(record.memberId, () => this.inner.put(record));
  }

  replaceTokens(memberId: string, spent: string, tokens: PortalTokens, clientEndpoint: string): Promise<boolean> {
    return this.#writing(memberId, () => this.inner.replaceTokens(memberId, spent, tokens, clientEndpoint));
  }

  markLost(memberId: string, spent: string, reason: string): Promise<boolean> {
    return this.#writing(memberId, () => this.inner.markLost(memberId, spent, reason));
  }

  setState(memberId: string, state: PortalState, details?: { reason?: string; botId?: number }): Promise<boolean> {
    return this.#writing(memberId, () => this.inner.setState(memberId, state, details));
  }

  setApplicationToken(memberId: string, applicationToken: string): Promise<boolean> {
    return this.#writing(memberId, () => this.inner.setApplicationToken(memberId, applicationToken));
  }

  delete(memberId: string): Promise<boolean> {
    return this.#writing(memberId, () => this.inner.delete(memberId));
  }

  close(): Promise<void> | void {
    this.#records.clear();
    return this.inner.close?.();
  }

  /** A write forgets the record before and after it: a read racing it reads the store again. */
  async #writing<T>(memberId: string, write: () => Promise<T>): Promise<T> {
    this.#writes += 1;
    this.#records.delete(memberId);
    try {
      return await write();
    } finally {
      this.#writes += 1;
      this.#records.delete(memberId);
    }
  }

  #keep(record: PortalRecord): void {
    this.#records.set(record.memberId, record);
    if (this.#records.size > this.#max) this.#records.delete(this.#records.keys().next().value!);
  }
}
