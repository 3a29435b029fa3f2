// Application mode through real processes (issue 33): the built gateway, with the emulated cloud (its
// authorization server and portals) on loopback. Portals install themselves by posting ONAPPINSTALL to the
// gateway's handler; teams call them by member_id or address; tokens that live 2 s are renewed as Bitrix24
// asks, each refresh token at most once; a kill -9 loses nothing; no token is ever in plain text.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, startCloud } from '../emulator';
import { type GatewayProcess, loggedLine, startGatewayProcess, temporaryDataDir } from '../test-support/processes';

const CLIENT_ID = 'app.gateway-test';
const CLIENT_SECRET = 'app-secret-0123456789abcdef';
const TOKEN_KEY = `k1:${randomBytes(32).toString('base64')}`;
const KEYS = { a: 'alpha-key-0123456789', b: 'bravo-key-0123456789', ops: 'ops-key-0123456789ab' };
const TRANSFER = 'imopenlines.bot.session.transfer';

let cloud: Cloud;
let gateway: GatewayProcess;
let dataDir: string;

let tokenKey = TOKEN_KEY;

function environment(): Record<string, string> {
  const [first] = cloud.portals;
  return {
    BITRIX24_APP_CLIENT_ID: CLIENT_ID,
    BITRIX24_APP_CLIENT_SECRET: CLIENT_SECRET,
    BITRIX24_OAUTH_URL: cloud.oauthUrl,
    GATEWAY_TOKEN_KEY: tokenKey,
    GATEWAY_API_KEYS: `team-a:${KEYS.a},team-b:${KEYS.b},ops:${KEYS.ops}`,
    GATEWAY_OPERATOR_TEAMS: 'ops',
    GATEWAY_TEAM_PORTALS: `team-a:*,team-b:${first!.memberId}`,
    BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9/bot-events',
    GATEWAY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  };
}

const call = (portal: string, body: object, key = KEYS.a, method = TRANSFER, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/portals/${portal}/rest/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 20, accessTtlMs: 2_000 });
  dataDir = temporaryDataDir();
  gateway = await startGatewayProcess(environment());
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await cloud?.close();
});

