// The in-process key store on its own, with a clock the test moves: which keys make room, in which order,
// and what a full store says about when room comes.
import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore, outcomeNotKept } from './memory-store';

function storeWith(options: { maxKeys?: number; maxBytes?: number } = {}) {
  let now = 0;
  const store = new MemoryIdempotencyStore({
    maxKeys: options.maxKeys ?? 2,
    maxBytes: options.maxBytes ?? 1_000_000,
    now: () => now,
  });
  return { store, at: (ms: number) => (now = ms) };
}
const answer = (body = 'ok') => ({ status: 200, headers: { 'content-type': 'text/plain' }, body });
const claimOf = (key: string, lifetimes: { leaseMs: number; retentionMs: number }) => ({
  key,
  fingerprint: 'f',
  ...lifetimes,
});

describe('MemoryIdempotencyStore', () => {
  it('makes room from the key that expires first, though a live one was stored before it', async () => {
    const { store, at } = storeWith({ maxKeys: 2 });
    const lifetimes = { leaseMs: 10_000, retentionMs: 1_000 };
    // x is claimed first and stays in flight (kept 10 s); y, claimed after it, completes at once (kept 1 s).
    expect((await store.claim(claimOf('x', lifetimes))).kind).toBe('claimed');
    const y = await store.claim(claimOf('y', lifetimes));
    if (y.kind !== 'claimed') throw new Error(y.kind);
    at(10);
    await store.complete('y', y.token, answer(), lifetimes.retentionMs);
    at(2_000);
    expect((await store.claim(claimOf('z', lifetimes))).kind).toBe('claimed');
    expect((await store.claim(claimOf('x', lifetimes))).kind).toBe('in-flight');
    expect(store.size).toBe(2);
  });

  it('keeps a claim as long as its lease when the retention is shorter: a running call is never sent again', async () => {
    const { store, at } = storeWith();
    const lifetimes = { leaseMs: 5_000, retentionMs: 1_000 };
    await store.claim(claimOf('k', lifetimes));
    at(4_000);
    expect(await store.claim(claimOf('k', lifetimes))).toEqual({ kind: 'in-flight', retryAfterMs: 1_000 });
    at(5_000);
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

  it('when full, says how long until its first key expires, never evicting a live one', async () => {
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
    expect((await store.claim(claimOf('a', { leaseMs: 1_000, retentionMs: 9_000 }))).kind).toBe('abandoned');
    at(4_100);
    expect((await store.claim(claimOf('c', { leaseMs: 1_000, retentionMs: 1_000 }))).kind).toBe('claimed');
    expect((await store.claim(claimOf('b', { leaseMs: 1_000, retentionMs: 1_000 }))).kind).toBe('full');
  });

  it('holds its bytes bound: a key that does not fit waits for an expiry, an answer that does not fit is not kept', async () => {
    // A key and its fingerprint are 2 bytes: three fit in 6, a fourth does not.
    const { store, at } = storeWith({ maxKeys: 100, maxBytes: 6 });
    const lifetimes = { leaseMs: 1_000, retentionMs: 1_000 };
    for (const key of ['a', 'b', 'c']) expect((await store.claim(claimOf(key, lifetimes))).kind).toBe('claimed');
    expect(await store.claim(claimOf('d', lifetimes))).toEqual({ kind: 'full', retryAfterMs: 1_000 });
    at(1_000);
    const d = await store.claim(claimOf('d', lifetimes));
    if (d.kind !== 'claimed') throw new Error(d.kind);
    await store.complete('d', d.token, answer('too large for six bytes'), lifetimes.retentionMs);
    expect(await store.claim(claimOf('d', lifetimes))).toEqual({ kind: 'done', answer: outcomeNotKept });
  });

  it('stays correct through many claims released and taken again (stale expiries are dropped)', async () => {
    const { store, at } = storeWith({ maxKeys: 3 });
    const lifetimes = { leaseMs: 1_000, retentionMs: 60_000 };
    for (let round = 0; round < 5_000; round++) {
      const claim = await store.claim(claimOf('again', lifetimes));
      if (claim.kind !== 'claimed') throw new Error(`round ${round}: ${claim.kind}`);
      await store.release('again', claim.token);
    }
    await store.claim(claimOf('a', lifetimes));
    at(10);
    await store.claim(claimOf('b', lifetimes));
    at(20);
    await store.claim(claimOf('c', lifetimes));
    expect(await store.claim(claimOf('d', lifetimes))).toEqual({ kind: 'full', retryAfterMs: 59_980 });
    at(60_000);
    expect((await store.claim(claimOf('d', lifetimes))).kind).toBe('claimed');
    expect((await store.claim(claimOf('b', lifetimes))).kind).toBe('abandoned');
  });
});
