// registerBot against the cloud emulator's portals through real HTTP (an UpstreamClient in OAuth mode, the
// portal's access token added as `auth`): the parameters Bitrix24 receives, a second registration finding
// the same bot, refusals told by their code (never a token), and a lost or refused register followed by the
// lookup by CODE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, type CloudPortal, startCloud } from '../emulator/cloud';
import { CLIENT_ID, CLIENT_SECRET, startHandler } from '../emulator/cloud/testing';
import { UpstreamClient, UpstreamError } from '../upstream';
import { type BotSettings, type PortalCall, registerBot } from './bot';

let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;
const clients: UpstreamClient[] = [];

beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 3 });
  handler = await startHandler();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await cloud.close();
  await handler.close();
});

const bot: BotSettings = {
  code: 'gateway_bot_test',
  name: 'Gateway Bot',
  eventsUrl: 'https://gateway.example/bot/events',
};

/** A live access token of the portal (from an install event sent to a handler that only listens). */
async function accessToken(portal: CloudPortal): Promise<string> {
  const { event } = await cloud.install(portal, handler.url);
  return event.auth.access_token!;
}

/** The portal's methods called as the gateway calls them: a pool to its origin, the token as `auth`. */
function callerOf(portal: CloudPortal, token: string, base = new URL(portal.url)): PortalCall {
  const client = new UpstreamClient({ base, mode: 'oauth', timeoutMs: 3_000, connections: 2, maxBodyBytes: 65_536 });
  clients.push(client);
  return (method, params) => client.call(method, { ...params, auth: token });
}

describe('registerBot', () => {
  it('registers an Open Lines bot with the events URL as every handler, and answers its id', async () => {
    const portal = cloud.portals[0]!;
    const result = await registerBot(callerOf(portal, await accessToken(portal)), bot);
    const bots = portal.bots.filter((one) => one.ours);
    expect(bots).toHaveLength(1);
    expect(result).toEqual({ botId: bots[0]!.id });
    expect(bots[0]).toMatchObject({ code: bot.code, name: bot.name, type: 'O', openline: 'Y' });
    expect(Object.values(bots[0]!.handlers)).toEqual(Array(5).fill(bot.eventsUrl));
    expect(portal.calls('imbot.bot.list')).toBe(0);
  });

  it('a second registration answers the same bot and adds none', async () => {
    const portal = cloud.portals[0]!;
    const call = callerOf(portal, await accessToken(portal));
    const first = await registerBot(call, bot);
    expect(await registerBot(call, bot)).toEqual(first);
    expect(portal.bots.filter((one) => one.ours)).toHaveLength(1);
  });

  it('a refusal that cannot mean the bot exists is its code, without a lookup and without the token', async () => {
    const portal = cloud.portals[1]!;
    const token = await accessToken(portal);
    portal.failBotRegistration = 'ACCESS_DENIED';
    try {
      const result = await registerBot(callerOf(portal, token), bot);
      expect(result).toEqual({ problem: 'imbot.register answered ACCESS_DENIED' });
      expect(JSON.stringify(result)).not.toContain(token);
      expect(portal.calls('imbot.bot.list')).toBe(0);
    } finally {
      portal.failBotRegistration = undefined;
    }
  });

  it('a token the portal does not know is NO_AUTH_FOUND, in words that hold no token', async () => {
    const portal = cloud.portals[1]!;
    const token = 'f'.repeat(72);
    const result = await registerBot(callerOf(portal, token), bot);
    expect(result).toEqual({ problem: 'imbot.register answered NO_AUTH_FOUND' });
  });

  it('WRONG_REQUEST looks the bot up by its CODE: found when registered before, a problem when not', async () => {
    const portal = cloud.portals[2]!;
    const call = callerOf(portal, await accessToken(portal));
    portal.addOtherBot('another_apps_bot');
    portal.failBotRegistration = 'WRONG_REQUEST';
    try {
      expect(await registerBot(call, bot)).toEqual({
        problem: 'imbot.register answered WRONG_REQUEST; no bot with its code in imbot.bot.list',
      });
      expect(portal.calls('imbot.bot.list')).toBe(1);
      portal.failBotRegistration = undefined;
      const registered = await registerBot(call, bot);
      portal.failBotRegistration = 'WRONG_REQUEST';
      expect(await registerBot(call, bot)).toEqual(registered);
      expect(portal.calls('imbot.bot.list')).toBe(2);
    } finally {
      portal.failBotRegistration = undefined;
    }
  });

  it('a register whose answer was lost finds the bot it created', async () => {
    const portal = cloud.portals[2]!;
    const real = callerOf(portal, await accessToken(portal));
    const other = { ...bot, code: 'gateway_bot_lost_answer' };
    const losing: PortalCall = async (method, params) => {
      const answer = await real(method, params);
      if (method === 'imbot.register') throw new UpstreamError('timeout', 'no answer within 3000 ms');
      return answer;
    };
    const result = await registerBot(losing, other);
    const created = portal.bots.find((one) => one.code === other.code);
    expect(created).toBeDefined();
    expect(result).toEqual({ botId: created!.id });
  });

  it('a portal that cannot be reached is a problem naming both calls', async () => {
    const portal = cloud.portals[0]!;
    const call = callerOf(portal, 'x', new URL('http://127.0.0.1:9'));
    expect(await registerBot(call, bot)).toEqual({
      problem: 'imbot.register got no answer (unreachable); imbot.bot.list got no answer (unreachable)',
    });
  });
});
