// The cloud's authorization server through real HTTP: a refresh answers every field of TokenAnswer, spends
// its refresh token once, and kills the access token issued with it; wrong clients and unknown, spent or
// expired refresh tokens are refused.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCloud } from '.';
import { CLIENT_ID, CLIENT_SECRET, callJson, refresh, startHandler } from './testing';
import type { Cloud } from './types';

let clock = Date.now();
let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;

beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, now: () => clock });
  handler = await startHandler();
});
afterAll(async () => {
  await cloud.close();
  await handler.close();
});
afterEach(() => {
  clock = Date.now();
});

/** A fresh pair for the portal, from an install event. */
async function installed(index = 0) {
  const { event } = await cloud.install(cloud.portals[index]!, handler.url);
  return { access: event.auth.access_token!, refresh: event.auth.refresh_token! };
}

describe('refresh_token grant', () => {
  it('answers every field of TokenAnswer: new tokens, the portal, and the authorization server as domain', async () => {
    const portal = cloud.portals[1]!;
    const pair = await installed(1);
    const { status, body } = await refresh(cloud, pair.refresh);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        'access_token',
        'client_endpoint',
        'domain',
        'expires',
        'expires_in',
        'member_id',
        'refresh_token',
        'scope',
        'server_endpoint',
        'status',
        'user_id',
      ].sort(),
    );
    expect(body.access_token).toMatch(/^[0-9a-f]{72}$/);
    expect(body.refresh_token).toMatch(/^[0-9a-f]{72}$/);
    expect([body.access_token, body.refresh_token]).not.toContain(pair.access);
    expect(body.refresh_token).not.toBe(pair.refresh);
    expect(body.expires_in).toBe(3600);
    expect(body.expires).toBe(Math.floor((clock + 3_600_000) / 1000));
    expect(body.scope).toBe('imbot,imopenlines');
    expect(body.domain).toBe(new URL(cloud.oauthUrl).host);
    expect(body.domain).not.toBe(portal.domain);
    expect(body.server_endpoint).toBe(`${cloud.oauthUrl}/rest/`);
    expect(body.client_endpoint).toBe(portal.clientEndpoint);
    expect(body.client_endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/rest\/$/);
    expect(body.member_id).toBe(portal.memberId);
    expect(body.member_id).toMatch(/^[0-9a-f]{32}$/);
    expect(body.user_id).toBe(1);
    expect(body.status).toBe('L');
  });

  it('spends a refresh token once: the second presentation is invalid_grant', async () => {
    const pair = await installed();
    const before = { ...cloud.stats };
    expect((await refresh(cloud, pair.refresh)).status).toBe(200);
    const second = await refresh(cloud, pair.refresh);
    expect(second).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid refresh token' },
    });
    expect(cloud.presented(pair.refresh)).toBe(2);
    expect(cloud.stats.invalidGrant).toBe(before.invalidGrant + 1);
    expect(cloud.stats.refreshes).toBe(before.refreshes + 1);
    expect(cloud.stats.tokenRequests).toBe(before.tokenRequests + 2);
  });

  it('kills the access token issued with the refresh token spent; the new one works', async () => {
    const portal = cloud.portals[0]!;
    const pair = await installed();
    expect((await callJson(portal, 'server.time', {}, pair.access)).status).toBe(200);
    const { body } = await refresh(cloud, pair.refresh);
    expect((await callJson(portal, 'server.time', {}, pair.access)).body.error).toBe('NO_AUTH_FOUND');
    expect((await callJson(portal, 'server.time', {}, body.access_token)).status).toBe(200);
  });

  it('takes its parameters from a GET query string too', async () => {
    const pair = await installed();
    const query = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: pair.refresh,
    });
    const response = await fetch(`${cloud.oauthUrl}/oauth/token/?${query}`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    expect((await response.json()).member_id).toBe(cloud.portals[0]!.memberId);
  });

  it('answers invalid_client (401) to a wrong secret or client id, and spends nothing', async () => {
    const pair = await installed();
    const wrongs: Record<string, string>[] = [
      { client_secret: 'not-the-secret' },
      { client_id: 'local.other' },
      { client_secret: '' },
    ];
    for (const wrong of wrongs) {
      const { status, body } = await refresh(cloud, pair.refresh, wrong);
      expect(status).toBe(401);
      expect(body).toEqual({ error: 'invalid_client', error_description: 'The client credentials are invalid' });
      expect(JSON.stringify(body)).not.toContain(CLIENT_SECRET);
    }
    expect((await refresh(cloud, pair.refresh)).status).toBe(200);
  });

  it('answers invalid_grant to an unknown and to an expired refresh token', async () => {
    expect((await refresh(cloud, 'f'.repeat(72))).body.error).toBe('invalid_grant');
    const pair = await installed();
    clock += 181 * 24 * 3_600_000;
    const { status, body } = await refresh(cloud, pair.refresh);
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'invalid_grant', error_description: 'Refresh token has expired' });
  });

  it('refuses other grant types, other paths and oversized bodies, and stays up', async () => {
    expect((await refresh(cloud, 'x', { grant_type: 'authorization_code' })).body.error).toBe('unsupported_grant_type');
    expect((await fetch(`${cloud.oauthUrl}/oauth/authorize/`)).status).toBe(404);
    const big = await fetch(`${cloud.oauthUrl}/oauth/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `refresh_token=${'a'.repeat(100_000)}`,
    }).catch(() => undefined);
    expect(big === undefined || big.status === 413).toBe(true);
    const pair = await installed();
    expect((await refresh(cloud, pair.refresh)).status).toBe(200);
  });
});
