// A cloud portal through real HTTP: OAuth tokens checked as Bitrix24 answers them (the spec's 401s), the
// application's bot registered once per CODE and listed, and the session methods answering BOT_ID_ERROR until
// the application has its bot, then the existing emulator's answers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCloud } from '.';
import { CLIENT_ID, CLIENT_SECRET, callForm, callJson, refresh, startHandler } from './testing';
import type { Cloud, CloudPortal } from './types';

let clock = Date.now();
let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;

beforeAll(async () => {
  cloud = await startCloud({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    portals: 3,
    now: () => clock,
    portalEmulator: { rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 } },
  });
  handler = await startHandler();
});
afterAll(async () => {
  await cloud.close();
  await handler.close();
});
afterEach(() => {
  clock = Date.now();
});

async function accessTokenOf(portal: CloudPortal) {
  const { event } = await cloud.install(portal, handler.url);
  return { access: event.auth.access_token!, refresh: event.auth.refresh_token! };
}

const bot = (code: string, extra: Record<string, unknown> = {}) => ({
  CODE: code,
  TYPE: 'O',
  EVENT_HANDLER: 'http://127.0.0.1:1/bitrix24/bot',
  PROPERTIES: { NAME: `Bot ${code}` },
  ...extra,
});

const unauthorized = (error: string, description: string) => ({
  status: 401,
  body: { error, error_description: description },
});