describe('application mode', () => {
  it('installs every portal as Bitrix24 sends the install, with its bot', async () => {
    for (const portal of cloud.portals) {
      const delivery = await cloud.install(portal, `${gateway.url}/bitrix24/events`);
      expect(delivery.status, delivery.body).toBe(200);
      expect(JSON.parse(delivery.body)).toEqual({ event: 'ONAPPINSTALL', member_id: portal.memberId, state: 'ready' });
      expect(portal.bots.filter((bot) => bot.ours)).toHaveLength(1);
    }
  }, 60_000);

  it('lists to each team the portals it may call, and never a token', async () => {
    const list = async (key: string) =>
      (await (await fetch(`${gateway.url}/portals`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        portals: { member_id: string; domain: string; state: string }[];
      };
    const all = await list(KEYS.a);
    expect(all.portals.map((portal) => portal.member_id).sort()).toEqual(
      cloud.portals.map((portal) => portal.memberId).sort(),
    );
    expect(all.portals.every((portal) => portal.state === 'ready')).toBe(true);
    expect((await list(KEYS.b)).portals.map((portal) => portal.member_id)).toEqual([cloud.portals[0]!.memberId]);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain(
      `gateway_application_events_total{event="ONAPPINSTALL",outcome="installed"} ${cloud.portals.length}`,
    );
  });

  it("shows the operator every portal with its state, bot and refresh token's age, and no one else", async () => {
    const seen = async (key: string) =>
      fetch(`${gateway.url}/operator/portals`, { headers: { authorization: `Bearer ${key}` } });
    const refused = await seen(KEYS.a);
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toBe('OPERATOR_ONLY');
    const answer = await seen(KEYS.ops);
    expect(answer.status).toBe(200);
    const text = await answer.text();
    const { portals } = JSON.parse(text) as { portals: Record<string, unknown>[] };
    expect(portals.map((portal) => portal.member_id)).toEqual(cloud.portals.map((portal) => portal.memberId).sort());
    for (const portal of portals) {
      expect(portal).toMatchObject({ state: 'ready', bot_id: expect.any(Number) });
      expect(portal.refresh_token_age_seconds).toBeGreaterThanOrEqual(0);
      expect(Object.keys(portal).sort()).toEqual(
        ['bot_id', 'domain', 'installed_at', 'member_id', 'refresh_token_age_seconds', 'state'].sort(),
      );
    }
    for (const portal of cloud.portals) expect(text).not.toContain(portal.applicationToken);
  });

  it('calls a portal by member_id or by address, the gateway adding its token', async () => {
    const [first, second] = cloud.portals;
    const byId = await call(first!.memberId, { CHAT_ID: 112, USER_ID: 12 });
    expect(byId.status, await byId.clone().text()).toBe(200);
    expect(await byId.json()).toMatchObject({ result: true });
    const byAddress = await call(second!.domain, { CHAT_ID: 112, USER_ID: 12 });
    expect(byAddress.status).toBe(200);
  });

  it('scopes an Idempotency-Key to the portal: the same key on another portal is another call', async () => {
    const [first, second] = cloud.portals;
    const key = { 'idempotency-key': `key-${randomBytes(6).toString('hex')}` };
    const body = { CHAT_ID: 112, USER_ID: 12 };
    const sent = (portal: typeof first) => portal!.calls(TRANSFER);
    const before = [sent(first), sent(second)];
    expect((await call(first!.memberId, body, KEYS.a, TRANSFER, key)).status).toBe(200);
    const replayed = await call(first!.memberId, body, KEYS.a, TRANSFER, key);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect((await call(second!.memberId, body, KEYS.a, TRANSFER, key)).status).toBe(200);
    expect([sent(first), sent(second)]).toEqual([before[0]! + 1, before[1]! + 1]);
  });

  it("refuses a team outside its portals, and a caller's own auth or CLIENT_ID, with nothing sent", async () => {
    const other = cloud.portals[1]!;
    const before = other.calls();
    const refused = await call(other.memberId, { CHAT_ID: 112, USER_ID: 12 }, KEYS.b);
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toBe('PORTAL_NOT_ALLOWED');
    const auth = await call(other.memberId, { CHAT_ID: 112, USER_ID: 12, auth: 'x'.repeat(32) });
    expect(auth.status).toBe(400);
    expect((await auth.json()).error).toBe('INVALID_PARAMETER');
    const clientId = await call(other.memberId, { CHAT_ID: 112, USER_ID: 12, CLIENT_ID: 'abc' });
    expect(clientId.status).toBe(400);
    expect(other.calls()).toBe(before);
    const missing = await call('0123456789abcdef0123456789abcdef', { CHAT_ID: 112, USER_ID: 12 });
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toBe('PORTAL_NOT_INSTALLED');
  });

  it('renews tokens that live 2 s under calls for 20 s: every call 200, no refresh token spent twice', async () => {
    const statuses = new Map<number, number>();
    const bodies = new Map<number, string>();
    const until = Date.now() + 20_000;
    const workers = Array.from({ length: 8 }, async (_unused, worker) => {
      for (let n = worker; Date.now() < until; n += 8) {
        const portal = cloud.portals[n % cloud.portals.length]!;
        const answer = await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const text = await answer.text();
        if (answer.status !== 200 && !bodies.has(answer.status)) bodies.set(answer.status, text);
      }
    });
    await Promise.all(workers);
    expect([...statuses.keys()], JSON.stringify([...bodies])).toEqual([200]);
    expect(cloud.stats.invalidGrant).toBe(0);
    // Tokens expired many times over: refreshes happened, each of a token presented once.
    expect(cloud.stats.refreshes).toBeGreaterThan(cloud.portals.length);
  }, 60_000);

  it('keeps every portal through kill -9 and a restart, with no reinstall', async () => {
    await gateway.stop();
    gateway = await startGatewayProcess(environment());
    for (const portal of cloud.portals.slice(0, 3)) {
      const answer = await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
      expect(answer.status, await answer.clone().text()).toBe(200);
    }
    expect(cloud.stats.invalidGrant).toBe(0);
  }, 30_000);

  it('rotates its token key with no reinstall: the new key first, a restart, then the old one dropped', async () => {
    const newKey = `k2:${randomBytes(32).toString('base64')}`;
    tokenKey = `${newKey},${TOKEN_KEY}`;
    await gateway.stop();
    gateway = await startGatewayProcess(environment());
    await loggedLine(gateway, (line) => line.includes('sealed again under the first GATEWAY_TOKEN_KEY'));
    tokenKey = newKey;
    await gateway.stop();
    gateway = await startGatewayProcess(environment());
    for (const portal of cloud.portals.slice(0, 3)) {
      const answer = await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
      expect(answer.status, await answer.clone().text()).toBe(200);
    }
  }, 30_000);

  it('retries a renewal whose answer was lost once, and reports the portal lost, never silently', async () => {
    const portal = cloud.portals[2]!;
    portal.expireAccessTokens();
    const hold = cloud.holdTokenAnswers();
    const answering = call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
    await hold.waiting(1, 15_000);
    // The authorization server spent the refresh token, and its answer never came back.
    hold.cut();
    const answer = await answering;
    // Retried once with the same token: the server had spent it (invalid_grant), so the portal is lost.
    expect(answer.status).toBe(503);
    expect((await answer.json()).error).toBe('PORTAL_NEEDS_REINSTALL');
    await loggedLine(gateway, (line) => line.includes(portal.memberId) && line.includes('needs a re-install'));
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).toContain('gateway_portals_lost_total 1');
    const later = await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
    expect((await later.json()).error).toBe('PORTAL_NEEDS_REINSTALL');
    // Installing the application again repairs it.
    const reinstall = await cloud.install(portal, `${gateway.url}/bitrix24/events`);
    expect(reinstall.status, reinstall.body).toBe(200);
    expect((await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 })).status).toBe(200);
  }, 60_000);

  it('believes an uninstall only with the portal’s application_token', async () => {
    const portal = cloud.portals.at(-1)!;
    const handler = `${gateway.url}/bitrix24/events`;
    // Sent as Bitrix24 would, by someone who knows the member_id but not the token: the portal stays.
    const forged = await cloud.send(handler, {
      event: 'ONAPPUNINSTALL',
      data: { LANGUAGE_ID: 'en', CLEAN: '0' },
      ts: String(Math.floor(Date.now() / 1000)),
      auth: { member_id: portal.memberId, domain: portal.domain, application_token: 'f'.repeat(32) },
    });
    expect(forged.status).toBe(403);
    expect((await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 })).status).toBe(200);
    const real = await cloud.uninstall(portal, handler);
    expect(real.status, real.body).toBe(200);
    const after = await call(portal.memberId, { CHAT_ID: 112, USER_ID: 12 });
    expect(after.status).toBe(404);
  });

  it('keeps no token in plain text in its data folder or its log', async () => {
    const secrets = [
      CLIENT_SECRET,
      TOKEN_KEY.slice(3),
      tokenKey.slice(3),
      ...cloud.portals.map((portal) => portal.applicationToken),
    ];
    const log = gateway.lines.join('\n');
    for (const secret of secrets) expect(log).not.toContain(secret);
    for (const file of readdirSync(dataDir)) {
      const bytes = readFileSync(join(dataDir, file));
      for (const secret of secrets) expect(bytes.includes(Buffer.from(secret)), file).toBe(false);
    }
  });
});
