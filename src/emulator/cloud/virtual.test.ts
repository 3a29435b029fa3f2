// Virtual portals (`virtualPortals`): thousands of portals on one shared listener, each call answered by the
// portal its token was issued for, through real HTTP; small in memory until called; installed in bulk
// (`installAll`) with a bounded number of events in flight, counted, the first failures kept.
import { createServer } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { phpFormParams } from '../../bitrix24-semantics';
import { MAX_PORTALS, MAX_VIRTUAL_PORTALS, startCloud } from '.';
import { readBounded } from './body';
import { closeServer, listen } from './listen';
import { CLIENT_ID, CLIENT_SECRET, callJson, refresh, startHandler } from './testing';
import type { Cloud, CloudPortal } from './types';

let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;

beforeAll(async () => {
  cloud = await startCloud({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    portals: 1,
    virtualPortals: 200,
    memberIds: ['listening-portal', 'first-virtual-portal'],
    portalEmulator: { rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 } },
  });
  handler = await startHandler();
});
afterAll(async () => {
  await cloud.close();
  await handler.close();
});

async function accessTokenOf(portal: CloudPortal) {
  const { event } = await cloud.install(portal, handler.url);
  return { access: event.auth.access_token!, refresh: event.auth.refresh_token! };
}

const bot = (code: string) => ({
  CODE: code,
  EVENT_HANDLER: 'http://127.0.0.1:1/bitrix24/bot',
  PROPERTIES: { NAME: `Bot ${code}` },
});

describe('virtual portals', () => {
  it('come after the listening ones, share one address of their own, and have their member_ids', () => {
    const [listening, ...virtual] = cloud.portals;
    expect(virtual).toHaveLength(200);
    expect(listening!.memberId).toBe('listening-portal');
    expect(virtual[0]!.memberId).toBe('first-virtual-portal');
    expect(new Set(cloud.portals.map((portal) => portal.memberId)).size).toBe(201);
    expect(new Set(virtual.map((portal) => portal.domain))).toEqual(new Set([virtual[0]!.domain]));
    expect(virtual[0]!.domain).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(virtual[0]!.domain).not.toBe(listening!.domain);
    expect(virtual[0]!.clientEndpoint).toBe(`http://${virtual[0]!.domain}/rest/`);
  });

  it("answers each call as the portal whose token it carries: its bots, its counts, its tokens' states", async () => {
    const [a, b] = [cloud.portals[1]!, cloud.portals[2]!];
    const [tokenA, tokenB] = [await accessTokenOf(a), await accessTokenOf(b)];
    const registered = await callJson(a, 'imbot.register', bot('gateway'), tokenA.access);
    expect(registered.status).toBe(200);
    // The same address, the other portal's token: the other portal answers, and has no bot.
    expect((await callJson(a, 'imbot.bot.list', {}, tokenB.access)).body.result).toEqual([]);
    expect(Object.keys((await callJson(b, 'imbot.bot.list', {}, tokenA.access)).body.result)).toEqual([
      String(registered.body.result),
    ]);
    expect(a.bots.map((one) => one.code)).toEqual(['gateway']);
    expect(b.bots).toEqual([]);
    expect([a.calls('imbot.register'), a.calls('imbot.bot.list'), b.calls('imbot.bot.list')]).toEqual([1, 1, 1]);
    // The session methods: B has no bot of the application, A has.
    const transfer = { CHAT_ID: 112, USER_ID: 12 };
    expect((await callJson(b, 'imopenlines.bot.session.transfer', transfer, tokenB.access)).body.error).toBe(
      'BOT_ID_ERROR',
    );
    expect((await callJson(a, 'imopenlines.bot.session.transfer', transfer, tokenA.access)).status).toBe(200);
    expect(a.emulator.stats.calls).toBe(1);
    // Expired, and renewed at the authorization server, which names the shared address.
    b.expireAccessTokens();
    expect((await callJson(b, 'server.time', {}, tokenB.access)).body.error).toBe('expired_token');
    const renewed = await refresh(cloud, tokenB.refresh);
    expect(renewed.body).toMatchObject({ member_id: b.memberId, client_endpoint: b.clientEndpoint });
    expect((await callJson(b, 'server.time', {}, renewed.body.access_token)).status).toBe(200);
    // The spent pair's access token is no portal's now.
    expect((await callJson(b, 'server.time', {}, tokenB.access)).body.error).toBe('NO_AUTH_FOUND');
  });

  it('answers NO_AUTH_FOUND without auth, with an unknown token, and on a webhook path', async () => {
    const portal = cloud.portals[3]!;
    const before = portal.calls();
    expect((await callJson(portal, 'server.time', {})).body.error).toBe('NO_AUTH_FOUND');
    expect((await callJson(portal, 'server.time', {}, 'a'.repeat(72))).body.error).toBe('NO_AUTH_FOUND');
    const webhook = await fetch(`${portal.url}/rest/1/secret/server.time`, { method: 'POST' });
    expect([webhook.status, (await webhook.json()).error]).toEqual([401, 'NO_AUTH_FOUND']);
    // No portal's token: no portal counts it.
    expect(portal.calls()).toBe(before);
  });

  it('are refused past their bounds', async () => {
    const start = (options: object) => startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...options });
    for (const virtualPortals of [-1, 1.5, MAX_VIRTUAL_PORTALS + 1])
      await expect(start({ virtualPortals })).rejects.toThrow(RangeError);
    await expect(start({ portals: 0 })).rejects.toThrow(RangeError);
    await expect(start({ portals: MAX_PORTALS + 1, virtualPortals: 1 })).rejects.toThrow(RangeError);
    await expect(start({ virtualPortals: 1, memberIds: ['a', 'b'] })).rejects.toThrow(RangeError);
  });

  it('cost less than 1 KiB each until called, 20,000 of them', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const many = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, virtualPortals: 20_000 });
    try {
      gc();
      const perPortal = (process.memoryUsage().heapUsed - before) / 20_000;
      expect(perPortal).toBeLessThan(1024);
    } finally {
      await many.close();
    }
  });
});

