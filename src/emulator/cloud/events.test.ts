// The application events a cloud portal POSTs, received by a real loopback handler and read as PHP reads
// them (phpFormParams): ONAPPINSTALL with every documented field and a working pair, ONAPPUPDATE,
// ONAPPUNINSTALL without tokens, and forged variants through the same encoder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { phpFormParams } from '../../bitrix24-semantics';
import { eventBody, startCloud } from '.';
import { CLIENT_ID, CLIENT_SECRET, callJson, refresh, startHandler } from './testing';
import type { Cloud } from './types';

let cloud: Cloud;
let handler: Awaited<ReturnType<typeof startHandler>>;

beforeAll(async () => {
  cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  handler = await startHandler();
});
afterAll(async () => {
  await cloud.close();
  await handler.close();
});

/** The last event the handler received, as PHP's $_POST would hold it. */
function lastReceived() {
  const event = handler.received.at(-1)!;
  // biome-ignore lint/suspicious/noExplicitAny: read field by field
  return { ...event, params: phpFormParams(new URLSearchParams(event.body)) as any };
}

describe('ONAPPINSTALL', () => {
  it("is a PHP bracket form with the documented fields; the handler's answer comes back", async () => {
    const portal = cloud.portals[0]!;
    const before = Date.now();
    const delivery = await cloud.install(portal, handler.url);
    expect(delivery.status).toBe(200);
    expect(delivery.body).toBe('installed');
    const { contentType, body, params } = lastReceived();
    expect(contentType).toBe('application/x-www-form-urlencoded');
    expect(body).toContain('auth%5Baccess_token%5D=');
    expect(body.startsWith('event=ONAPPINSTALL&data%5BVERSION%5D=')).toBe(true);
    expect(params.event).toBe('ONAPPINSTALL');
    expect(params.data).toEqual({ VERSION: '1', ACTIVE: 'Y', INSTALLED: 'Y', LANGUAGE_ID: 'en' });
    expect(Number(params.ts)).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(Object.keys(params.auth).sort()).toEqual(
      [
        'access_token',
        'application_token',
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
    const { auth } = params;
    expect(Object.values(auth).every((value) => typeof value === 'string')).toBe(true);
    expect(auth.domain).toBe(portal.domain);
    expect(auth.client_endpoint).toBe(portal.clientEndpoint);
    expect(auth.server_endpoint).toBe(cloud.serverEndpoint);
    expect(auth.member_id).toBe(portal.memberId);
    expect(auth.application_token).toBe(portal.applicationToken);
    expect(auth.application_token).toMatch(/^[0-9a-f]{32}$/);
    expect(auth.scope).toBe('imbot,imopenlines');
    expect(auth.expires_in).toBe('3600');
    expect(Number(auth.expires)).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 3600);
    expect([auth.user_id, auth.status]).toEqual(['1', 'L']);
    expect(portal.installed).toBe(true);
    // The pair is real: the access token calls the portal, the refresh token is exchanged once.
    expect((await callJson(portal, 'server.time', {}, auth.access_token)).status).toBe(200);
    const refreshed = await refresh(cloud, auth.refresh_token);
    expect(refreshed.body.member_id).toBe(portal.memberId);
  });

  it('keeps the application_token on a re-install, unless told to change it', async () => {
    const portal = cloud.portals[1]!;
    await cloud.install(portal, handler.url);
    const first = lastReceived().params.auth.application_token;
    await cloud.install(portal, handler.url);
    expect(lastReceived().params.auth.application_token).toBe(first);
    await cloud.install(portal, handler.url, { newApplicationToken: true });
    const renewed = lastReceived().params.auth.application_token;
    expect(renewed).not.toBe(first);
    expect(portal.applicationToken).toBe(renewed);
  });
});

describe('ONAPPUPDATE and ONAPPUNINSTALL', () => {
  it('ONAPPUPDATE brings a new pair, and a new application_token when asked', async () => {
    const portal = cloud.portals[1]!;
    await cloud.update(portal, handler.url, { newApplicationToken: 'fresh-application-token' });
    const { params } = lastReceived();
    expect(params.event).toBe('ONAPPUPDATE');
    expect(params.data).toEqual({ VERSION: '2', PREVIOUS_VERSION: '1', LANGUAGE_ID: 'en' });
    expect(params.auth.application_token).toBe('fresh-application-token');
    expect((await callJson(portal, 'server.time', {}, params.auth.access_token)).status).toBe(200);
  });

  it('ONAPPUNINSTALL carries no token, only who the portal is and its application_token', async () => {
    const portal = cloud.portals[0]!;
    await cloud.install(portal, handler.url);
    const { access_token } = lastReceived().params.auth;
    await cloud.uninstall(portal, handler.url, { clean: true });
    const { params, body } = lastReceived();
    expect(params.event).toBe('ONAPPUNINSTALL');
    expect(params.data).toEqual({ LANGUAGE_ID: 'en', CLEAN: '1' });
    expect(params.auth).toEqual({
      domain: portal.domain,
      server_endpoint: cloud.serverEndpoint,
      client_endpoint: portal.clientEndpoint,
      member_id: portal.memberId,
      application_token: portal.applicationToken,
    });
    expect(body).not.toContain('token%5D=&');
    expect((await callJson(portal, 'server.time', {}, access_token)).body.error).toBe('NO_AUTH_FOUND');
  });
});

describe('forged and variant events', () => {
  it('are built by the same encoder, field by field: replaced, dropped or added', async () => {
    const portal = cloud.portals[0]!;
    const { event } = await cloud.install(portal, handler.url, {
      overrides: { 'auth[application_token]': 'forged', 'auth[refresh_token]': null, 'auth[extra][]': 'x' },
    });
    const { params, body } = lastReceived();
    expect(params.auth.application_token).toBe('forged');
    expect(params.auth.refresh_token).toBeUndefined();
    expect(Object.entries(params.auth.extra)).toEqual([['0', 'x']]); // PHP's list: key 0
    expect(body).toBe(
      eventBody(event, { 'auth[application_token]': 'forged', 'auth[refresh_token]': null, 'auth[extra][]': 'x' }),
    );
    // Any event, sent as is.
    const answer = await cloud.send(handler.url, { ...event, event: 'ONAPPTEST', data: { A: 'b c' } });
    expect(answer.status).toBe(200);
    expect(lastReceived().body).toContain('event=ONAPPTEST&data%5BA%5D=b+c&ts=');
  });
});
