// Issue 32's configuration edges: each value either works or is refused naming its variable, never quoting a
// secret; and what Redis's client is given for the values that work.
import { describe, expect, it } from 'vitest';
import { causeOf, causeWords, redisClientOptions } from '../redis';
import { problems } from '../test-support/config';
import { listenProblem, loadConfig } from '.';

const redis = (url: string) => ({ REDIS_URL: url, GATEWAY_REPLICAS: '2' });

describe('HOST', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[::]', '::'],
    ['localhost', 'localhost'],
    ['gateway.internal', 'gateway.internal'],
    ['my_service', 'my_service'],
    ['no-such-host.invalid', 'no-such-host.invalid'],
  ])('takes %j as %j', (value, host) => {
    expect(loadConfig({ HOST: value }).host).toBe(host);
  });

  it.each([
    ' ',
    '  \t',
    'host:8080',
    '127.0.0.1:8080',
    '[::1]:8080',
    'http://host',
    'a..b',
    '-host',
    'host name',
    '[host]x',
    '[localhost]',
    '[127.0.0.1]',
  ])('refuses %j naming HOST', (value) => {
    expect(problems({ HOST: value })).toEqual([
      'HOST: must be an IP address (IPv6 with or without brackets) or a host name, without a port (set PORT) or scheme',
    ]);
  });

  it('takes an empty HOST as unset, as every variable (the default, 127.0.0.1)', () => {
    expect(loadConfig({ HOST: '' }).host).toBe('127.0.0.1');
  });

  it('turns a listen() that cannot resolve the host into one line naming HOST', () => {
    const error = (code: string) => Object.assign(new Error(`getaddrinfo ${code} x`), { code });
    expect(listenProblem(error('ENOTFOUND'), 'PORT', 8080, 'no-such-host.invalid')).toBe(
      'HOST: no-such-host.invalid does not resolve to an address of this machine',
    );
    expect(listenProblem(error('EAI_AGAIN'), 'PORT', 8080, 'slow.example')).toMatch(
      /^HOST: slow\.example could not be resolved now/,
    );
    expect(listenProblem(error('EADDRNOTAVAIL'), 'PORT', 8080, '10.9.9.9')).toBe(
      'HOST: 10.9.9.9 is not an address of this machine',
    );
    expect(listenProblem(error('EOTHER'), 'PORT', 8080, 'x')).toBeUndefined();
  });
});

describe('REDIS_URL', () => {
  it.each([
    'redis://h:6379/abc',
    'redis://h:6379/2/x',
    'redis://h:6379/-1',
    'redis://h/1.5',
    'redis://h/%31',
    'redis://h/99999999999',
  ])('refuses the path of %j naming REDIS_URL', (url) => {
    expect(problems(redis(url))).toEqual([
      'REDIS_URL: the path after host[:port] must be a database index: /0 to /15 on a default Redis (its databases setting), or none',
    ]);
  });

  it.each([
    'redis://h:6379',
    'redis://h:6379/',
    'redis://h:6379/0',
    'redis://h:6379/15',
    'redis://h:6379/99',
    'redis://[::1]:6380/2',
  ])('takes %j (a database the server lacks is its to say)', (url) => {
    expect(loadConfig(redis(url)).redis?.url.href).toBe(new URL(url).href);
  });

  it('never quotes its password when refusing it', () => {
    expect(problems(redis('redis://user:pa55word@h:6379/x')).join()).not.toContain('pa55word');
  });

  it("gives the client an IPv6 address without its brackets, and the URL's port, database and credentials", () => {
    expect(redisClientOptions('redis://[::1]:6380/3', 250)).toMatchObject({
      database: 3,
      socket: { host: '::1', port: 6380, tls: false },
    });
    const options = redisClientOptions('rediss://us%40er:pa%3Ass@redis.internal', 250);
    expect(options).toMatchObject({
      username: 'us@er',
      password: 'pa:ss',
      socket: { host: 'redis.internal', port: 6379, tls: true },
    });
    expect(options).not.toHaveProperty('database');
    expect(options).not.toHaveProperty('url');
    expect(redisClientOptions('redis://:secret@h/0', 250)).toMatchObject({ password: 'secret', database: 0 });
    expect(redisClientOptions('redis://:secret@h/0', 250)).not.toHaveProperty('username');
  });

  it('names a database index out of range as such', () => {
    const refused = new Error('ERR DB index is out of range');
    expect(causeOf(refused, false)).toBe('db index out of range');
    expect(causeWords['db index out of range']).toMatch(/database index out of range/);
    expect(causeOf(new Error('ERR unknown command'), false)).toBe('failed');
  });
});

describe('credentials in a portal URL, which the gateway does not use', () => {
  it.each([
    ['BITRIX24_PORTAL_URL', 'https://:s3cr3tpass@portal.bitrix24.com', "each caller's token travels in auth"],
    ['BITRIX24_PORTAL_URL', 'https://admin@portal.bitrix24.com', "each caller's token travels in auth"],
    ['BITRIX24_PORTAL_URL', 'https://admin:s3cr3tpass@portal.bitrix24.com', "each caller's token travels in auth"],
    [
      'BITRIX24_WEBHOOK_URL',
      'https://:s3cr3tpass@portal.bitrix24.com/rest/1/c0de/',
      "the webhook's code in its path is its credential",
    ],
    [
      'BITRIX24_WEBHOOK_URL',
      'https://admin:s3cr3tpass@portal.bitrix24.com/rest/1/c0de/',
      "the webhook's code in its path is its credential",
    ],
  ])('refuses %s=%s naming it, never quoting the password', (name, url, why) => {
    const found = problems({ [name]: url, GATEWAY_ALLOW_ANONYMOUS: 'true' });
    expect(found).toEqual([
      `${name}: must carry no user name or password (user:password@ before the host): the gateway does not use them (${why}); remove them`,
    ]);
    expect(found.join()).not.toContain('s3cr3tpass');
  });

  it('still refuses a query or fragment, saying so', () => {
    expect(
      problems({
        BITRIX24_WEBHOOK_URL: 'https://portal.bitrix24.com/rest/1/c0de/?x=1',
        GATEWAY_ALLOW_ANONYMOUS: 'true',
      }),
    ).toEqual(['BITRIX24_WEBHOOK_URL: must have no query or fragment']);
  });
});