describe('installAll', () => {
  it('posts one ONAPPINSTALL per portal not installed, at most `concurrency` at once, and counts the answers', async () => {
    let inFlight = 0;
    let most = 0;
    const received = new Map<string, number>();
    const server = createServer(async (req, res) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      const params = phpFormParams(new URLSearchParams((await readBounded(req))?.toString('utf8'))) as {
        event: string;
        auth: { member_id: string };
      };
      const memberId = params.auth.member_id;
      received.set(memberId, (received.get(memberId) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      // Every tenth portal's install fails.
      const fails = cloud.portals.findIndex((portal) => portal.memberId === memberId) % 10 === 5;
      res.writeHead(fails ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(fails ? `no ${params.event}` : 'installed');
    });
    const { origin } = await listen(server, '127.0.0.1');
    try {
      const notInstalled = cloud.portals.filter((portal) => !portal.installed);
      const outcome = await cloud.installAll(`${origin}/events`, { concurrency: 8 });
      expect(outcome.sent).toBe(notInstalled.length);
      expect(most).toBeLessThanOrEqual(8);
      expect(most).toBeGreaterThan(1);
      expect([...received.keys()].sort()).toEqual(notInstalled.map((portal) => portal.memberId).sort());
      expect([...received.values()].every((count) => count === 1)).toBe(true);
      const failing = notInstalled.filter((portal) => cloud.portals.indexOf(portal) % 10 === 5);
      expect(outcome.statuses).toEqual({ 200: notInstalled.length - failing.length, 503: failing.length });
      expect(outcome.failures).toHaveLength(10);
      expect(outcome.failures[0]).toEqual({ memberId: expect.any(String), status: 503, body: 'no ONAPPINSTALL' });
      expect(cloud.portals.every((portal) => portal.installed)).toBe(true);
      // Now nothing is left to install; the portals named are installed again.
      expect((await cloud.installAll(`${origin}/events`)).sent).toBe(0);
      const again = await cloud.installAll(`${origin}/events`, { portals: cloud.portals.slice(0, 3) });
      expect(again).toMatchObject({ sent: 3, statuses: { 200: 3 } });
    } finally {
      await closeServer(server);
    }
  });

  it('counts an event nobody answered as failed, and refuses a concurrency out of bounds or a stranger portal', async () => {
    const outcome = await cloud.installAll('http://127.0.0.1:9/events', { portals: cloud.portals.slice(0, 2) });
    expect(outcome.statuses).toEqual({ failed: 2 });
    expect(outcome.failures.map((failure) => failure.status)).toEqual([0, 0]);
    for (const concurrency of [0, 257, 1.5])
      await expect(cloud.installAll(handler.url, { concurrency })).rejects.toThrow(RangeError);
    const stranger = { ...cloud.portals[0]! };
    await expect(cloud.installAll(handler.url, { portals: [stranger] })).rejects.toThrow('not one of this cloud');
  });

  it("preinstalls a portal with no event: a pair that works, and the application's bot registered once", async () => {
    const portal = cloud.portals[150]!;
    const requests = cloud.stats.tokenRequests;
    const handlerUrl = 'http://127.0.0.1:1/bitrix24/bot';
    const made = cloud.preinstall(portal, { code: 'gateway_bot', name: 'Gateway bot', handlerUrl });
    expect(portal.installed).toBe(true);
    expect(portal.bots.filter((each) => each.ours).map((each) => each.id)).toEqual([made.botId]);
    expect(cloud.preinstall(portal, { code: 'gateway_bot', name: 'Gateway bot', handlerUrl }).botId).toBe(made.botId);
    const transfer = await callJson(
      portal,
      'imopenlines.bot.session.transfer',
      { CHAT_ID: '112', USER_ID: '12', BOT_ID: String(made.botId) },
      made.accessToken,
    );
    expect(transfer.status).toBe(200);
    expect(made.expiresAt).toBeGreaterThan(made.issuedAt);
    expect(cloud.stats.tokenRequests).toBe(requests);
  });
});
