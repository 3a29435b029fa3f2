// Application mode's configuration (issue 33): every variable's accepted and refused values, what the mode
// needs of the rest (keys, no anonymous callers, no webhook or portal URL), each of its variables refused
// outside it, and no problem ever quoting the client secret or a token key.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_KEYS, parseTokenKeys } from '../application/token-key';
import { problems } from '../test-support/config';
import { configurationVariables, loadConfig } from '.';
import { parseTeamPortals, teamPortalWarnings } from './application';

const secret = 'S3cr3tAppSecretValue0123456789';
const keyBytes = Buffer.from('00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210', 'hex');
const keyBase64 = keyBytes.toString('base64');
const keyHex = keyBytes.toString('hex');
const otherKey = Buffer.from(keyBytes.map((byte) => byte ^ 0x5a));
const member = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** A whole application mode, each test changing one thing. */
const app = {
  BITRIX24_APP_CLIENT_ID: 'local.64b0c7d9a1e2f3.12345678',
  BITRIX24_APP_CLIENT_SECRET: secret,
  GATEWAY_API_KEYS: 'alpha:alpha-key-0123456789,beta:beta-key-0123456789',
  GATEWAY_TOKEN_KEY: `k1:${keyBase64}`,
  BITRIX24_BOT_EVENTS_URL: 'https://bot.example.com/events',
};

const upstreamOf = (env: Record<string, string>) => loadConfig(env).upstream;
/** The problems of `env`, checked to quote neither the client secret nor any key it holds. */
function refusals(env: Record<string, string>): string {
  const text = problems(env).join('\n');
  for (const material of [secret, keyBase64, keyHex, otherKey.toString('base64'), otherKey.toString('hex')])
    expect(text).not.toContain(material);
  return text;
}

