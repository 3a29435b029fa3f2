// Held token answers through real HTTP: the refresh is processed while its answer waits; released, it
// arrives; cut, the connection closes without one and the refresh token stays spent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloud } from '.';
import { CLIENT_ID, CLIENT_SECRET, callJson, refresh, startHandler } from './testing';
import type { Cloud } from './types';

let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;

beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 1 });
  handler = await startHandler();
});
afterAll(async () => {
  await cloud.close();
  await handler.close();
});

async function pair() {
  const { event } = await cloud.install(cloud.portals[0]!, handler.url);
  return { access: event.auth.access_token!, refresh: event.auth.refresh_token! };
}

describe('holdTokenAnswers', () => {
  it('processes the refresh at once and sends its answer on release', async () => {
    const portal = cloud.portals[0]!;
    const old = await pair();
    const hold = cloud.holdTokenAnswers();
    const answer = refresh(cloud, old.refresh);
    await hold.waiting(1);
    expect(hold.held).toBe(1);
    // Processed: the refresh token was spent, and the access token issued with it died.
    expect(cloud.presented(old.refresh)).toBe(1);
    expect((await callJson(portal, 'server.time', {}, old.access)).body.error).toBe('NO_AUTH_FOUND');
    hold.release();
    const { status, body } = await answer;
    expect(status).toBe(200);
    expect((await callJson(portal, 'server.time', {}, body.access_token)).status).toBe(200);
    // The hold ended: answers go out at once again.
    expect((await refresh(cloud, body.refresh_token)).status).toBe(200);
  });

  it('cuts the connections of held answers: no answer, the refresh token spent for good', async () => {
    const old = await pair();
    const hold = cloud.holdTokenAnswers();
    const answer = refresh(cloud, old.refresh).then(
      () => 'answered',
      () => 'cut',
    );
    await hold.waiting(1);
    hold.cut();
    expect(await answer).toBe('cut');
    expect((await refresh(cloud, old.refresh)).body.error).toBe('invalid_grant');
    expect(cloud.presented(old.refresh)).toBe(2);
  });

  it('holds two refreshes of one token: one new pair, one invalid_grant', async () => {
    const old = await pair();
    const hold = cloud.holdTokenAnswers();
    const answers = Promise.all([refresh(cloud, old.refresh), refresh(cloud, old.refresh)]);
    await hold.waiting(2);
    hold.release();
    const statuses = (await answers).map(({ status, body }) => `${status} ${body.error ?? 'pair'}`).sort();
    expect(statuses).toEqual(['200 pair', '400 invalid_grant']);
  });

  it('waiting() has a deadline, and one hold at a time', async () => {
    const hold = cloud.holdTokenAnswers();
    expect(() => cloud.holdTokenAnswers()).toThrow(/already held/);
    await expect(hold.waiting(1, 50)).rejects.toThrow(/0 token answers held after 50 ms/);
    hold.release();
    await expect(hold.waiting(1)).rejects.toThrow(/ended/);
  });
});
