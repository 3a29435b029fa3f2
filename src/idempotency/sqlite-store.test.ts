// The data folder's key store on its own, on a real database in a temporary folder, with a clock the test
// moves: what a claim finds, which keys make room, what a full store says, and what a new process finds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DataDir, openDataDir } from '../data-dir';
import { outcomeNotKept, SqliteIdempotencyStore } from './sqlite-store';

const opened: { dir: string; dataDir: DataDir; store: SqliteIdempotencyStore }[] = [];
afterEach(async () => {
  for (const { dir, dataDir, store } of opened.splice(0)) {
    await store.close();
    dataDir.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

function storeWith(options: { maxKeys?: number; maxBytes?: number; dir?: string } = {}) {
  let now = 0;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'keys-'));
  const dataDir = openDataDir(dir);
  const store = new SqliteIdempotencyStore({
    dataDir,
    maxKeys: options.maxKeys ?? 2,
    maxBytes: options.maxBytes ?? 1 << 30,
    now: () => now,
  });
  opened.push({ dir, dataDir, store });
  return { store, dataDir, dir, at: (ms: number) => (now = ms) };
}
const answer = (body = 'ok') => ({ status: 200, headers: { 'content-type': 'text/plain' }, body });
const claimOf = (key: string, lifetimes: { leaseMs: number; retentionMs: number }, fingerprint = 'f') => ({
  key,
  fingerprint,
  ...lifetimes,
});

describe('SqliteIdempotencyStore', () => {
  it('answers a claim by what the key holds: free, in flight, done, other parameters', async () => {
    const { store, at } = storeWith();
    const lifetimes = { leaseMs: 5_000, retentionMs: 60_000 };
    const first = await store.claim(claimOf('k', lifetimes));
    if (first.kind !== 'claimed') throw new Error(first.kind);
    at(1_000);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'in-flight', retryAfterMs: 4_000 });
    expect(await store.claim(claimOf('k', lifetimes, 'other'))).toEqual({ kind: 'mismatch' });
    await store.complete('k', first.token, answer(), lifetimes.retentionMs);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'done', answer: answer() });
    // Only the claimer's token writes: a stale token changes nothing.
    await store.complete('k', 'someone-else', answer('other'), lifetimes.retentionMs);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'done', answer: answer() });
  });

  it('frees a released key, and only for its claimer', async () => {
    const { store } = storeWith();
    const lifetimes = { leaseMs: 5_000, retentionMs: 60_000 };
    const first = await store.claim(claimOf('k', lifetimes));
    if (first.kind !== 'claimed') throw new Error(first.kind);
    await store.release('k', 'not-the-token');
    expect((await store.claim(claimOf('k', lifetimes))).kind).toBe('in-flight');
    await store.release('k', first.token);
    expect(store.size).toBe(0);
    expect((await store.claim(claimOf('k', lifetimes))).kind).toBe('claimed');
  });

  it('keeps a claim as long as its lease when the retention is shorter, then calls it abandoned', async () => {
    const { store, at } = storeWith();
    const lifetimes = { leaseMs: 5_000, retentionMs: 1_000 };
    await store.claim(claimOf('k', lifetimes));
    at(4_000);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'in-flight', retryAfterMs: 1_000 });
    at(5_000);
    // Its lifetime is the lease: at its end the key is gone, and a claim takes it as new.
    expect((await store.claim(claimOf('k', lifetimes))).kind).toBe('claimed');
  });

  it('keeps a completed key for the retention from its completion, then takes it as new', async () => {
    const { store, at } = storeWith();
    const lifetimes = { leaseMs: 1_000, retentionMs: 3_000 };
    const first = await store.claim(claimOf('k', lifetimes));
    if (first.kind !== 'claimed') throw new Error(first.kind);
    at(500);
    await store.complete('k', first.token, answer(), lifetimes.retentionMs);
    at(3_499);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'done', answer: answer() });
    at(3_500);
    expect((await store.claim(claimOf('k', lifetimes))).kind).toBe('claimed');
  });

  it('when full, says how long until its first key expires, never dropping a live one', async () => {
    const { store, at } = storeWith({ maxKeys: 2 });
    await store.claim(claimOf('a', { leaseMs: 1_000, retentionMs: 9_000 }));
    at(100);
    await store.claim(claimOf('b', { leaseMs: 1_000, retentionMs: 4_000 }));
    at(1_000);
    // b expires first (at 4100), though a was stored first.
    expect(await store.claim(claimOf('c', { leaseMs: 1_000, retentionMs: 1_000 }))).toEqual({
      kind: 'full',
      retryAfterMs: 3_100,
    });
    at(4_100);
    expect((await store.claim(claimOf('c', { leaseMs: 1_000, retentionMs: 1_000 }))).kind).toBe('claimed');
    expect((await store.claim(claimOf('b', { leaseMs: 1_000, retentionMs: 1_000 }))).kind).toBe('full');
    expect(store.size).toBe(2);
  });

  it('holds its bytes bound by what the database really holds: a key that does not fit waits, an answer that does not fit is not kept', async () => {
    const probe = storeWith({ maxKeys: 1_000_000 });
    const empty = probe.dataDir.usedBytes();
    // Room for the empty tables and a few pages of keys.
    const { store, dataDir, at } = storeWith({ maxKeys: 1_000_000, maxBytes: empty + 16_384 });
    const lifetimes = { leaseMs: 1_000, retentionMs: 1_000 };
    let taken = 0;
    for (;;) {
      const claim = await store.claim(claimOf(`key-${taken}`.padEnd(43, '.'), lifetimes, 'f'.repeat(43)));
      if (claim.kind === 'full') break;
      taken++;
      if (taken > 10_000) throw new Error('the bytes bound never held');
    }
    expect(taken).toBeGreaterThan(10);
    expect(dataDir.usedBytes()).toBeLessThanOrEqual(empty + 16_384);
    at(1_000);
    const late = await store.claim(claimOf('late', lifetimes));
    if (late.kind !== 'claimed') throw new Error(late.kind);
    await store.complete('late', late.token, answer('x'.repeat(64_000)), lifetimes.retentionMs);
    expect(await store.claim(claimOf('late', lifetimes))).toEqual({ kind: 'done', answer: outcomeNotKept });
  });

  it('drops expired keys in bounded sweeps, however many there are', async () => {
    const { store, at } = storeWith({ maxKeys: 5_000 });
    const lifetimes = { leaseMs: 10, retentionMs: 10 };
    for (let i = 0; i < 5_000; i++) await store.claim(claimOf(`k${i}`, lifetimes));
    at(10);
    // The store is full of expired keys: a new one makes room by a sweep and is taken.
    expect((await store.claim(claimOf('new', lifetimes))).kind).toBe('claimed');
    expect(store.size).toBeLessThan(5_000);
  });

  it('survives its process: a finished key is replayed and a claim left in flight is abandoned, never free', async () => {
    const first = storeWith({ maxKeys: 10 });
    const lifetimes = { leaseMs: 60_000, retentionMs: 60_000 };
    const done = await first.store.claim(claimOf('done', lifetimes));
    if (done.kind !== 'claimed') throw new Error(done.kind);
    await first.store.complete('done', done.token, answer('first'), lifetimes.retentionMs);
    await first.store.claim(claimOf('running', lifetimes));
    // The process goes: its folder is opened again by a new store (what a restart does).
    const { dir } = first;
    await first.store.close();
    first.dataDir.close();
    opened.splice(0);
    const second = storeWith({ maxKeys: 10, dir });
    expect(await second.store.claim(claimOf('done', lifetimes))).toEqual({ kind: 'done', answer: answer('first') });
    expect(await second.store.claim(claimOf('running', lifetimes))).toEqual({ kind: 'abandoned' });
    expect(second.store.size).toBe(2);
  });
});
