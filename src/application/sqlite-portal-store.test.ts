// The portals' store on a real SQLite database in a temporary data folder: what it gives back, what its
// files hold (never a token in plain text), what an altered or moved record does, a key's rotation, the
// refresh's compare-and-set, its bound, and what a reopened folder holds.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DataDir, openDataDir } from '../data-dir';
import { temporaryDataDir } from '../test-support/processes';
import { PortalStoreFull, SqlitePortalStore } from './sqlite-portal-store';
import type { PortalRecord } from './types';
import { TokenVault, VaultError } from './vault';

const keyA = { id: 'key-a', key: randomBytes(32) };
const keyB = { id: 'key-b', key: randomBytes(32) };

const opened: DataDir[] = [];
afterEach(() => {
  for (const dataDir of opened.splice(0)) dataDir.close();
});

function folder(dir = temporaryDataDir()): { dir: string; dataDir: DataDir } {
  const dataDir = openDataDir(dir);
  opened.push(dataDir);
  return { dir, dataDir };
}

function storeOn(
  dataDir: DataDir,
  keys = [keyA],
  options: { maxPortals?: number; rewrapBatch?: number; now?: () => number } = {},
) {
  return new SqlitePortalStore({ dataDir, vault: new TokenVault(keys), ...options });
}

/** Closes the folder (as a stop does) and opens it again. */
function reopen(dir: string, dataDir: DataDir): DataDir {
  dataDir.close();
  opened.splice(opened.indexOf(dataDir), 1);
  return folder(dir).dataDir;
}

/** A portal whose secrets are unique to it (and long enough to be found in a file by chance never). */
function portal(n: number, overrides: Partial<PortalRecord> = {}): PortalRecord {
  const secret = (kind: string) => `${kind}-${n}-${randomBytes(12).toString('hex')}`;
  return {
    memberId: `member${String(n).padStart(4, '0')}`,
    clientEndpoint: `https://portal${n}.bitrix24.com/rest/`,
    domain: `portal${n}.bitrix24.com`,
    state: 'ready',
    botId: 100 + n,
    applicationToken: secret('app'),
    tokens: {
      accessToken: secret('access'),
      refreshToken: secret('refresh'),
      expiresAt: 1_800_000,
      issuedAt: 1_700_000,
    },
    installedAt: 1_700_000,
    ...overrides,
  };
}

const secretsOf = (record: PortalRecord) => [
  record.applicationToken,
  record.tokens.accessToken,
  record.tokens.refreshToken,
];

