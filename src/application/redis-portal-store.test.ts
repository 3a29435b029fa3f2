// The portals' store on a real redis-server (as the other Redis tests start it): what it gives back, the
// compare-and-set of a refresh across two replicas' connections, what Redis holds (never a token in plain
// text: every key dumped), one hash slot per portal (on a one-node Redis Cluster, which refuses any command
// or script that crosses slots), reads that tolerate an index ahead or behind, a stalled or stopped Redis,
// and 10,000 portals listed in a bounded number of commands.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { type RedisServer, startRedis } from '../test-support/redis';
import { PortalRecordMalformed, RedisPortalStore } from './redis-portal-store';
import { PortalStoreFull } from './sqlite-portal-store';
import type { PortalRecord } from './types';
import { TokenVault, VaultError } from './vault';

const keyA = { id: 'key-a', key: randomBytes(32) };
const keyB = { id: 'key-b', key: randomBytes(32) };

const newClient = (url: string) => createClient({ url });
type Raw = ReturnType<typeof newClient>;
let redis: RedisServer;
let raw: Raw;
const connections: RedisConnection[] = [];
const clients: Raw[] = [];
beforeAll(async () => {
  // Uncompressed DUMPs, so that a secret would be found in their bytes.
  redis = await startRedis(['--rdbcompression', 'no']);
  raw = await rawClient(redis.url);
});
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await Promise.all(clients.map((client) => client.close()));
  await redis.dispose();
});

async function rawClient(url: string): Promise<Raw> {
  const client = newClient(url);
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

async function until(condition: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A replica's connection (each its own), up. */
async function connect(url = redis.url, commandTimeoutMs = 500): Promise<RedisConnection> {
  const connection = new RedisConnection({
    url,
    commandTimeoutMs,
    markerKey: `{portal-store-test-${process.pid}}:marker`,
    requireAof: false,
    logger: createLogger('silent'),
  });
  connections.push(connection);
  connection.start();
  await until(() => connection.up);
  return connection;
}

let prefixes = 0;
const newPrefix = () => `pt-${process.pid}-${++prefixes}`;

async function storeOn(
  options: { prefix?: string; keys?: (typeof keyA)[]; maxPortals?: number; pageSize?: number; now?: () => number } = {},
  connection?: RedisConnection,
) {
  const prefix = options.prefix ?? newPrefix();
  const store = new RedisPortalStore({
    connection: connection ?? (await connect()),
    vault: new TokenVault(options.keys ?? [keyA]),
    prefix,
    ...(options.maxPortals && { maxPortals: options.maxPortals }),
    ...(options.pageSize && { pageSize: options.pageSize }),
    ...(options.now && { now: options.now }),
  });
  return { store, prefix };
}

/** A portal whose secrets are unique to it (and long enough to be found in a dump by chance never). */
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

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('it resolved');
}

/** Every key under `prefix` (SCAN, a page at a time). */
async function keysOf(client: Raw, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of client.scanIterator({ MATCH: `{${prefix}:*`, COUNT: 1_000 })) keys.push(...page);
  return keys.sort();
}

const binary = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** Every key under `prefix` and its bytes: its name, its DUMP, and its content read by type. */
async function bytesOf(client: Raw, prefix: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const key of await keysOf(client, prefix)) {
    parts.push(Buffer.from(key));
    const dump = await client.sendCommand(['DUMP', key], binary);
    expect(Buffer.isBuffer(dump)).toBe(true);
    parts.push(dump as unknown as Buffer);
    const type = String(await client.sendCommand(['TYPE', key]));
    const command = type === 'hash' ? ['HGETALL', key] : type === 'zset' ? ['ZRANGE', key, '0', '-1'] : ['GET', key];
    parts.push(...flatten(await client.sendCommand(command, binary)));
  }
  return Buffer.concat(parts);
}

/** A reply's strings and bytes, whatever shape the client gave it (array, map or object). */
function flatten(reply: unknown): Buffer[] {
  if (Buffer.isBuffer(reply)) return [reply];
  if (typeof reply === 'string' || typeof reply === 'number') return [Buffer.from(String(reply))];
  if (Array.isArray(reply)) return reply.flatMap(flatten);
  if (reply instanceof Map) return [...reply].flat().flatMap(flatten);
  if (reply && typeof reply === 'object') return Object.entries(reply).flat().flatMap(flatten);
  return [];
}

