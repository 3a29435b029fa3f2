// The portals' access tokens through real boundaries: the cloud emulator's authorization server (single-use
// refresh tokens, answers that can be held or cut), reached through a loopback TCP relay that can cut a
// request before it arrives (a lost answer whose token was not spent), the real OAuthClient, and the real
// SQLite store in a temporary data folder. No log line may hold a token.
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DataDir, openDataDir } from '../data-dir';
import { type Cloud, type CloudPortal, startCloud } from '../emulator/cloud';
import { createLogger } from '../logger';
import { temporaryDataDir } from '../test-support/processes';
import { OAuthClient, OAuthRefused } from './oauth-client';
import { SqlitePortalStore } from './sqlite-portal-store';
import {
  AccessTokens,
  AuthorizationServerUnavailable,
  dueForKeepAlive,
  PortalNeedsReinstall,
  PortalNotInstalled,
  PortalNotReady,
  type TokenRefresher,
} from './tokens';
import type { PortalRecord } from './types';
import { TokenVault } from './vault';

const CLIENT_ID = 'app.tokens-test-client';
const CLIENT_SECRET = `secret-${randomBytes(12).toString('hex')}`;
const DAY = 24 * 3600 * 1000;

/** A loopback TCP relay to `target`: passes bytes both ways, or cuts the next requests before they arrive. */
async function relay(target: URL) {
  const sockets = new Set<Socket>();
  const counts = { toCut: 0, cut: 0, requests: 0 };
  const server = createServer((client) => {
    let upstream: Socket | undefined;
    sockets.add(client);
    const end = () => {
      client.destroy();
      upstream?.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (chunk.subarray(0, 5).toString() === 'POST ') counts.requests += 1;
      if (counts.toCut > 0) {
        counts.toCut -= 1;
        counts.cut += 1;
        return end();
      }
      if (upstream === undefined) {
        upstream = connect(Number(target.port), target.hostname);
        sockets.add(upstream);
        upstream.on('data', (data) => client.write(data));
        upstream.on('close', end);
        upstream.on('error', end);
      }
      upstream.write(chunk);
    });
    client.on('close', end);
    client.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    counts,
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Where the cloud POSTs its install events: answers 200; the pair is read from the delivery. */
async function eventSink() {
  const server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bitrix24/events`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let cloud: Cloud;
let sink: Awaited<ReturnType<typeof eventSink>>;
let proxy: Awaited<ReturnType<typeof relay>>;
beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 2 });
  [sink, proxy] = await Promise.all([eventSink(), relay(new URL(cloud.oauthUrl))]);
});
afterAll(() => Promise.all([cloud.close(), sink.close(), proxy.close()]));

let dataDir: DataDir;
let store: SqlitePortalStore;
let client: OAuthClient | undefined;
let lines: string[];
let lost: string[];
/** Every token a test saw: none may be in a log line. */
let secrets: Set<string>;

beforeEach(() => {
  dataDir = openDataDir(temporaryDataDir());
  store = new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'k1', key: randomBytes(32) }]) });
  lines = [];
  lost = [];
  secrets = new Set([CLIENT_SECRET]);
  proxy.counts.toCut = 0;
});

afterEach(async () => {
  await client?.close();
  client = undefined;
  dataDir.close();
  for (const line of lines) for (const secret of secrets) expect(line).not.toContain(secret);
});

function oauthClient(options: Partial<ConstructorParameters<typeof OAuthClient>[0]> = {}): OAuthClient {
  client = new OAuthClient({
    oauthUrl: proxy.url,
    trustedHosts: [],
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    timeoutMs: 1_000,
    ...options,
  });
  return client;
}

function tokensOf(oauth: TokenRefresher = oauthClient(), now?: () => number): AccessTokens {
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  return new AccessTokens({ store, oauth, logger, onLost: (memberId) => void lost.push(memberId), now });
}

/** Installs the application on the cloud's portal (a fresh pair) and stores the portal as ready. */
async function installed(portal: CloudPortal, change: Partial<PortalRecord> = {}): Promise<PortalRecord> {
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
      expiresAt: Number(auth.expires) * 1000,
      issuedAt: Date.now(),
    },
    installedAt: Date.now(),
    ...change,
  };
  for (const secret of [record.tokens.accessToken, record.tokens.refreshToken, record.applicationToken])
    secrets.add(secret);
  await store.put(record);
  return record;
}

const expiredTokens = (record: PortalRecord) => ({ ...record.tokens, expiresAt: Date.now() - 1 });
const stored = async (memberId: string) => (await store.get(memberId))!;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('it resolved');
    },
    (error: unknown) => error as Error,
  );
}

const logged = (text: string) => lines.map((line) => JSON.parse(line)).filter((line) => line.msg.includes(text));

describe('AccessTokens.accessToken', () => {
  it('answers the stored token while its expiry has not passed, asking the authorization server nothing', async () => {
    const record = await installed(cloud.portals[0]!);
    const before = cloud.stats.tokenRequests;
    const access = await tokensOf().accessToken(record.memberId);
    expect(access).toEqual({
      memberId: record.memberId,
      accessToken: record.tokens.accessToken,
      clientEndpoint: record.clientEndpoint,
      botId: 7,
      expiresAt: record.tokens.expiresAt,
      issuedAt: record.tokens.issuedAt,
    });
    expect(cloud.stats.tokenRequests).toBe(before);
  });

  it('refreshes a token in the last quarter of its life (a minute at most) before it is used, not later', async () => {
    const record = await installed(cloud.portals[0]!);
    const at = (now: number) => tokensOf(oauthClient(), () => now);
    const { issuedAt } = record.tokens;
    // Two hours of life: renewed a minute before its end, not earlier.
    const hours = { ...record.tokens, expiresAt: issuedAt + 2 * 3600_000 };
    expect(at(hours.expiresAt - 60_001).fresh(hours)).toBe(true);
    expect(at(hours.expiresAt - 60_000).fresh(hours)).toBe(false);
    // Two seconds of life: half a second before its end.
    const short = { ...record.tokens, expiresAt: issuedAt + 2_000 };
    expect(at(short.expiresAt - 501).fresh(short)).toBe(true);
    expect(at(short.expiresAt - 500).fresh(short)).toBe(false);
  });

  it('refreshes first once the stored expiry has passed, and stores the new pair before answering it', async () => {
    const record = await installed(cloud.portals[0]!);
    await store.put({ ...record, tokens: expiredTokens(record) });
    const access = await tokensOf().accessToken(record.memberId);
    secrets.add(access.accessToken);
    expect(access.accessToken).not.toBe(record.tokens.accessToken);
    const now = await stored(record.memberId);
    secrets.add(now.tokens.refreshToken);
    expect(now.tokens.accessToken).toBe(access.accessToken);
    expect(now.tokens.refreshToken).not.toBe(record.tokens.refreshToken);
    expect(now.tokens.expiresAt).toBeGreaterThan(Date.now() + 3_000_000);
    expect(now.refreshedAt).toBeGreaterThan(0);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);
  });

  it('takes this clock when the answer says the new token is already dead (clocks differ): no refresh per call', async () => {
    const record = await installed(cloud.portals[0]!);
    await store.put({ ...record, tokens: expiredTokens(record) });
    const ahead = () => Date.now() + 2 * 3_600_000;
    const tokens = tokensOf(oauthClient(), ahead);
    const before = cloud.stats.tokenRequests;
    await tokens.accessToken(record.memberId);
    await tokens.accessToken(record.memberId);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    expect((await stored(record.memberId)).tokens.expiresAt).toBeGreaterThan(ahead() + 3_000_000);
  });

  it.each([
    ['an unknown member_id', 'no-such-member'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['a path', '../etc'],
    ['10,000 characters', 'x'.repeat(10_000)],
  ])('refuses %s, which is not stored: PortalNotInstalled', async (_what, memberId) => {
    await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    expect(await rejection(tokens.accessToken(memberId))).toBeInstanceOf(PortalNotInstalled);
    expect(await rejection(tokens.refreshAfter(memberId, 'stale'))).toBeInstanceOf(PortalNotInstalled);
  });

  it('refuses a portal that is not ready, saying its state and why, without a request', async () => {
    const record = await installed(cloud.portals[0]!, {
      state: 'bot-failed',
      stateReason: 'imbot.register: ACCESS_DENIED',
    });
    const before = cloud.stats.tokenRequests;
    const error = await rejection(tokensOf().refreshAfter(record.memberId, record.tokens.accessToken));
    expect(error).toBeInstanceOf(PortalNotReady);
    expect(error).toMatchObject({ state: 'bot-failed', reason: 'imbot.register: ACCESS_DENIED' });
    expect(cloud.stats.tokenRequests).toBe(before);
  });
});

describe('AccessTokens.refreshAfter', () => {
  it('50 concurrent calls after expired_token make one token request, and every one gets its new token', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    const before = cloud.stats.tokenRequests;
    const hold = cloud.holdTokenAnswers();
    const first = Array.from({ length: 25 }, () => tokens.refreshAfter(record.memberId, record.tokens.accessToken));
    await hold.waiting(1);
    // These come while the request is at the server.
    const later = Array.from({ length: 25 }, () => tokens.refreshAfter(record.memberId, record.tokens.accessToken));
    hold.release();
    const answers = await Promise.all([...first, ...later]);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    const fresh = (await stored(record.memberId)).tokens;
    secrets.add(fresh.accessToken).add(fresh.refreshToken);
    expect(new Set(answers.map(({ accessToken }) => accessToken))).toEqual(new Set([fresh.accessToken]));
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);

    // The stale token again: the stored one is newer, answered without a request.
    expect((await tokens.refreshAfter(record.memberId, record.tokens.accessToken)).accessToken).toBe(fresh.accessToken);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    // The flight is gone: the new token, stale in its turn, makes one new request.
    const next = await tokens.refreshAfter(record.memberId, fresh.accessToken);
    secrets.add(next.accessToken);
    expect(next.accessToken).not.toBe(fresh.accessToken);
    expect(cloud.stats.tokenRequests).toBe(before + 2);
  });

  it('keeps portals apart: two portals refresh at once, each its own', async () => {
    const [a, b] = await Promise.all([installed(cloud.portals[0]!), installed(cloud.portals[1]!)]);
    const tokens = tokensOf();
    const before = cloud.stats.tokenRequests;
    const [x, y] = await Promise.all([
      tokens.refreshAfter(a.memberId, a.tokens.accessToken),
      tokens.refreshAfter(b.memberId, b.tokens.accessToken),
    ]);
    expect(cloud.stats.tokenRequests).toBe(before + 2);
    expect(x.memberId).toBe(a.memberId);
    expect(y.memberId).toBe(b.memberId);
    expect((await stored(a.memberId)).tokens.accessToken).toBe(x.accessToken);
    expect((await stored(b.memberId)).tokens.accessToken).toBe(y.accessToken);
  });

  it('loses the compare-and-set to a re-install stored meanwhile, and answers what the re-install stored', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    const hold = cloud.holdTokenAnswers();
    const refreshing = tokens.refreshAfter(record.memberId, record.tokens.accessToken);
    await hold.waiting(1);
    const reinstalled = await installed(cloud.portals[0]!);
    hold.release();
    const access = await refreshing;
    expect(access.accessToken).toBe(reinstalled.tokens.accessToken);
    expect((await stored(record.memberId)).tokens).toEqual(reinstalled.tokens);
    expect(logged('another writer stored first')).toEqual([
      expect.objectContaining({ level: 30, memberId: record.memberId }),
    ]);
  });

  it('retries a lost answer once with the same refresh token (the request never arrived), and it works', async () => {
    const record = await installed(cloud.portals[0]!);
    proxy.counts.toCut = 1;
    const cut = proxy.counts.cut;
    const access = await tokensOf().refreshAfter(record.memberId, record.tokens.accessToken);
    secrets.add(access.accessToken);
    expect(proxy.counts.cut).toBe(cut + 1);
    expect(access.accessToken).not.toBe(record.tokens.accessToken);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);
    expect((await stored(record.memberId)).state).toBe('ready');
    expect(logged('retrying once')).toEqual([
      expect.objectContaining({ level: 40, memberId: record.memberId, kind: 'unreachable' }),
    ]);
    expect(lost).toEqual([]);
  });

  it('an answer lost after the server spent the token: the retry is refused, and the portal needs a re-install, saying why', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    const hold = cloud.holdTokenAnswers();
    const refreshing = tokens.refreshAfter(record.memberId, record.tokens.accessToken);
    await hold.waiting(1);
    hold.cut();
    const error = await rejection(refreshing);
    expect(error).toBeInstanceOf(PortalNeedsReinstall);
    expect((error as PortalNeedsReinstall).reason).toMatch(/first attempt may have spent the refresh token/);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(2);
    const now = await stored(record.memberId);
    expect(now.state).toBe('needs-reinstall');
    expect(now.stateReason).toMatch(/may have spent/);
    expect(lost).toEqual([record.memberId]);
  });

  it('lost twice: the portal is not marked lost, callers hear the server is unavailable, the next call tries again with the same token', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    proxy.counts.toCut = 2;
    const error = await rejection(tokens.refreshAfter(record.memberId, record.tokens.accessToken));
    expect(error).toBeInstanceOf(AuthorizationServerUnavailable);
    expect(error).toMatchObject({ kind: 'unreachable' });
    const kept = await stored(record.memberId);
    expect(kept.state).toBe('ready');
    expect(kept.tokens).toEqual(record.tokens);
    expect(lost).toEqual([]);

    const access = await tokens.refreshAfter(record.memberId, record.tokens.accessToken);
    secrets.add(access.accessToken);
    expect(access.accessToken).not.toBe(record.tokens.accessToken);
    expect(cloud.presented(record.tokens.refreshToken)).toBe(1);
  });

  it('an authorization server that never answers: each attempt ends at the client deadline, nothing is lost', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf(oauthClient({ timeoutMs: 300 }));
    const hold = cloud.holdTokenAnswers();
    const started = performance.now();
    try {
      const error = await rejection(tokens.refreshAfter(record.memberId, record.tokens.accessToken));
      expect(error).toMatchObject({ name: 'AuthorizationServerUnavailable', kind: 'timeout' });
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(hold.held).toBe(2);
    } finally {
      hold.cut();
    }
    expect((await stored(record.memberId)).state).toBe('ready');
    expect(lost).toEqual([]);
  });

  it('invalid_grant: needs-reinstall, onLost once, one warn line naming the member_id, and every waiter told', async () => {
    const record = await installed(cloud.portals[0]!);
    // Spend the stored refresh token elsewhere: the gateway's copy is now refused.
    const elsewhere = await oauthClient().refresh(record.tokens.refreshToken);
    secrets.add(elsewhere.access_token).add(elsewhere.refresh_token);
    const tokens = tokensOf();
    const before = cloud.stats.tokenRequests;
    const errors = await Promise.all(
      Array.from({ length: 20 }, () => rejection(tokens.refreshAfter(record.memberId, record.tokens.accessToken))),
    );
    for (const error of errors) expect(error).toBeInstanceOf(PortalNeedsReinstall);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    expect(lost).toEqual([record.memberId]);
    const now = await stored(record.memberId);
    expect(now.state).toBe('needs-reinstall');
    expect(now.stateReason).toMatch(/invalid_grant/);
    expect(logged('needs a re-install')).toEqual([
      expect.objectContaining({ level: 40, memberId: record.memberId, reason: now.stateReason }),
    ]);

    // From now on: refused at once, with its state, nothing asked.
    const later = await rejection(tokens.accessToken(record.memberId));
    expect(later).toBeInstanceOf(PortalNeedsReinstall);
    expect(later).toBeInstanceOf(PortalNotReady);
    expect(later).toMatchObject({ state: 'needs-reinstall' });
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    expect(lost).toHaveLength(1);
  });

  it("an answer with another portal's tokens is not stored: the portal needs a re-install", async () => {
    const other = await installed(cloud.portals[1]!);
    // Portal 0's record holding portal 1's refresh token: the server answers for portal 1.
    const record = await installed(cloud.portals[0]!);
    await store.put({ ...record, tokens: other.tokens });
    const error = await rejection(tokensOf().refreshAfter(record.memberId, other.tokens.accessToken));
    expect(error).toBeInstanceOf(PortalNeedsReinstall);
    expect((await stored(record.memberId)).stateReason).toMatch(/another portal/);
    expect((await stored(record.memberId)).tokens.refreshToken).toBe(other.tokens.refreshToken);
  });

  it('invalid_client (a wrong secret) is the refusal itself: the portal stays ready, nothing lost', async () => {
    const record = await installed(cloud.portals[0]!);
    const error = await rejection(
      tokensOf(oauthClient({ clientSecret: 'wrong-secret-123' })).refreshAfter(
        record.memberId,
        record.tokens.accessToken,
      ),
    );
    expect(error).toBeInstanceOf(OAuthRefused);
    expect(error).toMatchObject({ code: 'invalid_client' });
    expect((await stored(record.memberId)).state).toBe('ready');
    expect(lost).toEqual([]);
  });

  it('every wait has a deadline: a refresh that never ends fails its starter and its waiters in time', async () => {
    const record = await installed(cloud.portals[0]!);
    // A refresher that breaks its own deadline (the real client cannot): the waits still end.
    const stuck: TokenRefresher = { timeoutMs: 100, refresh: () => new Promise(() => {}) };
    const tokens = tokensOf(stuck);
    const started = performance.now();
    const errors = await Promise.all([
      rejection(tokens.refreshAfter(record.memberId, record.tokens.accessToken)),
      rejection(tokens.refreshAfter(record.memberId, record.tokens.accessToken)),
    ]);
    const took = performance.now() - started;
    for (const error of errors)
      expect(error).toMatchObject({ name: 'AuthorizationServerUnavailable', kind: 'timeout' });
    expect(took).toBeGreaterThanOrEqual(1_150);
    expect(took).toBeLessThan(3_000);
  });

  it("follows the latest answer's server_endpoint when the client trusts its host", async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf(oauthClient({ trustedHosts: [new URL(cloud.oauthUrl).host] }));
    const through = proxy.counts.requests;
    const first = await tokens.refreshAfter(record.memberId, record.tokens.accessToken);
    expect(proxy.counts.requests).toBe(through + 1);
    const before = cloud.stats.tokenRequests;
    const second = await tokens.refreshAfter(record.memberId, first.accessToken);
    secrets.add(first.accessToken).add(second.accessToken);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    expect(proxy.counts.requests).toBe(through + 1);
  });
});

describe('keep-alive', () => {
  const aged = (issuedAt: number, state: PortalRecord['state'] = 'ready') =>
    ({ state, tokens: { issuedAt } }) as PortalRecord;

  it.each([
    [149, 'ready', false],
    [150, 'ready', false],
    [151, 'ready', true],
    [151, 'needs-reinstall', false],
  ] as const)('a refresh token %i days old on a %s portal is due: %s', (days, state, due) => {
    const now = 1_900_000_000_000;
    expect(dueForKeepAlive(aged(now - days * DAY, state), now)).toBe(due);
  });

  it('keepAlive refreshes a due portal and leaves a fresh one as it is', async () => {
    const record = await installed(cloud.portals[0]!);
    const tokens = tokensOf();
    const before = cloud.stats.tokenRequests;
    expect((await tokens.keepAlive(record.memberId)).accessToken).toBe(record.tokens.accessToken);
    expect(cloud.stats.tokenRequests).toBe(before);

    await store.put({ ...record, tokens: { ...record.tokens, issuedAt: Date.now() - 151 * DAY } });
    const access = await tokens.keepAlive(record.memberId);
    secrets.add(access.accessToken);
    expect(cloud.stats.tokenRequests).toBe(before + 1);
    expect((await stored(record.memberId)).tokens.issuedAt).toBeGreaterThan(Date.now() - 60_000);
  });
});
