// One process's portals read from memory (cached-store.ts), over the real data-folder store: a record read
// once is not read again, every write forgets it (so the next read sees the write), a read racing a write
// keeps nothing, and the records kept are bounded.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type DataDir, openDataDir } from '../data-dir';
import { temporaryDataDir } from '../test-support/processes';
import { CachedPortals } from './cached-store';
import { SqlitePortalStore } from './sqlite-portal-store';
import type { PortalRecord } from './types';
import { TokenVault } from './vault';

const open: DataDir[] = [];
afterEach(() => {
  for (const dataDir of open.splice(0)) dataDir.close();
});

/** The data folder's store, its reads counted, and one read that can be held until a test lets it go. */
function counted() {
  const dataDir = openDataDir(temporaryDataDir());
  open.push(dataDir);
  const store = new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'k1', key: randomBytes(32) }]) });
  const reads = { count: 0, hold: undefined as Promise<void> | undefined };
  const get = store.get.bind(store);
  store.get = async (memberId) => {
    reads.count += 1;
    const record = await get(memberId);
    await reads.hold;
    return record;
  };
  return { store, reads };
}

const record = (memberId: string, accessToken = `access-${memberId}`): PortalRecord => ({
  memberId,
  clientEndpoint: `https://${memberId}.bitrix24.example/rest/`,
  domain: `${memberId}.bitrix24.example`,
  state: 'ready',
  botId: 7,
  applicationToken: `app-${memberId}`,
  tokens: {
    accessToken,
    refreshToken: `refresh-${accessToken}`,
    expiresAt: Date.now() + 3_600_000,
    issuedAt: Date.now(),
  },
  installedAt: Date.now(),
});

describe('CachedPortals', () => {
  it('reads a portal once, then from memory', async () => {
    const { store, reads } = counted();
    const cached = new CachedPortals(store);
    await cached.put(record('m1'));
    expect((await cached.get('m1'))?.tokens.accessToken).toBe('access-m1');
    expect((await cached.get('m1'))?.tokens.accessToken).toBe('access-m1');
    expect(reads.count).toBe(1);
  });

  it('forgets a portal on every write, so the next read sees it', async () => {
    const { store } = counted();
    const cached = new CachedPortals(store);
    await cached.put(record('m1'));
    await cached.get('m1');
    const next = record('m1', 'access-2').tokens;
    expect(await cached.replaceTokens('m1', 'refresh-access-m1', next, 'https://m1.bitrix24.example/rest/')).toBe(true);
    expect((await cached.get('m1'))?.tokens.accessToken).toBe('access-2');
    expect(await cached.setState('m1', 'bot-failed', { reason: 'no bot' })).toBe(true);
    expect((await cached.get('m1'))?.state).toBe('bot-failed');
    expect(await cached.delete('m1')).toBe(true);
    expect(await cached.get('m1')).toBeUndefined();
  });

  it('keeps nothing a read brought back while a write ran', async () => {
    const { store, reads } = counted();
    const cached = new CachedPortals(store);
    await cached.put(record('m1'));
    let release = () => {};
    reads.hold = new Promise((resolve) => {
      release = resolve;
    });
    const racing = cached.get('m1');
    await cached.setState('m1', 'needs-reinstall', { reason: 'lost' });
    release();
    reads.hold = undefined;
    // The racing read may answer what it read; it is not kept: the next read is the store's.
    await racing;
    expect((await cached.get('m1'))?.state).toBe('needs-reinstall');
  });

  it('keeps at most maxRecords, the ones read last', async () => {
    const { store, reads } = counted();
    const cached = new CachedPortals(store, { maxRecords: 2 });
    for (const id of ['m1', 'm2', 'm3']) await cached.put(record(id));
    for (const id of ['m1', 'm2', 'm3']) await cached.get(id);
    expect(reads.count).toBe(3);
    await cached.get('m3');
    await cached.get('m2');
    expect(reads.count).toBe(3);
    await cached.get('m1');
    expect(reads.count).toBe(4);
  });
});
