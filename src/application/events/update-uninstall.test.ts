// ONAPPUPDATE and ONAPPUNINSTALL through real HTTP (the cloud emulator posting to a loopback server that hands
// the body to the handler; a real SQLite store): each believed only with the application_token stored for
// its member_id; an update that brings a new application_token believed once Bitrix24 confirms its tokens;
// an update retrying a bot that failed; an uninstall deleting the portal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudPortal } from '../../emulator/cloud';
import { randomToken, type Stack, startStack } from './harness';

let stack: Stack;
let used = 0;
const freshPortal = (): CloudPortal => stack.cloud.portals[used++]!;

beforeAll(async () => {
  stack = await startStack({ portals: 10, limits: { installsPerSourcePerMinute: 1000, installsPerMinute: 1000 } });
});
afterAll(async () => {
  await stack?.close();
});

async function installed(): Promise<CloudPortal> {
  const portal = freshPortal();
  expect((await stack.cloud.install(portal, stack.url)).status).toBe(200);
  return portal;
}

const answerOf = (delivery: { status: number; body: string }) => [delivery.status, JSON.parse(delivery.body)];

describe('ONAPPUNINSTALL', () => {
  it('with another application_token is 403 and changes nothing', async () => {
    const portal = await installed();
    const before = await stack.store.get(portal.memberId);
    const wrong = randomToken();
    const delivery = await stack.cloud.uninstall(portal, stack.url, {
      overrides: { 'auth[application_token]': wrong },
    });
    expect(answerOf(delivery)).toEqual([
      403,
      {
        error: 'EVENT_REFUSED',
        error_description: `The event's auth[application_token] is not the one stored for portal ${portal.memberId}; nothing was changed`,
      },
    ]);
    expect(await stack.store.get(portal.memberId)).toEqual(before);
    // A token of the same length but one character off is refused too.
    const offByOne = `${portal.applicationToken.slice(0, -1)}${portal.applicationToken.endsWith('0') ? '1' : '0'}`;
    const again = await stack.cloud.send(stack.url, delivery.event, {
      overrides: { 'auth[application_token]': offByOne },
    });
    expect(again.status).toBe(403);
    expect(await stack.store.get(portal.memberId)).toEqual(before);
    expect(stack.logText()).not.toContain(wrong);
  });

  it('with the stored application_token deletes the portal', async () => {
    const portal = await installed();
    const delivery = await stack.cloud.uninstall(portal, stack.url);
    expect(answerOf(delivery)).toEqual([
      200,
      { event: 'ONAPPUNINSTALL', member_id: portal.memberId, state: 'uninstalled' },
    ]);
    expect(await stack.store.get(portal.memberId)).toBeUndefined();
    // Sent again: the portal is not held any more.
    const again = await stack.cloud.send(stack.url, delivery.event);
    expect(answerOf(again)).toEqual([
      404,
      {
        error: 'PORTAL_NOT_INSTALLED',
        error_description: `The application is not installed on portal ${portal.memberId}`,
      },
    ]);
    expect(stack.outcomes).toContainEqual(['ONAPPUNINSTALL', 'not-installed']);
  });
});

describe('ONAPPUPDATE', () => {
  it('with the stored application_token answers the portal ready, without refreshing anything', async () => {
    const portal = await installed();
    const before = await stack.store.get(portal.memberId);
    const requests = stack.cloud.stats.tokenRequests;
    const delivery = await stack.cloud.update(portal, stack.url);
    expect(answerOf(delivery)).toEqual([200, { event: 'ONAPPUPDATE', member_id: portal.memberId, state: 'ready' }]);
    expect(stack.cloud.stats.tokenRequests).toBe(requests);
    expect(await stack.store.get(portal.memberId)).toEqual(before);
  });

  it('with a new application_token confirmed by Bitrix24 stores it; the old one no longer uninstalls', async () => {
    const portal = await installed();
    const old = portal.applicationToken;
    const before = await stack.store.get(portal.memberId);
    const delivery = await stack.cloud.update(portal, stack.url, { newApplicationToken: true });
    expect(answerOf(delivery)).toEqual([200, { event: 'ONAPPUPDATE', member_id: portal.memberId, state: 'ready' }]);
    expect(stack.cloud.presented(delivery.event.auth.refresh_token!)).toBe(1);
    const after = await stack.store.get(portal.memberId);
    expect(after).toMatchObject({ applicationToken: portal.applicationToken, state: 'ready', botId: before!.botId });
    expect(after!.tokens.refreshToken).not.toBe(before!.tokens.refreshToken);
    const stale = await stack.cloud.uninstall(portal, stack.url, { overrides: { 'auth[application_token]': old } });
    expect(stale.status).toBe(403);
    expect(await stack.store.get(portal.memberId)).toEqual(after);
  });

  it('with another application_token and tokens Bitrix24 does not confirm is 403, nothing changed', async () => {
    const portal = await installed();
    const before = await stack.store.get(portal.memberId);
    const forged = await stack.cloud.update(portal, stack.url, {
      overrides: { 'auth[application_token]': randomToken(), 'auth[refresh_token]': randomToken() },
    });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body).error_description).toContain('did not confirm the update (invalid_grant)');
    const without = await stack.cloud.update(portal, stack.url, {
      overrides: { 'auth[application_token]': randomToken(), 'auth[refresh_token]': null },
    });
    expect(without.status).toBe(403);
    expect(JSON.parse(without.body).error_description).toContain('is not the one stored');
    expect(await stack.store.get(portal.memberId)).toEqual(before);
  });

  it('of a portal not held is 404', async () => {
    const portal = freshPortal();
    const delivery = await stack.cloud.update(portal, stack.url);
    expect(delivery.status).toBe(404);
    expect(JSON.parse(delivery.body).error).toBe('PORTAL_NOT_INSTALLED');
    expect(await stack.store.get(portal.memberId)).toBeUndefined();
  });

  it('retries the bot of a portal whose bot failed', async () => {
    const portal = freshPortal();
    portal.failBotRegistration = 'ACCESS_DENIED';
    expect(JSON.parse((await stack.cloud.install(portal, stack.url)).body).state).toBe('bot-failed');
    portal.failBotRegistration = undefined;
    const delivery = await stack.cloud.update(portal, stack.url);
    expect(answerOf(delivery)).toEqual([200, { event: 'ONAPPUPDATE', member_id: portal.memberId, state: 'ready' }]);
    const record = await stack.store.get(portal.memberId);
    expect(record).toMatchObject({ state: 'ready', botId: portal.bots.find((one) => one.ours)!.id });
    expect(record!.stateReason).toBeUndefined();
  });

  it('with tokens repairs a portal whose tokens were lost; without them it stays as it is', async () => {
    const portal = await installed();
    await stack.store.setState(portal.memberId, 'needs-reinstall', { reason: 'invalid_grant' });
    const bare = await stack.cloud.update(portal, stack.url, { overrides: { 'auth[refresh_token]': null } });
    expect(JSON.parse(bare.body).state).toBe('needs-reinstall');
    const delivery = await stack.cloud.update(portal, stack.url);
    expect(JSON.parse(delivery.body).state).toBe('ready');
    expect((await stack.store.get(portal.memberId))?.state).toBe('ready');
  });
});
