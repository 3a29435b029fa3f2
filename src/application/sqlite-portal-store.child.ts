// The process sqlite-portal-store.process.test.ts kills: it writes to a portal store in the data folder
// named by its argument and says so on stdout once each write has resolved, until it is killed (or its
// deadline passes). `put`: one install, then waits. `replace`: an install, then refreshes one after another.
import { openDataDir } from '../data-dir';
import { SqlitePortalStore } from './sqlite-portal-store';
import type { PortalRecord, PortalTokens } from './types';
import { TokenVault } from './vault';

export const MEMBER_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** The n-th pair of the portal (the same in the test, which checks what was stored). */
export function pair(n: number): PortalTokens {
  return {
    accessToken: `access-${n}`,
    refreshToken: `refresh-${n}`,
    expiresAt: 1_800_000 + n,
    issuedAt: 1_700_000 + n,
  };
}

export function installed(): PortalRecord {
  return {
    memberId: MEMBER_ID,
    clientEndpoint: 'https://killed.bitrix24.com/rest/',
    domain: 'killed.bitrix24.com',
    state: 'ready',
    botId: 7,
    applicationToken: 'app-killed',
    tokens: pair(0),
    installedAt: 1_700_000,
  };
}

async function main(mode: string, dir: string): Promise<void> {
  // Never outlives its test.
  setTimeout(() => process.exit(3), 30_000);
  const key = Buffer.from(process.env.PORTAL_STORE_KEY ?? '', 'hex');
  const store = new SqlitePortalStore({ dataDir: openDataDir(dir), vault: new TokenVault([{ id: 'k', key }]) });
  const say = (line: string) => new Promise<void>((resolve) => process.stdout.write(`${line}\n`, () => resolve()));
  await store.put(installed());
  await say('put 0');
  if (mode !== 'replace') return;
  for (let n = 1; ; n++) {
    if (!(await store.replaceTokens(MEMBER_ID, pair(n - 1).refreshToken, pair(n), installed().clientEndpoint)))
      throw new Error(`refresh ${n} was refused`);
    await say(`replaced ${n}`);
  }
}

if (process.argv[1]?.endsWith('sqlite-portal-store.child.ts'))
  main(process.argv[2] ?? '', process.argv[3] ?? '').catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
