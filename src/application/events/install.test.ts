// ONAPPINSTALL through real HTTP: the cloud emulator posts the event to a loopback server that hands it to the
// handler, which confirms it at the emulated authorization server (a real OAuthClient), stores the portal in
// a real SQLite data folder and registers the bot on the emulated portal. Forged, mismatched, concurrent,
// repeated and replayed installs, a re-install, and a bot that cannot be registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudPortal } from '../../emulator/cloud';
import { CLIENT_SECRET } from '../../emulator/cloud/testing';
import { randomToken, type Stack, startStack, until } from './harness';

let stack: Stack;
let used = 0;
/** A portal no other test touched. */
const freshPortal = (): CloudPortal => stack.cloud.portals[used++]!;

beforeAll(async () => {
  stack = await startStack({ portals: 12, limits: { installsPerSourcePerMinute: 1000, installsPerMinute: 1000 } });
});
afterAll(async () => {
  await stack?.close();
});

/** Every secret the test saw: none may be in an answer or a log line. */
function secretsOf(portal: CloudPortal, ...more: string[]): string[] {
  return [portal.applicationToken, CLIENT_SECRET, ...more].filter((secret) => secret.length >= 8);
}

function expectNoSecret(text: string, secrets: string[]): void {
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('ONAPPINSTALL', () => {
  it('confirms the install, stores the portal ready with its bot, and logs one line without a token', async () => {
    const portal = freshPortal();
    const requests = stack.cloud.stats.tokenRequests;
    const delivery = await stack.cloud.install(portal, stack.url);
    expect(delivery.status).toBe(200);
    expect(JSON.parse(delivery.body)).toEqual({ event: 'ONAPPINSTALL', member_id: portal.memberId, state: 'ready' });
    expect(stack.cloud.stats.tokenRequests).toBe(requests + 1);
    expect(stack.cloud.presented(delivery.event.auth.refresh_token!)).toBe(1);

    const record = await stack.store.get(portal.memberId);
    const bot = portal.bots.find((one) => one.ours);
    expect(bot).toMatchObject({ type: 'O', openline: 'Y' });
    expect(record).toMatchObject({
      memberId: portal.memberId,
      domain: portal.domain,
      clientEndpoint: portal.clientEndpoint,
      state: 'ready',
      botId: bot!.id,
      applicationToken: portal.applicationToken,
    });
    // The pair stored is the one the exchange issued, not the event's (spent by it).
    expect(record!.tokens.refreshToken).not.toBe(delivery.event.auth.refresh_token);
    expect(record!.tokens.accessToken).not.toBe(delivery.event.auth.access_token);

    const lines = stack.lines.filter((line) => line.member_id === portal.memberId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'ONAPPINSTALL', outcome: 'installed', status: 200 });
    const secrets = secretsOf(
      portal,
      delivery.event.auth.access_token!,
      delivery.event.auth.refresh_token!,
      record!.tokens.accessToken,
      record!.tokens.refreshToken,
    );
    expectNoSecret(stack.logText(), secrets);
    expectNoSecret(delivery.body, secrets);
    expect(stack.outcomes).toContainEqual(['ONAPPINSTALL', 'installed']);
  });

  it('a forged install (a refresh token Bitrix24 never issued) is 403 and stores nothing', async () => {
    const portal = freshPortal();
    const forged = randomToken();
    const delivery = await stack.cloud.install(portal, stack.url, { overrides: { 'auth[refresh_token]': forged } });
    expect(delivery.status).toBe(403);
    expect(JSON.parse(delivery.body)).toEqual({
      error: 'EVENT_REFUSED',
      error_description: 'The authorization server did not confirm the install (invalid_grant); nothing was stored',
    });
    expect(await stack.store.get(portal.memberId)).toBeUndefined();
    expect(portal.bots).toEqual([]);
    expectNoSecret(stack.logText(), [forged, portal.applicationToken]);
  });

  it('an event whose member_id, domain or client_endpoint is not what Bitrix24 answers is 403, nothing stored', async () => {
    const portal = freshPortal();
    const other = freshPortal();
    const cases: [Record<string, string>, string][] = [
      [{ 'auth[member_id]': other.memberId }, "The authorization server's answer is for another portal"],
      [{ 'auth[domain]': other.domain }, "The event's auth[domain] is not the address of the portal"],
      [{ 'auth[domain]': 'attacker.example' }, "The event's auth[domain] is not the address of the portal"],
      [{ 'auth[client_endpoint]': other.clientEndpoint }, "The event's auth[client_endpoint] is not on the portal"],
    ];
    for (const [overrides, words] of cases) {
      const delivery = await stack.cloud.install(portal, stack.url, { overrides });
      expect(delivery.status, JSON.stringify(overrides)).toBe(403);
      const body = JSON.parse(delivery.body);
      expect(body.error).toBe('EVENT_REFUSED');
      expect(body.error_description).toContain(words);
      expect(body.error_description).toContain('nothing was stored');
      // Bitrix24 was asked (the token is spent), and its pair dropped.
      expect(stack.cloud.presented(delivery.event.auth.refresh_token!)).toBe(1);
    }
    expect(await stack.store.get(portal.memberId)).toBeUndefined();
    expect(await stack.store.get(other.memberId)).toBeUndefined();
    expect(portal.bots).toEqual([]);
  });

  it('two installs of one portal at once: one exchange, both answered alike', async () => {
    const portal = freshPortal();
    const requests = stack.cloud.stats.tokenRequests;
    const received = stack.received.length;
    const hold = stack.cloud.holdTokenAnswers();
    const first = stack.cloud.install(portal, stack.url);
    await hold.waiting(1);
    const second = stack.cloud.install(portal, stack.url);
    // The same delivery repeated, too (the same body, so the same refresh token).
    await until(() => stack.received.length >= received + 2);
    const repeated = stack.post(stack.received[received]!);
    await until(() => stack.received.length >= received + 3);
    expect(stack.handler.inFlight).toBe(1);
    expect(stack.cloud.stats.tokenRequests).toBe(requests + 1);
    hold.release();
    const answers = await Promise.all([first, second]);
    const answer = { event: 'ONAPPINSTALL', member_id: portal.memberId, state: 'ready' };
    expect(answers.map((one) => [one.status, JSON.parse(one.body)])).toEqual([
      [200, answer],
      [200, answer],
    ]);
    expect(await repeated).toMatchObject({ status: 200, body: answer });
    expect(stack.cloud.stats.tokenRequests).toBe(requests + 1);
    expect(stack.cloud.presented(answers[1]!.event.auth.refresh_token!)).toBe(0);
    expect(portal.bots.filter((one) => one.ours)).toHaveLength(1);
    expect(stack.handler.inFlight).toBe(0);
  });

  it('a forged install in flight does not make Bitrix24’s own install of the portal fail', async () => {
    const portal = freshPortal();
    const hold = stack.cloud.holdTokenAnswers();
    const forged = stack.cloud.install(portal, stack.url, { overrides: { 'auth[refresh_token]': randomToken() } });
    await hold.waiting(1);
    const real = stack.cloud.install(portal, stack.url);
    const received = stack.received.length;
    await until(() => stack.received.length >= received + 1);
    hold.release();
    expect((await forged).status).toBe(403);
    const answer = await real;
    expect([answer.status, JSON.parse(answer.body).state]).toEqual([200, 'ready']);
    expect((await stack.store.get(portal.memberId))?.state).toBe('ready');
  });

  it('a replay of a spent install’s body is 403 (its refresh token is spent) and changes nothing', async () => {
    const portal = freshPortal();
    const received = stack.received.length;
    expect((await stack.cloud.install(portal, stack.url)).status).toBe(200);
    const before = await stack.store.get(portal.memberId);
    const replay = await stack.post(stack.received[received]!);
    expect(replay).toMatchObject({ status: 403, body: { error: 'EVENT_REFUSED' } });
    expect(replay.body.error_description).toContain('invalid_grant');
    expect(await stack.store.get(portal.memberId)).toEqual(before);
  });

  it('a re-install replaces the tokens and repairs a portal that needs reinstalling', async () => {
    const portal = freshPortal();
    expect((await stack.cloud.install(portal, stack.url)).status).toBe(200);
    const first = await stack.store.get(portal.memberId);
    await stack.store.setState(portal.memberId, 'needs-reinstall', { reason: 'the authorization server refused' });
    const delivery = await stack.cloud.install(portal, stack.url, { newApplicationToken: true });
    expect([delivery.status, JSON.parse(delivery.body).state]).toEqual([200, 'ready']);
    const after = await stack.store.get(portal.memberId);
    expect(after).toMatchObject({ state: 'ready', botId: first!.botId, applicationToken: portal.applicationToken });
    expect(after!.stateReason).toBeUndefined();
    expect(after!.applicationToken).not.toBe(first!.applicationToken);
    expect(after!.tokens.refreshToken).not.toBe(first!.tokens.refreshToken);
    expect(portal.bots.filter((one) => one.ours)).toHaveLength(1);
  });

  it('a bot that cannot be registered leaves the portal bot-failed with the reason', async () => {
    const portal = freshPortal();
    portal.failBotRegistration = 'ACCESS_DENIED';
    try {
      const delivery = await stack.cloud.install(portal, stack.url);
      expect(delivery.status).toBe(200);
      expect(JSON.parse(delivery.body)).toEqual({
        event: 'ONAPPINSTALL',
        member_id: portal.memberId,
        state: 'bot-failed',
      });
      expect(await stack.store.get(portal.memberId)).toMatchObject({
        state: 'bot-failed',
        stateReason: 'imbot.register answered ACCESS_DENIED',
      });
      const line = stack.lines.find((one) => one.member_id === portal.memberId);
      expect(line).toMatchObject({ outcome: 'bot-failed', reason: 'imbot.register answered ACCESS_DENIED' });
    } finally {
      portal.failBotRegistration = undefined;
    }
  });

  it('an authorization server that does not answer is 503 with Retry-After, and nothing is stored', async () => {
    const portal = freshPortal();
    const hold = stack.cloud.holdTokenAnswers();
    const delivery = stack.cloud.install(portal, stack.url);
    await hold.waiting(1);
    hold.cut();
    const answer = await delivery;
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body).error).toBe('AUTHORIZATION_SERVER_UNAVAILABLE');
    expect(await stack.store.get(portal.memberId)).toBeUndefined();
  });
});
