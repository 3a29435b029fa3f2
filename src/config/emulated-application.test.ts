// EMULATOR_APPLICATION=true (`make start-application`): its defaults (the documented demo key, every team
// of the keys on every portal, a loopback bot events URL, a data folder of its own unless one is set), each
// setting of a real portal or application refused beside it naming the switch (never quoting a value), and
// plain `make start`, without it, exactly as before.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { problems } from '../test-support/config';
import { loadConfig } from '.';
import { demoApiKey, demoBotEventsUrl } from './application';

const on = { EMULATOR_APPLICATION: 'true' };
const secret = 'S3cr3tAppSecretValue0123456789';
const tokenKey = `k1:${randomBytes(32).toString('base64')}`;

describe('EMULATOR_APPLICATION', () => {
  it('is the emulator with an application: the demo key, its team on every portal, a data folder of its own', () => {
    const config = loadConfig(on);
    expect(config.upstream).toEqual({
      mode: 'emulator',
      clientId: 'emulator.bot',
      application: {
        teamPortals: new Map([['demo', '*']]),
        bot: { code: 'gateway_bot', name: 'Gateway bot', eventsUrl: new URL(demoBotEventsUrl) },
        installLimits: { perSourcePerMinute: 120, perMinute: 600 },
        operatorTeams: new Set(),
        portalPlans: new Map(),
        dataDirSet: false,
      },
    });
    expect(config.apiKeys).toEqual(new Map([[demoApiKey.key, 'demo']]));
    expect(demoApiKey).toEqual({ team: 'demo', key: 'demo-key-0123456789' });
    expect(config.allowAnonymous).toBe(false);
  });

  it("takes the caller's keys, teams, bot and data folder when given", () => {
    const config = loadConfig({
      ...on,
      GATEWAY_API_KEYS: 'alpha:alpha-key-0123456789,beta:beta-key-0123456789',
      BITRIX24_BOT_CODE: 'demo_bot',
      BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:7000/bot',
      GATEWAY_DATA_DIR: 'demo-data',
    });
    expect(config.apiKeys).toEqual(
      new Map([
        ['alpha-key-0123456789', 'alpha'],
        ['beta-key-0123456789', 'beta'],
      ]),
    );
    expect(config.upstream).toMatchObject({
      application: {
        teamPortals: new Map([
          ['alpha', '*'],
          ['beta', '*'],
        ]),
        bot: { code: 'demo_bot', eventsUrl: new URL('http://127.0.0.1:7000/bot') },
        dataDirSet: true,
      },
    });
    expect(config.dataDir).toBe(resolve('demo-data'));
    const named = loadConfig({ ...on, GATEWAY_TEAM_PORTALS: 'demo:demo-portal-2' }).upstream;
    expect(named).toMatchObject({ application: { teamPortals: new Map([['demo', new Set(['demo-portal-2'])]]) } });
  });

  it.each([
    ['BITRIX24_WEBHOOK_URL', { BITRIX24_WEBHOOK_URL: 'https://portal.example/rest/1/s3cr3tc0de/' }],
    ['BITRIX24_PORTAL_URL', { BITRIX24_PORTAL_URL: 'https://portal.example' }],
    ['BITRIX24_APP_CLIENT_ID', { BITRIX24_APP_CLIENT_ID: 'local.app.1', BITRIX24_APP_CLIENT_SECRET: secret }],
    ['BITRIX24_APP_CLIENT_SECRET', { BITRIX24_APP_CLIENT_SECRET: secret }],
    ['BITRIX24_OAUTH_URL', { BITRIX24_OAUTH_URL: 'https://oauth.example.com' }],
    ['BITRIX24_OAUTH_HOSTS', { BITRIX24_OAUTH_HOSTS: 'oauth.example.com' }],
    ['GATEWAY_TOKEN_KEY', { GATEWAY_TOKEN_KEY: tokenKey }],
    ['REDIS_URL', { REDIS_URL: 'redis://:p4ssw0rd@127.0.0.1:6379', GATEWAY_REPLICAS: '2' }],
    ['GATEWAY_ALLOW_ANONYMOUS', { GATEWAY_ALLOW_ANONYMOUS: 'true' }],
    ['HOST', { HOST: '0.0.0.0' }],
  ])('is refused with %s, naming the switch and quoting no value', (name, env) => {
    const text = problems({ ...on, ...env }).join('\n');
    expect(text).toMatch(new RegExp(`EMULATOR_APPLICATION(:| and ${name})`));
    if (name === 'HOST') expect(text).toContain('loopback only');
    for (const value of ['s3cr3tc0de', secret, tokenKey.slice(3), 'p4ssw0rd']) expect(text).not.toContain(value);
  });

  it('listens on any loopback host', () => {
    for (const HOST of ['127.0.0.1', '::1', '[::1]', 'localhost']) expect(problems({ ...on, HOST })).toEqual([]);
  });

  it('is true or false', () => {
    expect(problems({ EMULATOR_APPLICATION: 'yes' })).toEqual(['EMULATOR_APPLICATION: must be true or false']);
    expect(loadConfig({ EMULATOR_APPLICATION: 'false' }).upstream).toEqual({
      mode: 'emulator',
      clientId: 'emulator.bot',
    });
  });

  it('leaves plain `make start` as it was: the embedded emulator, anonymous callers, the data folder `data`', () => {
    const config = loadConfig({});
    expect(config.upstream).toEqual({ mode: 'emulator', clientId: 'emulator.bot' });
    expect(config.apiKeys.size).toBe(0);
    expect(config.allowAnonymous).toBe(true);
    expect(config.dataDir).toBe(resolve('data'));
    // The application's own variables stay refused outside application mode.
    expect(problems({ GATEWAY_TEAM_PORTALS: 'demo:*' }).join('\n')).toMatch(/GATEWAY_TEAM_PORTALS: only used/);
  });
});
