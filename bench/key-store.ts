// What a new Idempotency-Key costs the in-process store when it is full of live keys (a flood of new keys:
// each is refused with 503, and finding no room must not scan the store). Not part of `make bench`: run
// `node --import tsx bench/key-store.ts`, or with KEY_STORE_MODULE=<path to another memory-store.ts> to
// measure another version of the store in the same run (see "The in-process key store" in results.md).
import { pathToFileURL } from 'node:url';
import type { IdempotencyStore } from '../src/idempotency/store';

type StoreClass = new (options: { maxKeys: number; maxBytes: number }) => IdempotencyStore;
const modules = [new URL('../src/idempotency/memory-store.ts', import.meta.url).href];
if (process.env.KEY_STORE_MODULE) modules.unshift(pathToFileURL(process.env.KEY_STORE_MODULE).href);

const claim = (key: string) => ({ key, fingerprint: 'f'.repeat(43), leaseMs: 70_000, retentionMs: 86_400_000 });

async function perNewKey(Store: StoreClass, size: number, tries: number): Promise<number> {
  const store = new Store({ maxKeys: size, maxBytes: 1 << 30 });
  for (let i = 0; i < size; i++) await store.claim(claim(`live-${i}`.padEnd(43, '.')));
  const started = process.hrtime.bigint();
  for (let i = 0; i < tries; i++) {
    const answer = await store.claim(claim(`new-${i}`.padEnd(43, '.')));
    if (answer.kind !== 'full') throw new Error(`a full store took a new key: ${answer.kind}`);
  }
  return Number(process.hrtime.bigint() - started) / 1_000 / tries;
}

for (const href of modules) {
  const { MemoryIdempotencyStore } = (await import(href)) as { MemoryIdempotencyStore: StoreClass };
  for (const size of [1_000, 10_000, 100_000]) {
    const micros = await perNewKey(MemoryIdempotencyStore, size, size >= 100_000 ? 200 : 2_000);
    console.log(`${href.split('/').slice(-2).join('/')}\t${size} keys\t${micros.toFixed(2)} µs per new key`);
  }
}
