// The keep-alive looks over the real portals' store (SQLite in a temporary data folder) and asks for a
// renewal of exactly the ready portals whose refresh token is past 150 days, nothing else.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type DataDir, openDataDir } from '../data-dir';
import { createLogger } from '../logger';
import { temporaryDataDir } from '../test-support/processes';
import { keepPortalsAlive } from './keep-alive';
import { SqlitePortalStore } from './sqlite-portal-store';
import type { PortalRecord, PortalState } from './types';
import { TokenVault } from './vault';

const DAY = 24 * 3600_000;
const NOW = 400 * DAY;
let dataDir: DataDir | undefined;
afterEach(() => dataDir?.close());

function portal(n: number, ageDays: number, state: PortalState = 'ready'): PortalRecord {
  return {
    memberId: `member${n}`,
    clientEndpoint: `https://portal${n}.bitrix24.com/rest/`,
    domain: `portal${n}.bitrix24.com`,
    state,
    applicationToken: `app-${randomBytes(8).toString('hex')}`,
    tokens: {
      accessToken: `access-${n}`,
      refreshToken: `refresh-${n}`,
      expiresAt: NOW - DAY,
      issuedAt: NOW - ageDays * DAY,
    },
    installedAt: NOW - ageDays * DAY,
  };
}

describe('the keep-alive of idle portals', () => {
  it('renews the ready portals whose refresh token is past 150 days, once each, and only them', async () => {
    dataDir = openDataDir(temporaryDataDir());
    const store = new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'k', key: randomBytes(32) }]) });
    await store.put(portal(1, 10));
    await store.put(portal(2, 151));
    await store.put(portal(3, 179));
    await store.put(portal(4, 170, 'needs-reinstall'));
    await store.put(portal(5, 149));
    const renewed: string[] = [];
    const stop = keepPortalsAlive({
      store,
      tokens: {
        keepAlive: async (memberId) => {
          renewed.push(memberId);
          return { memberId, accessToken: 'x', clientEndpoint: 'y' };
        },
      },
      logger: createLogger('silent'),
      firstAfterMs: 0,
      everyMs: 3600_000,
      now: () => NOW,
    });
    await expect.poll(() => renewed.length).toBe(2);
    stop();
    expect(renewed.sort()).toEqual(['member2', 'member3']);
  });

  it('goes on past a portal whose renewal fails', async () => {
    dataDir = openDataDir(temporaryDataDir());
    const store = new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'k', key: randomBytes(32) }]) });
    await store.put(portal(1, 160));
    await store.put(portal(2, 160));
    const tried: string[] = [];
    const stop = keepPortalsAlive({
      store,
      tokens: {
        keepAlive: async (memberId) => {
          tried.push(memberId);
          throw new Error('the authorization server is away');
        },
      },
      logger: createLogger('silent'),
      firstAfterMs: 0,
      now: () => NOW,
    });
    await expect.poll(() => tried.length).toBe(2);
    stop();
  });
});
