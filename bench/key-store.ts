// What the data folder's key store (src/idempotency/sqlite-store.ts) costs as it fills: for stores of 1,000,
// 10,000 and 100,000 keys (each claimed and completed with a small answer), the time of a fresh key (claim and
// completion, each fsynced), of a replay, and of a new key refused by a full store, and the process's RSS
// (the store's memory is SQLite's page cache, whatever the number of keys). Not part of `make bench` (the
// gateway's own added latency of a fresh key is: the idempotency scenario); run
// `node --import tsx bench/key-store.ts`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataDir } from '../src/data-dir';
import { SqliteIdempotencyStore } from '../src/idempotency/sqlite-store';

const lifetimes = { leaseMs: 70_000, retentionMs: 86_400_000 };
const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"result":true}' };
const keyOf = (name: string) => name.padEnd(43, '.');
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

async function fresh(store: SqliteIdempotencyStore, key: string): Promise<void> {
  const claim = await store.claim({ key, fingerprint: 'f'.repeat(43), ...lifetimes });
  if (claim.kind !== 'claimed') throw new Error(`a fresh key was ${claim.kind}`);
  await store.complete(key, claim.token, answer, lifetimes.retentionMs);
}

function micros(started: bigint, n: number): string {
  return (Number(process.hrtime.bigint() - started) / 1_000 / n).toFixed(1);
}

console.log('keys\tfresh µs\treplay µs\tfull store µs\tRSS MB\tdatabase MB');
for (const size of [1_000, 10_000, 100_000]) {
  const dir = mkdtempSync(join(tmpdir(), 'key-store-bench-'));
  const dataDir = openDataDir(dir);
  const store = new SqliteIdempotencyStore({ dataDir, maxKeys: size, maxBytes: 4 * 1024 ** 3 });
  try {
    for (let i = 0; i < size - 200; i++) await fresh(store, keyOf(`live-${i}`));
    let started = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await fresh(store, keyOf(`timed-${i}`));
    const freshUs = micros(started, 200);
    started = process.hrtime.bigint();
    for (let i = 0; i < 2_000; i++) {
      const claim = await store.claim({ key: keyOf(`timed-${i % 200}`), fingerprint: 'f'.repeat(43), ...lifetimes });
      if (claim.kind !== 'done') throw new Error(`a replay was ${claim.kind}`);
    }
    const replayUs = micros(started, 2_000);
    started = process.hrtime.bigint();
    for (let i = 0; i < 2_000; i++) {
      const claim = await store.claim({ key: keyOf(`new-${i}`), fingerprint: 'f'.repeat(43), ...lifetimes });
      if (claim.kind !== 'full') throw new Error(`a full store took a new key: ${claim.kind}`);
    }
    const fullUs = micros(started, 2_000);
    const databaseMb = (dataDir.usedBytes() / 1024 ** 2).toFixed(1);
    console.log(`${size}\t${freshUs}\t${replayUs}\t${fullUs}\t${rssMb().toFixed(0)}\t${databaseMb}`);
  } finally {
    await store.close();
    dataDir.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