describe('application mode', () => {
  it('is on with a client id and secret, with its defaults', () => {
    const config = loadConfig(app);
    expect(config.upstream).toEqual({
      mode: 'application',
      clientId: 'local.64b0c7d9a1e2f3.12345678',
      clientSecret: secret,
      oauthUrl: new URL('https://oauth.bitrix.info'),
      oauthHosts: ['oauth.bitrix.info', 'oauth.bitrix24.tech'],
      tokenKeys: [{ id: 'k1', key: keyBytes }],
      teamPortals: new Map(),
      bot: { code: 'gateway_bot', name: 'Gateway bot', eventsUrl: new URL('https://bot.example.com/events') },
      installLimits: { perSourcePerMinute: 120, perMinute: 600 },
      operatorTeams: new Set(),
      portalPlans: new Map(),
    });
    expect(config.allowAnonymous).toBe(false);
  });

  it('reads every setting it is given', () => {
    const upstream = upstreamOf({
      ...app,
      BITRIX24_OAUTH_URL: 'https://oauth.example.com/',
      BITRIX24_OAUTH_HOSTS: 'OAUTH.bitrix24.tech, oauth.example.com, auth.example.net:8443',
      GATEWAY_TOKEN_KEY: `new:${keyHex}, old_1:${otherKey.toString('base64')}`,
      GATEWAY_TEAM_PORTALS: `alpha:*,beta:${member} portal.2`,
      BITRIX24_BOT_CODE: 'Support_Bot_2',
      BITRIX24_BOT_NAME: 'Служба поддержки 🤖',
      BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9000/bot?x=1',
      BITRIX24_APP_INSTALLS_PER_MINUTE: '1000',
      BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE: '7',
      GATEWAY_OPERATOR_TEAMS: 'ops, beta',
      BITRIX24_PORTAL_PLANS: `${member}:enterprise, portal.2:standard`,
    });
    expect(upstream).toMatchObject({
      operatorTeams: new Set(['ops', 'beta']),
      portalPlans: new Map([
        [member, 'enterprise'],
        ['portal.2', 'standard'],
      ]),
      installLimits: { perSourcePerMinute: 7, perMinute: 1000 },
      oauthUrl: new URL('https://oauth.example.com'),
      oauthHosts: ['oauth.example.com', 'oauth.bitrix24.tech', 'auth.example.net:8443'],
      tokenKeys: [
        { id: 'new', key: keyBytes },
        { id: 'old_1', key: otherKey },
      ],
      teamPortals: new Map<string, unknown>([
        ['alpha', '*'],
        ['beta', new Set([member, 'portal.2'])],
      ]),
      bot: { code: 'Support_Bot_2', name: 'Служба поддержки 🤖', eventsUrl: new URL('http://127.0.0.1:9000/bot?x=1') },
    });
  });

  it('reads the client id, the secret and the token key from <NAME>_FILE', () => {
    const folder = mkdtempSync(join(tmpdir(), 'config-application-'));
    const file = (name: string, text: string) => {
      writeFileSync(join(folder, name), text);
      return join(folder, name);
    };
    const { BITRIX24_APP_CLIENT_ID, BITRIX24_APP_CLIENT_SECRET, GATEWAY_TOKEN_KEY, ...rest } = app;
    expect(
      upstreamOf({
        ...rest,
        BITRIX24_APP_CLIENT_ID_FILE: file('id', `${BITRIX24_APP_CLIENT_ID}\n`),
        BITRIX24_APP_CLIENT_SECRET_FILE: file('secret', `${BITRIX24_APP_CLIENT_SECRET}\n`),
        GATEWAY_TOKEN_KEY_FILE: file('key', `${GATEWAY_TOKEN_KEY}\n`),
      }),
    ).toEqual(upstreamOf(app));
    expect(refusals({ ...app, GATEWAY_TOKEN_KEY_FILE: file('key2', `k2:${keyHex}`) })).toContain(
      'GATEWAY_TOKEN_KEY_FILE: set GATEWAY_TOKEN_KEY or GATEWAY_TOKEN_KEY_FILE, not both',
    );
    expect(
      refusals({ ...rest, ...{ BITRIX24_APP_CLIENT_ID }, BITRIX24_APP_CLIENT_SECRET_FILE: '/nonexistent/s' }),
    ).toBe('BITRIX24_APP_CLIENT_SECRET_FILE: cannot read /nonexistent/s (ENOENT)');
    for (const name of ['BITRIX24_APP_CLIENT_ID', 'BITRIX24_APP_CLIENT_SECRET', 'GATEWAY_TOKEN_KEY'])
      expect(configurationVariables).toContain(`${name}_FILE`);
  });

  it.each([
    [{ BITRIX24_APP_CLIENT_ID: undefined }, 'set both for application mode'],
    [{ BITRIX24_APP_CLIENT_SECRET: undefined }, 'set both for application mode'],
    [
      { BITRIX24_WEBHOOK_URL: 'https://portal.bitrix24.com/rest/1/c0de/' },
      'BITRIX24_APP_CLIENT_ID and BITRIX24_WEBHOOK_URL: set one of them, not both',
    ],
    [
      { BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com', BITRIX24_APP_CLIENT_ID: undefined },
      'BITRIX24_APP_CLIENT_SECRET and BITRIX24_PORTAL_URL: set one of them, not both',
    ],
    [{ GATEWAY_API_KEYS: undefined }, 'GATEWAY_API_KEYS: required in application mode'],
    [{ GATEWAY_ALLOW_ANONYMOUS: 'true' }, 'GATEWAY_ALLOW_ANONYMOUS: must not be true in application mode'],
    [{ GATEWAY_TOKEN_KEY: undefined }, 'GATEWAY_TOKEN_KEY: required in application mode'],
    [{ BITRIX24_BOT_EVENTS_URL: undefined }, 'BITRIX24_BOT_EVENTS_URL: required in application mode'],
  ])('with %j refuses, naming the variable', (change, message) => {
    const env = Object.fromEntries(
      Object.entries({ ...app, ...change }).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
    expect(refusals(env)).toContain(message);
  });

  it('takes GATEWAY_ALLOW_ANONYMOUS=false', () => {
    expect(upstreamOf({ ...app, GATEWAY_ALLOW_ANONYMOUS: 'false' }).mode).toBe('application');
  });

  it.each([
    'BITRIX24_OAUTH_URL',
    'BITRIX24_OAUTH_HOSTS',
    'GATEWAY_TOKEN_KEY',
    'GATEWAY_TEAM_PORTALS',
    'BITRIX24_BOT_CODE',
    'BITRIX24_BOT_NAME',
    'BITRIX24_BOT_EVENTS_URL',
    'BITRIX24_APP_INSTALLS_PER_MINUTE',
    'BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE',
    'GATEWAY_OPERATOR_TEAMS',
    'BITRIX24_PORTAL_PLANS',
  ])('refuses %s outside application mode, in every other mode', (name) => {
    const values: Record<string, string> = {
      BITRIX24_OAUTH_URL: 'https://oauth.bitrix.info',
      BITRIX24_OAUTH_HOSTS: 'oauth.bitrix24.tech',
      GATEWAY_TOKEN_KEY: `k1:${keyBase64}`,
      GATEWAY_TEAM_PORTALS: 'alpha:*',
      BITRIX24_BOT_CODE: 'gateway_bot',
      BITRIX24_BOT_NAME: 'Gateway bot',
      BITRIX24_BOT_EVENTS_URL: 'https://bot.example.com/events',
      BITRIX24_APP_INSTALLS_PER_MINUTE: '600',
      BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE: '120',
      GATEWAY_OPERATOR_TEAMS: 'ops',
      BITRIX24_PORTAL_PLANS: `${member}:enterprise`,
    };
    const only = `${name}: only used in application mode (with BITRIX24_APP_CLIENT_ID and BITRIX24_APP_CLIENT_SECRET)`;
    const modes: Record<string, string>[] = [
      {},
      { BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com' },
      { BITRIX24_WEBHOOK_URL: 'https://portal.bitrix24.com/rest/1/c0de/', GATEWAY_API_KEYS: app.GATEWAY_API_KEYS },
    ];
    for (const mode of modes) expect(refusals({ ...mode, [name]: values[name]! })).toBe(only);
  });
});

describe('BITRIX24_APP_CLIENT_ID and BITRIX24_APP_CLIENT_SECRET', () => {
  it.each(['app.5f0d1e2c3b4a59.87654321', 'local.1', 'a', 'x'.repeat(128)])('takes the client id %j', (id) => {
    expect(upstreamOf({ ...app, BITRIX24_APP_CLIENT_ID: id })).toMatchObject({ clientId: id });
  });

  it.each(['my app', 'app/1', 'x'.repeat(129), 'идентификатор'])('refuses the client id %j', (id) => {
    expect(refusals({ ...app, BITRIX24_APP_CLIENT_ID: id })).toBe(
      "BITRIX24_APP_CLIENT_ID: must be the application's client_id: 1 to 128 of A-Z a-z 0-9 . _ -",
    );
  });

  it.each(['s', 'AbC-~!#$%&*()[]{}=+;:,.<>?/|0', 'x'.repeat(256)])('takes the secret %j', (value) => {
    expect(upstreamOf({ ...app, BITRIX24_APP_CLIENT_SECRET: value })).toMatchObject({ clientSecret: value });
  });

  it.each([`${secret} x`, `${secret}\t`, `${secret}é`, `${secret}${'x'.repeat(256)}`])(
    'refuses the secret %#, never quoting it',
    (value) => {
      expect(refusals({ ...app, BITRIX24_APP_CLIENT_SECRET: value })).toBe(
        "BITRIX24_APP_CLIENT_SECRET: must be the application's client_secret: 1 to 256 printable ASCII, no spaces",
      );
    },
  );
});

describe('BITRIX24_OAUTH_URL', () => {
  it.each([
    ['https://oauth.bitrix.info', 'https://oauth.bitrix.info/'],
    ['https://oauth.bitrix.info/', 'https://oauth.bitrix.info/'],
    ['https://OAUTH.example.com:8443', 'https://oauth.example.com:8443/'],
    ['http://127.0.0.1:9100', 'http://127.0.0.1:9100/'],
    ['http://localhost:9100/', 'http://localhost:9100/'],
    ['http://[::1]:9100', 'http://[::1]:9100/'],
  ])('takes %j', (value, href) => {
    expect(upstreamOf({ ...app, BITRIX24_OAUTH_URL: value })).toMatchObject({ oauthUrl: new URL(href) });
  });

  it('puts its host first among the hosts a server_endpoint may name, once', () => {
    expect(upstreamOf({ ...app, BITRIX24_OAUTH_URL: 'http://127.0.0.1:9100' })).toMatchObject({
      oauthHosts: ['127.0.0.1:9100', 'oauth.bitrix24.tech'],
    });
    expect(
      upstreamOf({
        ...app,
        BITRIX24_OAUTH_URL: 'https://oauth.bitrix24.tech',
        BITRIX24_OAUTH_HOSTS: 'oauth.bitrix24.tech',
      }),
    ).toMatchObject({ oauthHosts: ['oauth.bitrix24.tech'] });
  });

  it.each([
    ['oauth.bitrix.info', 'BITRIX24_OAUTH_URL: must be a URL'],
    ['ftp://oauth.bitrix.info', 'BITRIX24_OAUTH_URL: must be https://'],
    ['http://oauth.bitrix.info', 'BITRIX24_OAUTH_URL: plain http:// to oauth.bitrix.info would travel in clear'],
    ['http://10.0.0.5:9100', 'BITRIX24_OAUTH_URL: plain http:// to 10.0.0.5'],
    ['https://user:pa55word@oauth.bitrix.info', 'BITRIX24_OAUTH_URL: must carry no user name or password'],
    ['https://oauth.bitrix.info/oauth/token/', 'BITRIX24_OAUTH_URL: must be the authorization server origin only'],
    ['https://oauth.bitrix.info/?x=1', 'BITRIX24_OAUTH_URL: must be the authorization server origin only'],
    ['https://oauth.bitrix.info/#x', 'BITRIX24_OAUTH_URL: must be the authorization server origin only'],
  ])('refuses %j', (value, message) => {
    const text = refusals({ ...app, BITRIX24_OAUTH_URL: value });
    expect(text).toContain(message);
    expect(text).not.toContain('pa55word');
  });

  it('is not opened to plain http by BITRIX24_ALLOW_HTTP', () => {
    expect(refusals({ ...app, BITRIX24_OAUTH_URL: 'http://oauth.lan', BITRIX24_ALLOW_HTTP: 'true' })).toContain(
      'BITRIX24_OAUTH_URL: plain http://',
    );
  });
});

describe('BITRIX24_OAUTH_HOSTS', () => {
  it.each([
    ['oauth.bitrix24.tech', ['oauth.bitrix24.tech']],
    [' a.example , B.Example.COM ', ['a.example', 'b.example.com']],
    ['auth.example:443,auth.example:8443', ['auth.example', 'auth.example:8443']],
    ['localhost:9100', ['localhost:9100']],
    ['a,a', ['a']],
  ])('takes %j', (value, hosts) => {
    expect(upstreamOf({ ...app, BITRIX24_OAUTH_HOSTS: value })).toMatchObject({
      oauthHosts: ['oauth.bitrix.info', ...hosts],
    });
  });

  it.each([
    ['https://oauth.bitrix24.tech', 'host 1 must be a host name'],
    ['oauth.bitrix24.tech/rest', 'host 1 must be a host name'],
    ['a.example, b example', 'host 2 must be a host name'],
    ['user@host', 'host 1 must be a host name'],
    ['-host', 'host 1 must be a host name'],
    ['a..b', 'host 1 must be a host name'],
    ['host:0', 'host 1 must be a host name'],
    ['host:65536', 'host 1 must be a host name'],
    [`${'a'.repeat(64)}.example`, 'host 1 must be a host name'],
    [' , ', 'must name at least one host'],
    [Array.from({ length: 17 }, (_, i) => `h${i}`).join(','), 'must name at most 16 hosts'],
  ])('refuses %j', (value, message) => {
    expect(refusals({ ...app, BITRIX24_OAUTH_HOSTS: value })).toContain(`BITRIX24_OAUTH_HOSTS: ${message}`);
  });
});

describe('GATEWAY_TOKEN_KEY', () => {
  it('takes keys as base64 or hex, the first to encrypt', () => {
    expect(parseTokenKeys(`a:${keyBase64}`)).toEqual({ keys: [{ id: 'a', key: keyBytes }] });
    expect(parseTokenKeys(`A-b_9:${keyHex.toUpperCase()}`)).toEqual({ keys: [{ id: 'A-b_9', key: keyBytes }] });
    expect(parseTokenKeys(` ${'i'.repeat(32)} : ${keyHex} ,\nold:${otherKey.toString('base64')},`)).toEqual({
      keys: [
        { id: 'i'.repeat(32), key: keyBytes },
        { id: 'old', key: otherKey },
      ],
    });
    const many = Array.from({ length: MAX_TOKEN_KEYS }, (_, i) => `k${i}:${randomBytes(32).toString('hex')}`);
    expect(parseTokenKeys(many.join(','))).toMatchObject({ keys: { length: MAX_TOKEN_KEYS } });
  });

  it.each([
    ['', 'has no key'],
    [' , ,', 'has no key'],
    [keyBase64, 'entry 1 must be <id>:<key>'],
    [`:${keyBase64}`, 'entry 1: the id must be 1 to 32 of A-Z a-z 0-9 _ -'],
    [`${'i'.repeat(33)}:${keyBase64}`, 'entry 1: the id must be'],
    [`a.b:${keyBase64}`, 'entry 1: the id must be'],
    [`${keyHex}:${keyBase64}`, 'entry 1: the id must be'],
    [`a:${keyBase64},a:${otherKey.toString('hex')}`, 'the id "a" is given twice'],
    [`a:${keyBase64},b:${keyHex}`, 'the key "b" is the same as an earlier one'],
    ['a:', 'the key "a" must be 32 bytes'],
    [`a:${keyBase64.slice(0, -1)}`, 'the key "a" must be 32 bytes'],
    [`a:${keyBase64.replace('=', '')}A=`, 'the key "a" must be 32 bytes'],
    [`a:${randomBytes(33).toString('base64')}`, 'the key "a" must be 32 bytes'],
    [`a:${randomBytes(24).toString('base64')}`, 'the key "a" must be 32 bytes'],
    [`a:${keyHex.slice(0, -1)}`, 'the key "a" must be 32 bytes'],
    [`a:${keyHex}0`, 'the key "a" must be 32 bytes'],
    [`a:${keyHex.slice(0, -1)}g`, 'the key "a" must be 32 bytes'],
    [`a:${keyBase64.replace(/.$/, '')}B`, 'the key "a" must be 32 bytes'],
    [`a:${keyBase64.slice(0, 42)}B=`, 'the key "a" must be 32 bytes'],
    [`a:${Buffer.alloc(32).toString('base64')}`, 'the key "a" is one byte repeated'],
    [`a:${'ff'.repeat(32)}`, 'the key "a" is one byte repeated'],
    [Array.from({ length: MAX_TOKEN_KEYS + 1 }, (_, i) => `k${i}:${keyHex}`).join(','), `at most ${MAX_TOKEN_KEYS}`],
  ])('refuses %j, never quoting key material', (value, message) => {
    const parsed = parseTokenKeys(value);
    expect(parsed).toEqual({ problem: expect.stringContaining(message) });
    // The variable's own problem carries the same text, and no key.
    expect(refusals({ ...app, GATEWAY_TOKEN_KEY: value === '' ? ' ' : value })).toContain('GATEWAY_TOKEN_KEY: ');
    const problem = (parsed as { problem: string }).problem;
    for (const part of value.split(/[,:\n]/).filter((p) => p.trim().length >= 8)) expect(problem).not.toContain(part);
  });
});

describe('GATEWAY_TEAM_PORTALS', () => {
  it.each([
    ['alpha:*', [['alpha', '*']]],
    [`alpha:${member}`, [['alpha', new Set([member])]]],
    [
      ` alpha : ${member}  b.2\tportal_3 ,\nbeta:*,`,
      [
        ['alpha', new Set([member, 'b.2', 'portal_3'])],
        ['beta', '*'],
      ],
    ],
    [`alpha:${member} ${member}`, [['alpha', new Set([member])]]],
    [`gamma:${'m'.repeat(64)}`, [['gamma', new Set(['m'.repeat(64)])]]],
  ])('takes %j', (value, portals) => {
    expect(parseTeamPortals(value)).toEqual({ portals: new Map(portals as [string, '*' | Set<string>][]) });
    expect(upstreamOf({ ...app, GATEWAY_TEAM_PORTALS: value })).toMatchObject({ teamPortals: new Map(portals as []) });
  });

  it.each([
    ['alpha', 'entry 1 must be team:* or team:<member_id>'],
    [`alpha:*,:${member}`, 'entry 2 must be team:*'],
    [`team a:${member}`, 'entry 1 must be team:*'],
    ['alpha:', 'team "alpha" has no portal'],
    ['alpha:*,alpha:x', 'team "alpha" is named twice'],
    ['alpha:* x', 'team "alpha": * (every portal) stands alone'],
    ['alpha:x *', 'team "alpha": * (every portal) stands alone'],
    ['alpha:a/b', 'team "alpha": each portal must be a member_id'],
    [`alpha:${'m'.repeat(65)}`, 'team "alpha": each portal must be a member_id'],
    ['alpha:**', 'team "alpha": each portal must be a member_id'],
    ['anonymous:*', 'the team "anonymous" is the callers without a key'],
  ])('refuses %j', (value, message) => {
    expect(parseTeamPortals(value)).toEqual({ problem: expect.stringContaining(message) });
    expect(refusals({ ...app, GATEWAY_TEAM_PORTALS: value })).toContain(`GATEWAY_TEAM_PORTALS: ${message}`);
  });

  it('is a prototype-free map: a team named like an object property is a team', () => {
    const parsed = parseTeamPortals('__proto__:*,constructor:x');
    expect(parsed).toEqual({
      portals: new Map<string, unknown>([
        ['__proto__', '*'],
        ['constructor', new Set(['x'])],
      ]),
    });
  });

  it('warns, by team name, of teams it names without a key and of teams with a key but no portal', () => {
    const apiKeys = new Map([
      ['k1', 'alpha'],
      ['k2', 'beta'],
      ['k3', 'beta'],
      ['k4', 'delta'],
    ]);
    const portals = parseTeamPortals('alpha:*,zeta:x,gamma:y') as { portals: Map<string, '*' | Set<string>> };
    const warnings = teamPortalWarnings(portals.portals, apiKeys);
    expect(warnings.map(({ teams }) => teams)).toEqual([
      ['gamma', 'zeta'],
      ['beta', 'delta'],
    ]);
    expect(warnings[0]!.message).toMatch(/^GATEWAY_TEAM_PORTALS names teams that have no key .*: gamma, zeta/);
    expect(warnings[1]!.message).toMatch(/^GATEWAY_TEAM_PORTALS gives these teams no portal: beta, delta/);
    expect(warnings.map((w) => w.message).join()).not.toMatch(/k[1-4]/);
    expect(teamPortalWarnings(new Map([['alpha', '*']]), new Map([['k', 'alpha']]))).toEqual([]);
    // The default, no portals: every team is told, and the configuration still loads.
    const config = loadConfig(app);
    expect(
      config.upstream.mode === 'application' && teamPortalWarnings(config.upstream.teamPortals, config.apiKeys),
    ).toMatchObject([{ teams: ['alpha', 'beta'] }]);
  });
});

describe('BITRIX24_BOT_CODE, BITRIX24_BOT_NAME, BITRIX24_BOT_EVENTS_URL', () => {
  it.each(['a', 'gateway_bot', 'Bot_2', 'x'.repeat(50)])('takes the code %j', (code) => {
    expect(upstreamOf({ ...app, BITRIX24_BOT_CODE: code })).toMatchObject({ bot: { code } });
  });

  it.each(['gateway-bot', 'my bot', 'бот', 'x'.repeat(51)])('refuses the code %j', (code) => {
    expect(refusals({ ...app, BITRIX24_BOT_CODE: code })).toBe('BITRIX24_BOT_CODE: must be 1 to 50 of A-Z a-z 0-9 _');
  });

  it.each(['G', 'Gateway bot', 'Бот «Поддержка»', '😀'.repeat(100)])('takes the name %j', (name) => {
    expect(upstreamOf({ ...app, BITRIX24_BOT_NAME: name })).toMatchObject({ bot: { name } });
  });

  it.each([' ', '\t', 'x'.repeat(101), '😀'.repeat(101), 'line\nbreak', 'nul\u0000'])('refuses the name %j', (name) => {
    expect(refusals({ ...app, BITRIX24_BOT_NAME: name })).toBe(
      'BITRIX24_BOT_NAME: must be 1 to 100 characters, not blank, without control characters',
    );
  });

  it.each([
    'https://bot.example.com/events',
    'https://bot.example.com:8443/b24/events?team=alpha',
    'http://127.0.0.1:9000/',
    'http://localhost:9000/events',
    'http://[::1]:9000/events',
  ])('takes the events URL %j', (url) => {
    expect(upstreamOf({ ...app, BITRIX24_BOT_EVENTS_URL: url })).toMatchObject({ bot: { eventsUrl: new URL(url) } });
  });

  it.each([
    ['/events', 'BITRIX24_BOT_EVENTS_URL: must be a URL'],
    ['ftp://bot.example.com/events', 'BITRIX24_BOT_EVENTS_URL: must be https://'],
    ['http://bot.example.com/events', 'BITRIX24_BOT_EVENTS_URL: plain http:// to bot.example.com'],
    ['https://u:pa55word@bot.example.com/events', 'BITRIX24_BOT_EVENTS_URL: must carry no user name or password'],
    ['https://bot.example.com/events#x', 'BITRIX24_BOT_EVENTS_URL: must have no fragment'],
  ])('refuses the events URL %j', (url, message) => {
    const text = refusals({ ...app, BITRIX24_BOT_EVENTS_URL: url });
    expect(text).toContain(message);
    expect(text).not.toContain('pa55word');
  });
});

describe('secrets in problems', () => {
  it('quotes neither the client secret nor a token key, whatever else is wrong', () => {
    const refused = refusals({ ...app, GATEWAY_TOKEN_KEY: `k1:${keyBase64},k1:${otherKey.toString('hex')}` });
    expect(refused).toBe('GATEWAY_TOKEN_KEY: the id "k1" is given twice: each key needs its own id');
    const { GATEWAY_TOKEN_KEY: _, ...rest } = app;
    const all = refusals({
      ...rest,
      BITRIX24_APP_CLIENT_SECRET_FILE: '/nonexistent/secret',
      BITRIX24_WEBHOOK_URL: 'https://portal.bitrix24.com/rest/1/c0de/',
      GATEWAY_ALLOW_ANONYMOUS: 'true',
      BITRIX24_BOT_EVENTS_URL: `http://bot.example.com/${keyHex}`,
    });
    expect(all.split('\n')).toHaveLength(1);
    const semantic = refusals({
      ...rest,
      BITRIX24_WEBHOOK_URL: 'https://portal.bitrix24.com/rest/1/c0de/',
      GATEWAY_ALLOW_ANONYMOUS: 'true',
      BITRIX24_BOT_EVENTS_URL: `http://bot.example.com/${keyHex}?${secret}`,
    });
    expect(semantic.split('\n').map((line) => line.split(':')[0])).toEqual([
      'BITRIX24_BOT_EVENTS_URL',
      'BITRIX24_APP_CLIENT_ID and BITRIX24_WEBHOOK_URL',
      'GATEWAY_ALLOW_ANONYMOUS',
      'GATEWAY_TOKEN_KEY',
    ]);
  });
});

describe('BITRIX24_APP_INSTALLS_PER_MINUTE and BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE', () => {
  it.each(['0', '-1', '1.5', 'ten', '100001'])('refuses %j', (value) => {
    for (const name of ['BITRIX24_APP_INSTALLS_PER_MINUTE', 'BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE'])
      expect(refusals({ ...app, [name]: value })).toMatch(new RegExp(`^${name}: must be`));
  });
});

describe('GATEWAY_OPERATOR_TEAMS', () => {
  it.each(['ops,', 'o ps', 'a/b', ','])('refuses %j', (value) => {
    expect(refusals({ ...app, GATEWAY_OPERATOR_TEAMS: value })).toMatch(/^GATEWAY_OPERATOR_TEAMS: must be team names/);
  });
});

describe('BITRIX24_PORTAL_QUEUES', () => {
  it('reads each portal its own queue bound', () => {
    const upstream = upstreamOf({ ...app, BITRIX24_PORTAL_QUEUES: `${member}:5000, portal.2:0` });
    expect(upstream.mode === 'application' && upstream.portalQueues).toEqual(
      new Map([
        [member, 5_000],
        ['portal.2', 0],
      ]),
    );
  });

  it.each([`${member}:-1`, `${member}:100001`, `${member}:1e3`, member, `${member}:5,${member}:6`, ':5'])(
    'refuses %j',
    (value) => {
      expect(refusals({ ...app, BITRIX24_PORTAL_QUEUES: value })).toMatch(/^BITRIX24_PORTAL_QUEUES: /);
    },
  );
});

describe('BITRIX24_PORTAL_PLANS', () => {
  it.each([`${member}:gold`, member, `${member}:enterprise,${member}:standard`, 'a b:enterprise', ':standard'])(
    'refuses %j',
    (value) => {
      expect(refusals({ ...app, BITRIX24_PORTAL_PLANS: value })).toMatch(/^BITRIX24_PORTAL_PLANS: /);
    },
  );
});
