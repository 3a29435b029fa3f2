// The calls the emulator keeps for tests to read: the most recent ones, bounded in number and in bytes, so
// that a long-running emulator (the gateway's embedded one under `make start`) does not grow with its calls.
import type { ReceivedCall } from './types';

/**
 * The newest items, oldest first, at most `maxItems` of them and at most `maxBytes` of their sizes together
 * (the newest one is kept whatever its size). A ring buffer: a push and each drop are O(1); its storage grows
 * by doubling up to `maxItems`, so a small window costs little.
 */
export class Window<T> {
  #items: (T | undefined)[] = [];
  #sizes: number[] = [];
  /** Where the oldest item is. */
  #head = 0;
  #length = 0;
  #bytes = 0;

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
  ) {
    if (!Number.isSafeInteger(maxItems) || maxItems < 1) throw new RangeError(`maxItems: ${maxItems} is not 1 or more`);
    if (!(maxBytes >= 1)) throw new RangeError(`maxBytes: ${maxBytes} is not 1 or more`);
  }

  get length(): number {
    return this.#length;
  }

  /** The sizes of the items kept, together. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `item`, newest, of size `bytes`; answers how many of the oldest were dropped to keep the bounds. */
  push(item: T, bytes: number): number {
    let dropped = 0;
    if (this.#length === this.maxItems) {
      this.#dropOldest();
      dropped += 1;
    }
    if (this.#length === this.#items.length) this.#grow();
    const at = (this.#head + this.#length) % this.#items.length;
    this.#items[at] = item;
    this.#sizes[at] = bytes;
    this.#length += 1;
    this.#bytes += bytes;
    while (this.#bytes > this.maxBytes && this.#length > 1) {
      this.#dropOldest();
      dropped += 1;
    }
    return dropped;
  }

  /** The items, oldest first: a copy. */
  toArray(): T[] {
    return this.newest(this.#length);
  }

  /** The newest `count` items (all of them when fewer are kept), oldest first: a copy. */
  newest(count: number): T[] {
    const n = Math.max(0, Math.min(this.#length, Math.floor(count)));
    const out = new Array<T>(n);
    const first = this.#head + this.#length - n;
    for (let i = 0; i < n; i++) out[i] = this.#items[(first + i) % this.#items.length] as T;
    return out;
  }

  clear(): void {
    this.#items = [];
    this.#sizes = [];
    this.#head = 0;
    this.#length = 0;
    this.#bytes = 0;
  }

  #dropOldest(): void {
    this.#items[this.#head] = undefined; // Let it go now, not when its slot is reused.
    this.#bytes -= this.#sizes[this.#head]!;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length -= 1;
  }

  /** Twice the room (16 at first, at most maxItems), the items laid out from the start, oldest first. */
  #grow(): void {
    const capacity = Math.min(this.maxItems, Math.max(16, this.#items.length * 2));
    const items = new Array<T | undefined>(capacity);
    const sizes = new Array<number>(capacity);
    for (let i = 0; i < this.#length; i++) {
      const from = (this.#head + i) % this.#items.length;
      items[i] = this.#items[from];
      sizes[i] = this.#sizes[from]!;
    }
    this.#items = items;
    this.#sizes = sizes;
    this.#head = 0;
  }
}

/**
 * What a received call holds, in bytes as V8 may store it: two for each UTF-16 unit of every string (the
 * path, the headers, the parameters' keys and values; a string of other than Latin-1 takes two a unit),
 * 16 more for each string, 32 for each object or list and 8 for each entry in it, 8 for any other value.
 * An estimate, close for the long strings that matter; linear in the parameters, which the server parsed anyway.
 */
export function sizeOfCall(call: ReceivedCall): number {
  let bytes = 64 + text(call.path) + text(call.method) + (call.contentType === undefined ? 0 : text(call.contentType));
  for (const [name, value] of Object.entries(call.headers)) bytes += text(name) + text(value) + 8;
  // Without recursion: a JSON body may nest thousands deep.
  const pending: unknown[] = [call.params];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') bytes += text(value);
    else if (Array.isArray(value)) {
      bytes += 32 + 8 * value.length;
      for (const item of value) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      bytes += 32;
      for (const [key, item] of Object.entries(value)) {
        bytes += text(key) + 8;
        pending.push(item);
      }
    } else bytes += 8;
  }
  return bytes;
}

const text = (value: string) => 16 + 2 * value.length;