/** Every file of the folder, as bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('it resolved');
}

describe('SqlitePortalStore', () => {
  it('gives back what it stored; finds a portal by its address in any case; lists without tokens', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const one = portal(1, { stateReason: undefined, refreshedAt: 1_750_000 });
    const two = portal(2, { state: 'bot-failed', stateReason: 'imbot.register answered 403', botId: undefined });
    await store.put(two);
    await store.put(one);
    expect(await store.get(one.memberId)).toEqual(one);
    expect(await store.get(two.memberId)).toEqual(two);
    expect(await store.get('member9999')).toBeUndefined();
    expect(await store.getByDomain('PORTAL1.Bitrix24.com')).toEqual(one);
    expect(await store.getByDomain('portal3.bitrix24.com')).toBeUndefined();
    const list = await store.list();
    expect(list).toEqual([
      {
        memberId: one.memberId,
        domain: one.domain,
        state: 'ready',
        botId: 101,
        installedAt: 1_700_000,
        refreshedAt: 1_750_000,
        refreshTokenIssuedAt: 1_700_000,
      },
      {
        memberId: two.memberId,
        domain: two.domain,
        state: 'bot-failed',
        stateReason: 'imbot.register answered 403',
        installedAt: 1_700_000,
        refreshTokenIssuedAt: 1_700_000,
      },
    ]);
    const shown = JSON.stringify(list);
    for (const secret of [...secretsOf(one), ...secretsOf(two)]) expect(shown).not.toContain(secret);
    expect(store.size).toBe(2);
  });

  it('stores an address in lower case, and answers by address only when exactly one portal has it', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const first = portal(1, { domain: 'Shared.Bitrix24.com' });
    await store.put(first);
    expect((await store.get(first.memberId))?.domain).toBe('shared.bitrix24.com');
    expect((await store.getByDomain('shared.bitrix24.com'))?.memberId).toBe(first.memberId);
    await store.put(portal(2, { domain: 'shared.bitrix24.com' }));
    expect(await store.getByDomain('shared.bitrix24.com')).toBeUndefined();
    expect(await store.delete(first.memberId)).toBe(true);
    expect((await store.getByDomain('SHARED.bitrix24.com'))?.memberId).toBe('member0002');
  });

  it('writes no token, refresh token, application_token or key in plain text in any file of the folder', async () => {
    const { dir, dataDir } = folder();
    const store = storeOn(dataDir);
    const records = [portal(1), portal(2), portal(3)];
    const secrets = records.flatMap(secretsOf);
    for (const record of records) await store.put(record);
    // Every way a secret is written: a refresh, a new application_token, a re-install.
    const refreshed = {
      ...records[0]!.tokens,
      accessToken: 'access-refreshed-5d1e',
      refreshToken: 'refresh-refreshed-9a7b',
    };
    expect(
      await store.replaceTokens(
        'member0001',
        records[0]!.tokens.refreshToken,
        refreshed,
        'https://p1.bitrix24.com/rest/',
      ),
    ).toBe(true);
    expect(await store.setApplicationToken('member0002', 'app-updated-4c2f8e')).toBe(true);
    const reinstalled = portal(3);
    await store.put(reinstalled);
    secrets.push(refreshed.accessToken, refreshed.refreshToken, 'app-updated-4c2f8e', ...secretsOf(reinstalled));
    const forbidden = [
      ...secrets.map((secret) => Buffer.from(secret, 'utf8')),
      ...secrets.map((secret) => Buffer.from(secret, 'utf16le')),
      keyA.key,
      Buffer.from(keyA.key.toString('hex')),
    ];
    const scan = () => {
      const files = filesOf(dir);
      const all = Buffer.concat([...files.values()]);
      // The scan reads the rows: what is stored in plain columns is found.
      expect(all.includes(Buffer.from('member0003'))).toBe(true);
      expect(all.includes(Buffer.from('portal2.bitrix24.com'))).toBe(true);
      for (const bytes of forbidden) expect(all.includes(bytes)).toBe(false);
      return [...files.keys()];
    };
    // While open, the latest writes are in the WAL; once closed, in the database file.
    expect(scan()).toContain('gateway.sqlite-wal');
    reopen(dir, dataDir).close();
    expect(scan()).toEqual(['gateway.sqlite']);
  });

  it('does not open a record moved or copied under another member_id', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const victim = portal(1);
    const attacker = portal(2);
    await store.put(victim);
    await store.put(attacker);
    const db = dataDir.database;
    // The victim's sealed secrets copied over the attacker's row.
    db.prepare(
      'UPDATE portals SET secrets = (SELECT secrets FROM portals WHERE member_id = ?), key_id = (SELECT key_id FROM portals WHERE member_id = ?) WHERE member_id = ?',
    ).run(victim.memberId, victim.memberId, attacker.memberId);
    const copied = await rejection(store.get(attacker.memberId));
    expect(copied).toBeInstanceOf(VaultError);
    expect(copied.message).toMatch(/^portal "member0002": .*does not open/);
    // The victim's row moved to another member_id.
    db.prepare('UPDATE portals SET member_id = ? WHERE member_id = ?').run('member0003', victim.memberId);
    expect(await rejection(store.get('member0003'))).toBeInstanceOf(VaultError);
    expect(await rejection(store.getByDomain(victim.domain))).toBeInstanceOf(VaultError);
    for (const error of [copied]) for (const secret of secretsOf(victim)) expect(error.message).not.toContain(secret);
  });

  it('refuses a record whose ciphertext, tag or IV was altered (VaultError), and says nothing secret', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const record = portal(1);
    await store.put(record);
    const db = dataDir.database;
    const original = db.prepare('SELECT secrets FROM portals').pluck().get() as Buffer;
    // The stored form: 12 bytes of IV, 16 of tag, then the ciphertext.
    for (const at of [0, 11, 12, 27, 28, original.length - 1]) {
      const altered = Buffer.from(original);
      altered[at]! ^= 0x80;
      db.prepare('UPDATE portals SET secrets = ?').run(altered);
      const error = await rejection(store.get(record.memberId));
      expect(error, `byte ${at}`).toBeInstanceOf(VaultError);
      for (const secret of secretsOf(record)) expect(`${error.message}${error.stack}`).not.toContain(secret);
      // A refresh over an altered record is refused too: nothing is written.
      expect(
        await rejection(store.replaceTokens(record.memberId, record.tokens.refreshToken, record.tokens, '')),
      ).toBeInstanceOf(VaultError);
    }
    db.prepare('UPDATE portals SET secrets = ?').run(original.subarray(0, 20));
    expect(await rejection(store.get(record.memberId))).toBeInstanceOf(VaultError);
    db.prepare('UPDATE portals SET secrets = ?').run(original);
    expect(await store.get(record.memberId)).toEqual(record);
  });

  it('rotates a key: records under A open with [B, A], rewrap() moves them to B in batches, then [B] alone opens them', async () => {
    const { dataDir } = folder();
    const records = Array.from({ length: 20 }, (_, n) => portal(n));
    const underA = storeOn(dataDir, [keyA]);
    for (const record of records) if (record.memberId !== 'member0005') await underA.put(record);
    expect(underA.keyIds()).toEqual(new Map([['key-a', 19]]));

    // Batches of 8: 19 records under A, in three transactions, around one sealed under B already.
    const rotating = storeOn(dataDir, [keyB, keyA], { rewrapBatch: 8 });
    expect(await rotating.get('member0007')).toEqual(records[7]);
    await rotating.put(records[5]!);
    expect(rotating.keyIds()).toEqual(
      new Map([
        ['key-a', 19],
        ['key-b', 1],
      ]),
    );
    expect(await rotating.rewrap()).toBe(19);
    expect(rotating.keyIds()).toEqual(new Map([['key-b', 20]]));
    expect(await rotating.rewrap()).toBe(0);

    const onlyB = storeOn(dataDir, [keyB]);
    for (const record of records) expect(await onlyB.get(record.memberId)).toEqual(record);
    const error = (await rejection(storeOn(dataDir, [keyA]).get('member0001'))) as VaultError;
    expect(error.keyId).toBe('key-b');
  });

  it('names the key id of a record under a key it does not hold, and rewrap() leaves that record as it is', async () => {
    const { dataDir } = folder();
    const lost = { id: 'key-lost-2025', key: randomBytes(32) };
    const record = portal(1);
    await storeOn(dataDir, [lost]).put(record);
    await storeOn(dataDir, [keyA]).put(portal(2));
    const store = storeOn(dataDir, [keyB, keyA]);
    const error = (await rejection(store.get(record.memberId))) as VaultError;
    expect(error).toBeInstanceOf(VaultError);
    expect(error.keyId).toBe('key-lost-2025');
    expect(error.message).toContain('"key-lost-2025"');
    expect(error.message).toContain('member0001');
    expect(error.message).not.toContain(lost.key.toString('hex'));
    expect(await store.rewrap()).toBe(1);
    expect(store.keyIds()).toEqual(
      new Map([
        ['key-b', 1],
        ['key-lost-2025', 1],
      ]),
    );
  });

  it('replaces a refresh token only over the one spent (compare-and-set): a stale one changes nothing', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir, [keyA], { now: () => 1_760_000 });
    const record = portal(1);
    await store.put(record);
    const next = { accessToken: 'access-2', refreshToken: 'refresh-2', expiresAt: 1_763_600, issuedAt: 1_760_000 };
    const endpoint = 'https://portal1.bitrix24.com/rest/';
    expect(await store.replaceTokens(record.memberId, 'refresh-stale', next, endpoint)).toBe(false);
    expect(await store.replaceTokens(record.memberId, `${record.tokens.refreshToken}x`, next, endpoint)).toBe(false);
    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken.slice(0, -1), next, endpoint)).toBe(
      false,
    );
    expect(await store.replaceTokens(record.memberId, '', next, endpoint)).toBe(false);
    expect(await store.get(record.memberId)).toEqual(record);
    expect(await store.replaceTokens('member0404', record.tokens.refreshToken, next, endpoint)).toBe(false);

    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, next, endpoint)).toBe(true);
    expect(await store.get(record.memberId)).toEqual({ ...record, tokens: next, refreshedAt: 1_760_000 });
    // The refresh token spent is spent: a second refresh from it (a racing one) is refused.
    const racing = { ...next, accessToken: 'access-3', refreshToken: 'refresh-3' };
    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, racing, endpoint)).toBe(false);
    expect((await store.get(record.memberId))?.tokens).toEqual(next);
  });

  it('marks a portal lost only over the refresh token refused: a re-install since then stays ready', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const record = portal(1);
    await store.put(record);
    expect(await store.markLost(record.memberId, 'refresh-stale', 'invalid_grant')).toBe(false);
    expect(await store.get(record.memberId)).toEqual(record);
    // A re-install replaced the pair between the refusal and the mark: the new portal is not lost.
    const reinstalled = portal(1);
    await store.put(reinstalled);
    expect(await store.markLost(record.memberId, record.tokens.refreshToken, 'invalid_grant')).toBe(false);
    expect((await store.get(record.memberId))?.state).toBe('ready');
    expect(await store.markLost(record.memberId, reinstalled.tokens.refreshToken, 'invalid_grant')).toBe(true);
    expect(await store.get(record.memberId)).toMatchObject({ state: 'needs-reinstall', stateReason: 'invalid_grant' });
    expect(await store.markLost('member0404', 'x', 'invalid_grant')).toBe(false);
  });

  it('follows a renamed portal: the endpoint a refresh brings moves its address', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const record = portal(1);
    await store.put(record);
    const next = { ...record.tokens, refreshToken: 'refresh-2' };
    expect(
      await store.replaceTokens(
        record.memberId,
        record.tokens.refreshToken,
        next,
        'https://Renamed.Bitrix24.com:8443/rest/',
      ),
    ).toBe(true);
    const renamed = await store.get(record.memberId);
    expect([renamed?.clientEndpoint, renamed?.domain]).toEqual([
      'https://Renamed.Bitrix24.com:8443/rest/',
      'renamed.bitrix24.com:8443',
    ]);
    expect(await store.getByDomain(record.domain)).toBeUndefined();
    expect((await store.getByDomain('renamed.bitrix24.com:8443'))?.memberId).toBe(record.memberId);
  });

  it('changes a state and an application_token; false for a portal it does not hold', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const record = portal(1, { state: 'installing', botId: undefined });
    await store.put(record);
    expect(await store.setState(record.memberId, 'bot-failed', { reason: 'imbot.register: ACCESS_DENIED' })).toBe(true);
    expect(await store.get(record.memberId)).toMatchObject({
      state: 'bot-failed',
      stateReason: 'imbot.register: ACCESS_DENIED',
    });
    expect(await store.setState(record.memberId, 'ready', { botId: 77 })).toBe(true);
    const ready = await store.get(record.memberId);
    expect([ready?.state, ready?.stateReason, ready?.botId]).toEqual(['ready', undefined, 77]);
    expect(await store.setState(record.memberId, 'needs-reinstall', { reason: 'invalid_grant' })).toBe(true);
    expect((await store.get(record.memberId))?.botId).toBe(77);
    await expect(store.setState(record.memberId, 'gone' as never)).rejects.toThrow(TypeError);

    expect(await store.setApplicationToken(record.memberId, 'app-new')).toBe(true);
    expect(await store.get(record.memberId)).toMatchObject({ applicationToken: 'app-new', tokens: record.tokens });
    expect(await store.setState('member0404', 'ready')).toBe(false);
    expect(await store.setApplicationToken('member0404', 'app-new')).toBe(false);
  });

  it('deletes a portal and its tokens', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const record = portal(1);
    await store.put(record);
    expect(await store.delete(record.memberId)).toBe(true);
    expect(await store.delete(record.memberId)).toBe(false);
    expect(await store.get(record.memberId)).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect(store.size).toBe(0);
    expect(dataDir.database.prepare('SELECT count(*) FROM portals').pluck().get()).toBe(0);
  });

  it('refuses a new portal past maxPortals (PortalStoreFull), never a re-install; its count survives a reopen', async () => {
    const { dir, dataDir } = folder();
    const store = storeOn(dataDir, [keyA], { maxPortals: 2 });
    await store.put(portal(1));
    await store.put(portal(2));
    const full = await rejection(store.put(portal(3)));
    expect(full).toBeInstanceOf(PortalStoreFull);
    expect(full.message).toMatch(/maximum of 2 portals/);
    expect(await store.get('member0003')).toBeUndefined();
    const reinstalled = portal(2, { state: 'installing' });
    await store.put(reinstalled);
    expect(await store.get('member0002')).toEqual(reinstalled);

    const again = storeOn(reopen(dir, dataDir), [keyA], { maxPortals: 2 });
    expect(again.size).toBe(2);
    expect(await rejection(again.put(portal(3)))).toBeInstanceOf(PortalStoreFull);
    await again.delete('member0001');
    await again.put(portal(3));
    expect((await again.list()).map((summary) => summary.memberId)).toEqual(['member0002', 'member0003']);
  });

  it('holds what it wrote across a close and a reopen', async () => {
    const { dir, dataDir } = folder();
    const store = storeOn(dataDir);
    const records = [portal(1), portal(2, { refreshedAt: 1_710_000, stateReason: 'why' })];
    for (const record of records) await store.put(record);
    const next = { ...records[0]!.tokens, accessToken: 'access-2', refreshToken: 'refresh-2' };
    await store.replaceTokens(records[0]!.memberId, records[0]!.tokens.refreshToken, next, records[0]!.clientEndpoint);
    await store.close();
    const reopened = storeOn(reopen(dir, dataDir));
    expect((await reopened.get(records[0]!.memberId))?.tokens).toEqual(next);
    expect(await reopened.get(records[1]!.memberId)).toEqual(records[1]);
  });

  it('writes with synchronous=FULL whatever another store on the connection left it at', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    dataDir.database.pragma('synchronous = NORMAL');
    await store.put(portal(1));
    expect(dataDir.database.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('refuses a record out of bounds, naming the field and never its value; any member_id is only a key', async () => {
    const { dataDir } = folder();
    const store = storeOn(dataDir);
    const long = `secret-${'x'.repeat(5_000)}`;
    const refusals: [PortalRecord, RegExp][] = [
      [portal(1, { applicationToken: long }), /applicationToken/],
      [{ ...portal(1), tokens: { ...portal(1).tokens, accessToken: long } }, /accessToken/],
      [portal(1, { memberId: '' }), /memberId/],
      [portal(1, { memberId: 'm'.repeat(129) }), /memberId/],
      [portal(1, { installedAt: 1.5 }), /installedAt/],
      [portal(1, { state: 'other' as never }), /state/],
      [{ ...portal(1), tokens: undefined as never }, /tokens/],
    ];
    for (const [record, field] of refusals) {
      const error = await rejection(store.put(record));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(field);
      expect(error.message).not.toContain('secret-');
    }
    expect(store.size).toBe(0);
    for (const memberId of ['__proto__', 'constructor', "x'); DROP TABLE portals; --"]) {
      const record = portal(1, { memberId });
      await store.put(record);
      expect(await store.get(memberId)).toEqual(record);
    }
    expect((await store.list()).map((summary) => summary.memberId)).toHaveLength(3);
  });
});