describe('RedisPortalStore', () => {
  it('gives back what it stored; finds a portal by its address in any case; lists without tokens', async () => {
    const { store } = await storeOn();
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
  });

  it('stores an address in lower case, and answers by address only when exactly one portal has it', async () => {
    const { store } = await storeOn();
    const first = portal(1, { domain: 'Shared.Bitrix24.com' });
    await store.put(first);
    expect((await store.get(first.memberId))?.domain).toBe('shared.bitrix24.com');
    expect((await store.getByDomain('shared.bitrix24.com'))?.memberId).toBe(first.memberId);
    await store.put(portal(2, { domain: 'shared.bitrix24.com' }));
    expect(await store.getByDomain('shared.bitrix24.com')).toBeUndefined();
    expect(await store.delete(first.memberId)).toBe(true);
    expect((await store.getByDomain('SHARED.bitrix24.com'))?.memberId).toBe('member0002');
  });

  it('writes no token, refresh token, application_token or key in plain text in any Redis key or value', async () => {
    const { store, prefix } = await storeOn();
    const records = [portal(1), portal(2), portal(3)];
    const secrets = records.flatMap(secretsOf);
    for (const record of records) await store.put(record);
    // Every way a secret is written: a refresh, a new application_token, a re-install, a lost portal.
    const refreshed = {
      ...records[0]!.tokens,
      accessToken: 'access-refreshed-5d1e',
      refreshToken: 'refresh-refreshed-9a7b',
    };
    const endpoint = 'https://p1.bitrix24.com/rest/';
    expect(await store.replaceTokens('member0001', records[0]!.tokens.refreshToken, refreshed, endpoint)).toBe(true);
    expect(await store.setApplicationToken('member0002', 'app-updated-4c2f8e')).toBe(true);
    const reinstalled = portal(3);
    await store.put(reinstalled);
    expect(await store.markLost('member0003', reinstalled.tokens.refreshToken, 'invalid_grant')).toBe(true);
    secrets.push(refreshed.accessToken, refreshed.refreshToken, 'app-updated-4c2f8e', ...secretsOf(reinstalled));
    const forbidden = [
      ...secrets.map((secret) => Buffer.from(secret, 'utf8')),
      ...secrets.map((secret) => Buffer.from(secret, 'utf16le')),
      keyA.key,
      Buffer.from(keyA.key.toString('hex')),
      Buffer.from(keyA.key.toString('base64')),
    ];
    const all = await bytesOf(raw, prefix);
    // The scan reads the keys and values: what is stored in plain text is found.
    expect(all.includes(Buffer.from('member0003'))).toBe(true);
    expect(all.includes(Buffer.from('p1.bitrix24.com'))).toBe(true);
    expect(all.includes(Buffer.from('needs-reinstall'))).toBe(true);
    for (const bytes of forbidden) expect(all.includes(bytes)).toBe(false);
  });

  it('does not open a record moved or copied under another member_id (VaultError naming the portal)', async () => {
    const { store, prefix } = await storeOn();
    const victim = portal(1);
    const attacker = portal(2);
    await store.put(victim);
    await store.put(attacker);
    const victimKey = `{${prefix}:portal:member0001}`;
    const attackerKey = `{${prefix}:portal:member0002}`;
    const stolen = await raw.hmGet(victimKey, ['tokens_key', 'tokens']);
    await raw.hSet(attackerKey, { tokens_key: stolen[0]!, tokens: stolen[1]! });
    const copied = await rejection(store.get(attacker.memberId));
    expect(copied).toBeInstanceOf(VaultError);
    expect(copied.message).toMatch(/^portal "member0002": .*does not open/);
    for (const secret of secretsOf(victim)) expect(`${copied.message}${copied.stack}`).not.toContain(secret);
    // The victim's record renamed to another member_id.
    await raw.rename(victimKey, `{${prefix}:portal:member0003}`);
    await raw.zAdd(`{${prefix}:portals}:members`, { score: 0, value: 'member0003' });
    expect(await rejection(store.get('member0003'))).toBeInstanceOf(VaultError);
    // The application_token's secret moved into the tokens' field: it opens, but is not tokens.
    const app = await raw.hmGet(attackerKey, ['app_key', 'app']);
    await raw.hSet(attackerKey, { tokens_key: app[0]!, tokens: app[1]! });
    expect((await rejection(store.get(attacker.memberId))).message).toMatch(/not readable/);
    // A field that is not what the store writes.
    await raw.hSet(`{${prefix}:portal:member0003}`, 'state', 'other');
    expect(await rejection(store.list())).toBeInstanceOf(PortalRecordMalformed);
  });

  it('replaces a refresh token only over the one spent (compare-and-set); a retry of the same write is true', async () => {
    const { store } = await storeOn({ now: () => 1_760_000 });
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
    expect(await store.get('member0404')).toBeUndefined();

    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, next, endpoint)).toBe(true);
    expect(await store.get(record.memberId)).toEqual({ ...record, tokens: next, refreshedAt: 1_760_000 });
    // The same write again (its first answer lost to a deadline): the pair is stored, so true; nothing changes.
    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, next, endpoint)).toBe(true);
    // The refresh token spent is spent: a second refresh from it (a racing one) is refused.
    const racing = { ...next, accessToken: 'access-3', refreshToken: 'refresh-3' };
    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, racing, endpoint)).toBe(false);
    expect((await store.get(record.memberId))?.tokens).toEqual(next);
    // A re-install between the refresh's read and its write: the re-install's pair stays.
    const reinstalled = portal(1);
    await store.put(reinstalled);
    expect(await store.replaceTokens(record.memberId, next.refreshToken, racing, endpoint)).toBe(false);
    expect(await store.get(record.memberId)).toEqual(reinstalled);
  });

  it('lets one of twenty refreshes from one token win across two replicas, each on its own connection', async () => {
    const { store: one, prefix } = await storeOn();
    const { store: two } = await storeOn({ prefix });
    const record = portal(1);
    await one.put(record);
    const pairs = Array.from({ length: 20 }, (_, i) => ({
      ...record.tokens,
      accessToken: `access-race-${i}`,
      refreshToken: `refresh-race-${i}`,
    }));
    const won = await Promise.all(
      pairs.map((pair, i) =>
        (i % 2 ? two : one).replaceTokens(record.memberId, record.tokens.refreshToken, pair, record.clientEndpoint),
      ),
    );
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await two.get(record.memberId))?.tokens).toEqual(pairs[won.indexOf(true)]);
  });

  it('marks a portal lost only over the refresh token refused: a re-install since then stays ready', async () => {
    const { store } = await storeOn();
    const record = portal(1);
    await store.put(record);
    expect(await store.markLost(record.memberId, 'refresh-stale', 'invalid_grant')).toBe(false);
    expect(await store.get(record.memberId)).toEqual(record);
    const reinstalled = portal(1);
    await store.put(reinstalled);
    expect(await store.markLost(record.memberId, record.tokens.refreshToken, 'invalid_grant')).toBe(false);
    expect((await store.get(record.memberId))?.state).toBe('ready');
    expect(await store.markLost(record.memberId, reinstalled.tokens.refreshToken, 'invalid_grant')).toBe(true);
    expect(await store.get(record.memberId)).toMatchObject({
      state: 'needs-reinstall',
      stateReason: 'invalid_grant',
      botId: reinstalled.botId,
    });
    expect(await store.markLost('member0404', 'x', 'invalid_grant')).toBe(false);
    expect(await store.get('member0404')).toBeUndefined();
  });

  it('follows a renamed portal: the endpoint a refresh brings moves its address, and the old one leaves the index', async () => {
    const { store, prefix } = await storeOn();
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
    expect(await raw.zRange(`{${prefix}:portals}:domains`, 0, -1)).toEqual(['renamed.bitrix24.com:8443\0member0001']);
    // A re-install at yet another address: the index follows the record again.
    await store.put(portal(1, { domain: 'third.bitrix24.com' }));
    expect(await raw.zRange(`{${prefix}:portals}:domains`, 0, -1)).toEqual(['third.bitrix24.com\0member0001']);
    expect(await raw.zRange(`{${prefix}:portals}:by-member`, 0, -1)).toEqual(['member0001\0third.bitrix24.com']);
  });

  it('reads through an index ahead of or behind the records: a listed member_id without a record is skipped, an address whose record moved is not answered', async () => {
    const { store, prefix } = await storeOn();
    await store.put(portal(1));
    await store.put(portal(2));
    const index = `{${prefix}:portals}`;
    // A put that indexed its portal, then died before writing the record.
    await raw.zAdd(`${index}:members`, { score: 0, value: 'member0000' });
    await raw.zAdd(`${index}:domains`, { score: 0, value: 'ghost.bitrix24.com\0member0000' });
    // An address entry whose portal holds another address now (a rename not yet tidied).
    await raw.zAdd(`${index}:domains`, { score: 0, value: 'portal1.bitrix24.com\0member0002' });
    // More stale entries for one address than a page of candidates holds, before the real one.
    for (let i = 0; i < 40; i++)
      await raw.zAdd(`${index}:domains`, { score: 0, value: `portal1.bitrix24.com\0aaa${i}` });
    expect((await store.list()).map((summary) => summary.memberId)).toEqual(['member0001', 'member0002']);
    expect(await store.get('member0000')).toBeUndefined();
    expect(await store.getByDomain('ghost.bitrix24.com')).toBeUndefined();
    expect((await store.getByDomain('portal1.bitrix24.com'))?.memberId).toBe('member0001');
    expect((await store.getByDomain('portal2.bitrix24.com'))?.memberId).toBe('member0002');
    // A delete of the member_id takes its leftovers away.
    expect(await store.delete('member0000')).toBe(false);
    expect(await raw.zRange(`${index}:members`, 0, -1)).toEqual(['member0001', 'member0002']);
  });

  it('changes a state and an application_token; false for a portal it does not hold', async () => {
    const { store } = await storeOn();
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
    // A refresh after it keeps the new application_token (they are sealed apart).
    const next = { ...record.tokens, refreshToken: 'refresh-2' };
    expect(await store.replaceTokens(record.memberId, record.tokens.refreshToken, next, record.clientEndpoint)).toBe(
      true,
    );
    expect(await store.get(record.memberId)).toMatchObject({ applicationToken: 'app-new', tokens: next });
    expect(await store.setState('member0404', 'ready')).toBe(false);
    expect(await store.setApplicationToken('member0404', 'app-new')).toBe(false);
    expect(await store.get('member0404')).toBeUndefined();
  });

  it('deletes a portal, its tokens and its index entries', async () => {
    const { store, prefix } = await storeOn();
    const record = portal(1);
    await store.put(record);
    expect(await store.delete(record.memberId)).toBe(true);
    expect(await store.delete(record.memberId)).toBe(false);
    expect(await store.get(record.memberId)).toBeUndefined();
    expect(await store.getByDomain(record.domain)).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect(await keysOf(raw, prefix)).toEqual([]);
  });

  it('refuses a new portal past maxPortals (PortalStoreFull), never a re-install; the count is Redis’s, for every replica', async () => {
    const { store, prefix } = await storeOn({ maxPortals: 2 });
    await store.put(portal(1));
    await store.put(portal(2));
    const full = await rejection(store.put(portal(3)));
    expect(full).toBeInstanceOf(PortalStoreFull);
    expect(full.message).toMatch(/maximum of 2 portals/);
    expect(await store.get('member0003')).toBeUndefined();
    const reinstalled = portal(2, { state: 'installing' });
    await store.put(reinstalled);
    expect(await store.get('member0002')).toEqual(reinstalled);

    const other = (await storeOn({ prefix, maxPortals: 2 })).store;
    expect(await rejection(other.put(portal(3)))).toBeInstanceOf(PortalStoreFull);
    // Two new portals at once at the last place: one is refused.
    await other.delete('member0001');
    const raced = await Promise.allSettled([store.put(portal(3)), other.put(portal(4))]);
    expect(raced.filter((outcome) => outcome.status === 'rejected')).toHaveLength(1);
    expect(await store.list()).toHaveLength(2);
    expect(await other.count()).toBe(2);
  });

  it('refuses a record out of bounds, naming the field and never its value; any member_id is only a key', async () => {
    const { store, prefix } = await storeOn();
    const long = `secret-${'x'.repeat(5_000)}`;
    const refusals: [PortalRecord, RegExp][] = [
      [portal(1, { applicationToken: long }), /applicationToken/],
      [{ ...portal(1), tokens: { ...portal(1).tokens, accessToken: long } }, /accessToken/],
      [portal(1, { memberId: '' }), /memberId/],
      [portal(1, { memberId: 'm'.repeat(129) }), /memberId/],
      [portal(1, { memberId: 'nul\0inside' }), /memberId/],
      [portal(1, { memberId: 'half\ud800' }), /memberId/],
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
    expect(await keysOf(raw, prefix)).toEqual([]);
    const ids = ['__proto__', 'constructor', 'a}b{c', '%7D', '}', '{', 'é'];
    for (const memberId of ids) {
      const record = portal(1, { memberId });
      await store.put(record);
      expect(await store.get(memberId)).toEqual(record);
    }
    expect((await store.list()).map((summary) => summary.memberId)).toEqual(
      [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    // Seven records, seven keys besides the four indexes.
    expect(await keysOf(raw, prefix)).toHaveLength(ids.length + 4);
    for (const memberId of ['nul\0inside', 'half\ud800', 'm'.repeat(129), 42 as never])
      expect(await store.get(memberId)).toBeUndefined();
  });

  it('rotates a key: records under A open with [B, A], rewrap() moves them to B page by page, then [B] alone opens them', async () => {
    const { store: underA, prefix } = await storeOn({ keys: [keyA] });
    const records = Array.from({ length: 20 }, (_, n) => portal(n));
    for (const record of records) if (record.memberId !== 'member0005') await underA.put(record);
    expect(await underA.keyIds()).toEqual(new Map([['key-a', 19]]));

    const rotating = (await storeOn({ prefix, keys: [keyB, keyA], pageSize: 8 })).store;
    expect(await rotating.get('member0007')).toEqual(records[7]);
    await rotating.put(records[5]!);
    // An application_token sealed under B beside tokens under A: the record counts under both.
    await rotating.setApplicationToken('member0006', records[6]!.applicationToken);
    expect(await rotating.keyIds()).toEqual(
      new Map([
        ['key-a', 19],
        ['key-b', 2],
      ]),
    );
    expect(await rotating.rewrap()).toBe(19);
    expect(await rotating.keyIds()).toEqual(new Map([['key-b', 20]]));
    expect(await rotating.rewrap()).toBe(0);

    const onlyB = (await storeOn({ prefix, keys: [keyB] })).store;
    for (const record of records) expect(await onlyB.get(record.memberId)).toEqual(record);
    // The refresh's digest survives the rotation.
    expect(await onlyB.replaceTokens('member0001', records[1]!.tokens.refreshToken, records[2]!.tokens, 'x')).toBe(
      true,
    );
    const error = (await rejection((await storeOn({ prefix, keys: [keyA] })).store.get('member0003'))) as VaultError;
    expect(error.keyId).toBe('key-b');
  });
});

describe('one hash slot per portal, on a one-node Redis Cluster', () => {
  let node: RedisServer;
  let dir: string;
  let admin: Raw;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
    node = await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--dir', dir]);
    admin = await rawClient(node.url);
    await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
    await until(async () => String(await admin.sendCommand(['CLUSTER', 'INFO'])).includes('cluster_state:ok'));
  });
  afterAll(async () => {
    await node.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every method where a command or script crossing slots is refused, and keeps each portal in one slot', async () => {
    // The node refuses what crosses slots: a command, and a script whose keys do (every script of the store
    // touches only the keys it declares; a single node does not check undeclared ones).
    expect(String(await rejection(admin.sendCommand(['MSET', '{a}1', 'x', '{b}2', 'x'])))).toMatch(/CROSSSLOT/);
    expect(String(await rejection(admin.sendCommand(['EVAL', 'return 1', '2', '{a}1', '{b}2'])))).toMatch(/CROSSSLOT/);
    const { store, prefix } = await storeOn({}, await connect(node.url));
    const ids = ['member0001', 'a}b{c', '{member0001}'];
    for (const [n, memberId] of ids.entries()) await store.put(portal(n + 1, { memberId }));
    const one = portal(1);
    expect((await store.get('member0001'))?.domain).toBe(one.domain);
    expect((await store.getByDomain('portal2.bitrix24.com'))?.memberId).toBe('a}b{c');
    expect(await store.list()).toHaveLength(3);
    const stored = (await store.get('member0001'))!;
    const next = { ...stored.tokens, refreshToken: 'refresh-2' };
    expect(
      await store.replaceTokens('member0001', stored.tokens.refreshToken, next, 'https://moved.example/rest/'),
    ).toBe(true);
    expect(await store.markLost('member0001', 'refresh-2', 'invalid_grant')).toBe(true);
    expect(await store.setState('a}b{c', 'ready', { botId: 5 })).toBe(true);
    expect(await store.setApplicationToken('a}b{c', 'app-2')).toBe(true);
    expect(await store.rewrap()).toBe(0);
    expect(await store.delete('{member0001}')).toBe(true);

    const slot = async (key: string) => Number(await admin.sendCommand(['CLUSTER', 'KEYSLOT', key]));
    const keys = await keysOf(admin, prefix);
    const indexes = keys.filter((key) => key.startsWith(`{${prefix}:portals}:`));
    expect(indexes).toHaveLength(4);
    expect(new Set(await Promise.all(indexes.map(slot))).size).toBe(1);
    const records = keys.filter((key) => !indexes.includes(key));
    // One key per portal, its own tag: the member_id escaped, so that no brace in it ends the tag.
    expect(records).toEqual([`{${prefix}:portal:a%7Db%7Bc}`, `{${prefix}:portal:member0001}`]);
    for (const key of records) expect(await slot(key)).toBe(await slot(key.slice(1, key.indexOf('}'))));
    expect(await slot(records[0]!)).not.toBe(await slot(records[1]!));
  });
});

