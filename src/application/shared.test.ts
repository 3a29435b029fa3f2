// The application's portals on the replicas' Redis (shared.ts), against a real redis-server and the cloud
// emulator's authorization server: the refresh lease (only its holder ends it; it runs out), two replicas'
// AccessTokens renewing one portal at once spend its refresh token once, a Redis that cannot be reached is
// PortalStoreUnavailable at once (never a guess), and an install event then is refused before its refresh
// token is exchanged.
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, type CloudPortal, startCloud } from '../emulator/cloud';
import { createLogger } from '../logger';
import { RedisConnection } from '../redis';
import { type RedisServer, startRedis } from '../test-support/redis';
import { EventHandler } from './events';
import { OAuthClient } from './oauth-client';
import { type SharedPortals, sharedPortals } from './shared';
import { AccessTokens } from './tokens';
import { type PortalRecord, PortalStoreUnavailable } from './types';
import { TokenVault } from './vault';

const CLIENT_ID = 'app.shared-test';
const CLIENT_SECRET = `secret-${randomBytes(8).toString('hex')}`;
const vault = new TokenVault([{ id: 'k1', key: randomBytes(32) }]);
const silent = createLogger('silent');

let redis: RedisServer;
let cloud: Cloud;
/** Where the cloud posts its events: answers 200 and keeps the last form as it came. */
let sink: { url: string; last: string; close(): Promise<void> };
const connections: RedisConnection[] = [];
const clients: OAuthClient[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis([], undefined, undefined, { aof: true });
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 2 });
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      sink.last = Buffer.concat(chunks).toString('utf8');
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink = {
    last: '',
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bitrix24/events`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(connections.map((connection) => connection.close()));
  await Promise.all([cloud?.close(), sink?.close(), redis?.dispose()]);
});

/** A replica's view of the shared portals: its own connection, up. */
async function replica(prefix: string): Promise<{ shared: SharedPortals; connection: RedisConnection }> {
  const connection = new RedisConnection({
    url: redis.url,
    commandTimeoutMs: 300,
    markerKey: `{${prefix}:portals}:marker`,
    logger: silent,
  });
  connections.push(connection);
  connection.start();
  await expect.poll(() => connection.up, { timeout: 5_000 }).toBe(true);
  const shared = sharedPortals({ connection, vault, prefix, replicas: 2, sharedBucket: true, logger: silent });
  return { shared, connection };
}

function oauth(): OAuthClient {
  const client = new OAuthClient({
    oauthUrl: new URL(cloud.oauthUrl),
    trustedHosts: [],
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    timeoutMs: 2_000,
  });
  clients.push(client);
  return client;
}

/** The application installed on the cloud's portal, stored as ready, its access token already expired. */
async function installedExpired(shared: SharedPortals, portal: CloudPortal): Promise<PortalRecord> {
  const { auth } = (await cloud.install(portal, sink.url)).event;
  const record: PortalRecord = {
    memberId: auth.member_id!,
    clientEndpoint: auth.client_endpoint!,
    domain: auth.domain!,
    state: 'ready',
    botId: 7,
    applicationToken: auth.application_token!,
    tokens: {
      accessToken: auth.access_token!,
      refreshToken: auth.refresh_token!,
      expiresAt: Date.now() - 1,
      issuedAt: Date.now() - 3_600_000,
    },
    installedAt: Date.now(),
  };
  await shared.store.put(record);
  return record;
}

describe('the refresh lease', () => {
  it('is held by one holder at a time, ended only by it, and runs out on its own', async () => {
    const { shared } = await replica(`shared-${process.pid}-${++prefixes}`);
    const member = 'a'.repeat(32);
    const first = await shared.store.acquire(member, 400);
    expect(first).toEqual(expect.any(String));
    expect(await shared.store.acquire(member, 400)).toBeUndefined();
    expect(await shared.store.held(member)).toBe(true);
    await shared.store.release(member, 'not-the-holder');
    expect(await shared.store.held(member)).toBe(true);
    await shared.store.release(member, first!);
    expect(await shared.store.held(member)).toBe(false);
    expect(await shared.store.acquire(member, 200)).toEqual(expect.any(String));
    await expect.poll(() => shared.store.held(member), { timeout: 2_000 }).toBe(false);
  });
});

describe('two replicas renewing one portal at once', () => {
  it('spend its refresh token once: the second reads the first one’s pair', async () => {
    const prefix = `shared-${process.pid}-${++prefixes}`;
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const record = await installedExpired(a.shared, cloud.portals[0]!);
    const tokensOf = (shared: SharedPortals) =>
      new AccessTokens({ store: shared.store, leases: shared.store, oauth: oauth(), logger: silent });
    const before = cloud.stats.refreshes;
    const hold = cloud.holdTokenAnswers();
    const answers = Promise.all([
      tokensOf(a.shared).accessToken(record.memberId),
      tokensOf(b.shared).accessToken(record.memberId),
    ]);
    await hold.waiting(1);
    // The second replica waits on the lease: no second refresh reaches the authorization server.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hold.held).toBe(1);
    hold.release();
    const [fromA, fromB] = await answers;
    expect(fromA.accessToken).toBe(fromB.accessToken);
    expect(fromA.accessToken).not.toBe(record.tokens.accessToken);
    expect(cloud.stats.refreshes).toBe(before + 1);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);
    expect((await a.shared.store.get(record.memberId))?.tokens.accessToken).toBe(fromA.accessToken);
  });
});

describe('a call refused for a token another replica renewed (NO_AUTH_FOUND)', () => {
  it('finds the new pair stored just before the lease it looked for ended', async () => {
    const prefix = `shared-${process.pid}-${++prefixes}`;
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const record = await installedExpired(a.shared, cloud.portals[0]!);
    const renewing = new AccessTokens({
      store: b.shared.store,
      leases: b.shared.store,
      oauth: oauth(),
      logger: silent,
    });
    // The interleaving that lost the call: replica b renews (stores its pair, ends its lease) between a's read
    // of the portal and a's look for a lease.
    const leases = {
      acquire: (memberId: string, ms: number) => a.shared.store.acquire(memberId, ms),
      release: (memberId: string, token: string) => a.shared.store.release(memberId, token),
      held: async (memberId: string) => {
        await renewing.accessToken(memberId);
        return a.shared.store.held(memberId);
      },
    };
    const tokens = new AccessTokens({ store: a.shared.store, leases, oauth: oauth(), logger: silent });
    const replaced = await tokens.replacedAfter(record.memberId, record.tokens.accessToken);
    expect(replaced?.accessToken).toBeDefined();
    expect(replaced?.accessToken).not.toBe(record.tokens.accessToken);
    expect(replaced?.accessToken).toBe((await a.shared.store.get(record.memberId))?.tokens.accessToken);
  });
});

describe('a renewal whose replica died (its lease runs out with nothing stored)', () => {
  it('leaves a call refused NO_AUTH_FOUND for the stored token to renew it, once the lease has run out', async () => {
    const prefix = `shared-${process.pid}-${++prefixes}`;
    const { shared } = await replica(prefix);
    const record = await installedExpired(shared, cloud.portals[1]!);
    // A replica took the lease and died: nobody ends it; it runs out after 400 ms.
    expect(await shared.store.acquire(record.memberId, 400)).toEqual(expect.any(String));
    const tokens = new AccessTokens({ store: shared.store, leases: shared.store, oauth: oauth(), logger: silent });
    const refreshes = cloud.stats.refreshes;
    const replaced = await tokens.replacedAfter(record.memberId, record.tokens.accessToken);
    expect(replaced?.accessToken).toBeDefined();
    expect(replaced?.accessToken).not.toBe(record.tokens.accessToken);
    expect(cloud.stats.refreshes).toBe(refreshes + 1);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);
  });
});

describe('a Redis that cannot be reached', () => {
  it('is PortalStoreUnavailable at once for every read and write, never a guess, and an install waits for it', async () => {
    const prefix = `shared-${process.pid}-${++prefixes}`;
    const { shared, connection } = await replica(prefix);
    const record = await installedExpired(shared, cloud.portals[1]!);
    await redis.stop();
    try {
      await expect.poll(() => connection.up, { timeout: 5_000 }).toBe(false);
      expect(shared.problem()).toMatch(/refused|closed|not connected/);
      const started = Date.now();
      await expect(shared.store.get(record.memberId)).rejects.toBeInstanceOf(PortalStoreUnavailable);
      await expect(shared.store.list()).rejects.toBeInstanceOf(PortalStoreUnavailable);
      await expect(shared.store.acquire(record.memberId, 1_000)).rejects.toBeInstanceOf(PortalStoreUnavailable);
      expect(Date.now() - started).toBeLessThan(1_000);
      const tokens = new AccessTokens({ store: shared.store, leases: shared.store, oauth: oauth(), logger: silent });
      const presented = cloud.stats.tokenRequests;
      await expect(tokens.accessToken(record.memberId)).rejects.toBeInstanceOf(PortalStoreUnavailable);
      // An install's refresh token is exchanged only once its pair can be stored.
      const events = new EventHandler({
        store: shared.store,
        oauth: oauth(),
        logger: silent,
        limits: { installsPerSourcePerMinute: 100, installsPerMinute: 100 },
        registerBot: async () => ({ botId: 1 }),
        storeProblem: shared.problem,
      });
      await cloud.install(cloud.portals[1]!, sink.url);
      const answer = await events.handle(sink.last, '127.0.0.1');
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ error: 'PORTAL_STORE_UNAVAILABLE' });
      expect(answer.headers).toEqual({ 'Retry-After': '1' });
      expect(cloud.stats.tokenRequests).toBe(presented);
    } finally {
      await redis.start({ keepData: true });
    }
  });
});