describe('OAuth tokens', () => {
  it('each portal has its own port, a 32-hex member_id and 127.0.0.1:<port> as domain', () => {
    const ids = new Set(cloud.portals.map((portal) => portal.memberId));
    expect(ids.size).toBe(3);
    for (const portal of cloud.portals) {
      expect(portal.memberId).toMatch(/^[0-9a-f]{32}$/);
      expect(portal.domain).toBe(new URL(portal.url).host);
      expect(portal.domain).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });

  it("answers 401 NO_AUTH_FOUND without auth, with an unknown token and with another portal's token", async () => {
    const [first, second] = cloud.portals as [CloudPortal, CloudPortal];
    const wrong = unauthorized('NO_AUTH_FOUND', 'Wrong authorization data');
    expect(await callJson(first, 'server.time', {})).toEqual(wrong);
    expect(await callJson(first, 'server.time', {}, 'a'.repeat(72))).toEqual(wrong);
    const { access } = await accessTokenOf(second);
    expect(await callJson(first, 'server.time', {}, access)).toEqual(wrong);
    expect((await callJson(second, 'server.time', {}, access)).status).toBe(200);
  });

  it("answers 401 expired_token, with the spec's text, once the access token expired; its refresh token still works", async () => {
    const portal = cloud.portals[0]!;
    const pair = await accessTokenOf(portal);
    expect((await callJson(portal, 'server.time', {}, pair.access)).status).toBe(200);
    portal.expireAccessTokens();
    const expired = unauthorized('expired_token', 'The access token provided has expired');
    expect(await callJson(portal, 'server.time', {}, pair.access)).toEqual(expired);
    expect(await callJson(portal, 'imopenlines.bot.session.operator', { CHAT_ID: 112 }, pair.access)).toEqual(expired);
    const renewed = await refresh(cloud, pair.refresh);
    expect((await callJson(portal, 'server.time', {}, renewed.body.access_token)).status).toBe(200);
  });

  it('lets an access token die after accessTtlMs on the clock', async () => {
    const portal = cloud.portals[0]!;
    const { access } = await accessTokenOf(portal);
    clock += 3_599_000;
    expect((await callJson(portal, 'server.time', {}, access)).status).toBe(200);
    clock += 1_000;
    expect((await callJson(portal, 'server.time', {}, access)).body.error).toBe('expired_token');
  });

  it('has no webhooks: a webhook path is NO_AUTH_FOUND', async () => {
    const portal = cloud.portals[0]!;
    const response = await fetch(`${portal.url}/rest/1/emulatorsecret/server.time`, { method: 'POST' });
    expect(response.status).toBe(401);
    expect((await response.json()).error).toBe('NO_AUTH_FOUND');
  });

  it('refuses a body over 1 MiB with 413 and keeps answering', async () => {
    const portal = cloud.portals[0]!;
    const { access } = await accessTokenOf(portal);
    const big = await callForm(portal, 'server.time', `auth=${access}&X=${'a'.repeat(1024 * 1024)}`).catch(
      () => undefined,
    );
    expect(big === undefined || big.status === 413).toBe(true);
    expect((await callJson(portal, 'server.time', {}, access)).status).toBe(200);
  });
});

describe('imbot.register and imbot.bot.list', () => {
  it('registers the bot once per CODE (a second register answers the same id); lists every bot', async () => {
    const portal = cloud.portals[1]!;
    const { access } = await accessTokenOf(portal);
    expect((await callJson(portal, 'imbot.bot.list', {}, access)).body.result).toEqual([]);
    const first = await callJson(portal, 'imbot.register', bot('gateway'), access);
    expect(first.status).toBe(200);
    expect(first.body.result).toEqual(expect.any(Number));
    expect(first.body.time).toEqual(expect.objectContaining({ start: expect.any(Number), operating: 0 }));
    const again = await callJson(portal, 'imbot.register', bot('gateway', { PROPERTIES: { NAME: 'Renamed' } }), access);
    expect(again.body.result).toBe(first.body.result);
    const form = new URLSearchParams({
      CODE: 'second',
      TYPE: 'B',
      EVENT_MESSAGE_ADD: 'https://app.example/add',
      EVENT_WELCOME_MESSAGE: 'https://app.example/welcome',
      EVENT_BOT_DELETE: 'https://app.example/delete',
      'PROPERTIES[NAME]': 'Second',
      auth: access,
    });
    const second = await callForm(portal, 'imbot.register.json', form.toString());
    expect(second.body.result).not.toBe(first.body.result);
    const other = portal.addOtherBot('gateway', 'Another application');
    const { body } = await callJson(portal, 'imbot.bot.list', {}, access);
    expect(body.result).toEqual({
      [first.body.result]: { ID: first.body.result, NAME: 'Bot gateway', CODE: 'gateway', OPENLINE: 'Y' },
      [second.body.result]: { ID: second.body.result, NAME: 'Second', CODE: 'second', OPENLINE: 'N' },
      [other]: { ID: other, NAME: 'Another application', CODE: 'gateway', OPENLINE: 'N' },
    });
    expect(portal.bots.find((b) => b.id === first.body.result)?.handlers.EVENT_MESSAGE_ADD).toBe(
      'http://127.0.0.1:1/bitrix24/bot',
    );
    expect(portal.calls('imbot.register')).toBe(3);
  });

  it("answers the page's errors for a missing CODE, name or handler", async () => {
    const portal = cloud.portals[1]!;
    const { access } = await accessTokenOf(portal);
    const refused = async (params: Record<string, unknown>) =>
      (await callJson(portal, 'imbot.register', params, access)).body;
    expect(await refused(bot(''))).toEqual({ error: 'CODE_ERROR', error_description: "Bot code isn't specified" });
    expect(await refused(bot('x', { PROPERTIES: {} }))).toEqual({
      error: 'NAME_ERROR',
      error_description: "Bot name isn't specified",
    });
    expect((await refused(bot('x', { EVENT_HANDLER: undefined }))).error).toBe('EVENT_MESSAGE_ADD_ERROR');
    expect(await refused(bot('x', { EVENT_HANDLER: 'javascript:alert(1)' }))).toEqual({
      error: 'EVENT_MESSAGE_ADD_ERROR',
      error_description: 'Wrong handler URL',
    });
  });

  it('fails registrations as told (failBotRegistration), registering nothing', async () => {
    const portal = cloud.portals[2]!;
    const { access } = await accessTokenOf(portal);
    portal.failBotRegistration = 'ACCESS_DENIED';
    try {
      expect(await callJson(portal, 'imbot.register', bot('gateway'), access)).toEqual({
        status: 403,
        body: { error: 'ACCESS_DENIED', error_description: 'Access denied! Client ID not specified' },
      });
      expect(portal.bots).toEqual([]);
    } finally {
      portal.failBotRegistration = undefined;
    }
  });
});

describe('the session methods', () => {
  it("answer BOT_ID_ERROR (transfer, finish) until the application registered its bot, then the emulator's answers", async () => {
    const portal = cloud.portals[2]!;
    const { access } = await accessTokenOf(portal);
    const transfer = { CHAT_ID: 112, USER_ID: 12 };
    const noBot = { status: 400, body: { error: 'BOT_ID_ERROR', error_description: 'Bot not found' } };
    expect(await callJson(portal, 'imopenlines.bot.session.transfer', transfer, access)).toEqual(noBot);
    expect(await callJson(portal, 'imopenlines.bot.session.finish', { CHAT_ID: 112 }, access)).toEqual(noBot);
    // The method's own checks come first, as on Bitrix24.
    expect((await callJson(portal, 'imopenlines.bot.session.transfer', { CHAT_ID: 0 }, access)).body.error).toBe(
      'CHAT_ID_EMPTY',
    );
    // The operator's server code looks no bot up.
    expect((await callJson(portal, 'imopenlines.bot.session.operator', { CHAT_ID: 112 }, access)).status).toBe(200);
    // Another application's bot is not the application's.
    portal.addOtherBot('someone-else');
    expect(await callJson(portal, 'imopenlines.bot.session.transfer', transfer, access)).toEqual(noBot);

    expect((await callJson(portal, 'imbot.register', bot('gateway'), access)).status).toBe(200);
    const done = await callJson(portal, 'imopenlines.bot.session.transfer', transfer, access);
    expect(done.status).toBe(200);
    expect(done.body.result).toBe(true);
    expect((await callJson(portal, 'imopenlines.bot.session.finish', { CHAT_ID: 112 }, access)).body.result).toBe(true);
    // The emulator's test values still act.
    expect(
      (await callJson(portal, 'imopenlines.bot.session.transfer', { ...transfer, CHAT_ID: 4002 }, access)).body.error,
    ).toBe('OPERATOR_WRONG');
    expect(portal.emulator.received.at(-1)?.params.auth).toBe(access);
    expect(portal.calls('imopenlines.bot.session.transfer')).toBe(5);
  });

  it('pass through to the emulator with the connection: its test value 5903 hangs up', async () => {
    const portal = cloud.portals[2]!;
    const { access } = await accessTokenOf(portal);
    const outcome = await callJson(portal, 'imopenlines.bot.session.operator', { CHAT_ID: 5903 }, access).then(
      () => 'answered',
      () => 'hung up',
    );
    expect(outcome).toBe('hung up');
  });

  it('server.time answers as the emulator does, also to a GET with auth in the query string', async () => {
    const portal = cloud.portals[0]!;
    const { access } = await accessTokenOf(portal);
    const response = await fetch(`${portal.clientEndpoint}server.time.json?auth=${access}`, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(response.status).toBe(200);
    expect((await response.json()).result).toEqual(expect.any(String));
  });

  it('server.time answers as the emulator does', async () => {
    const portal = cloud.portals[0]!;
    const { access } = await accessTokenOf(portal);
    const { status, body } = await callJson(portal, 'server.time', {}, access);
    expect(status).toBe(200);
    expect(body.result).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  });
});

describe('uninstall', () => {
  it("kills the portal's tokens and removes the application's bots", async () => {
    const portal = cloud.portals[1]!;
    const pair = await accessTokenOf(portal);
    expect((await callJson(portal, 'imbot.register', bot('gateway'), pair.access)).status).toBe(200);
    await cloud.uninstall(portal, handler.url);
    expect(portal.installed).toBe(false);
    expect((await callJson(portal, 'server.time', {}, pair.access)).body.error).toBe('NO_AUTH_FOUND');
    expect((await refresh(cloud, pair.refresh)).body.error).toBe('invalid_grant');
    expect(portal.bots.filter((b) => b.ours)).toEqual([]);
  });
});