describe('a Redis that fails', () => {
  it('rejects every method within the deadline while Redis is stalled (SIGSTOP) or stopped, never resolving as written', async () => {
    const server = await startRedis();
    try {
      const connection = await connect(server.url, 300);
      const { store } = await storeOn({}, connection);
      const record = portal(1);
      await store.put(record);
      const next = { ...record.tokens, accessToken: 'access-2', refreshToken: 'refresh-2' };
      // An endpoint that is no URL moves no address: the compare-and-set is the refresh's first command.
      const refresh = () => store.replaceTokens(record.memberId, record.tokens.refreshToken, next, 'no-url');
      const calls: [string, () => Promise<unknown>][] = [
        ['replaceTokens', refresh],
        ['get', () => store.get(record.memberId)],
        ['getByDomain', () => store.getByDomain(record.domain)],
        ['list', () => store.list()],
        ['put', () => store.put(portal(2))],
        ['markLost', () => store.markLost(record.memberId, 'x', 'invalid_grant')],
        ['setState', () => store.setState(record.memberId, 'ready')],
        ['setApplicationToken', () => store.setApplicationToken(record.memberId, 'app-2')],
        ['delete', () => store.delete(record.memberId)],
        ['rewrap', () => store.rewrap()],
      ];
      const judge = async () => {
        for (const [name, call] of calls) {
          const started = Date.now();
          const error = await rejection(call());
          expect(error.name, name).toMatch(/RedisDeadlineError|RedisUnavailableError/);
          // The deadline (300 ms), and room for a busy machine.
          expect(Date.now() - started, name).toBeLessThan(2_000);
        }
      };
      server.pause();
      await judge();
      server.resume();
      await until(() => connection.up);
      // The refresh that timed out had been sent: Redis ran it once it resumed (a rejection means "not
      // known"), and its retry is true without writing again.
      expect((await store.get(record.memberId))?.tokens).toEqual(next);
      expect(await refresh()).toBe(true);
      expect(await store.get(record.memberId)).toMatchObject({ tokens: next, clientEndpoint: 'no-url' });
      await server.stop();
      await until(() => !connection.up);
      await judge();
    } finally {
      await server.dispose();
    }
  });
});

describe('10,000 portals', () => {
  it('are put, then listed in member_id order in 21 pages: one ZRANGEBYLEX of 500 and 500 pipelined HMGETs each', async () => {
    // A generous deadline per command: 10,000 puts on a machine busy with other suites.
    const { store } = await storeOn({ pageSize: 500 }, await connect(redis.url, 5_000));
    const total = 10_000;
    const memberIds = Array.from({ length: total }, (_, n) => `m${String(n).padStart(5, '0')}`);
    for (let at = 0; at < total; at += 200)
      await Promise.all(memberIds.slice(at, at + 200).map((memberId, n) => store.put(portal(at + n, { memberId }))));
    await raw.sendCommand(['CONFIG', 'RESETSTAT']);
    const list = await store.list();
    const stats = String(await raw.sendCommand(['INFO', 'commandstats']));
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(list.map((summary) => summary.memberId)).toEqual(memberIds);
    // ceil(10,000 / 500) full pages, and one that finds nothing more: linear, each command bounded.
    expect(calls('zrangebylex')).toBe(21);
    expect(calls('hmget')).toBe(total);
    expect(calls('evalsha') + calls('eval') + calls('scan') + calls('keys')).toBe(0);
  }, 120_000);
});
