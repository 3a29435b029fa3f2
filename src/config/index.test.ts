import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flatten, spec } from '../spec';
import { problems } from '../test-support/config';
import { loadConfig } from '.';

const pems = mkdtempSync(join(tmpdir(), 'config-tls-'));
const certFile = join(pems, 'cert.pem');
const keyFile = join(pems, 'key.pem');
writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');

const webhook = 'https://portal.bitrix24.com/rest/1/s3cr3tc0de/';
const keys = 'alpha:alpha-key-0123456789,beta:beta-key-0123456789';

describe('loadConfig', () => {
  it('defaults to the embedded emulator on 127.0.0.1:8080', () => {
    expect(loadConfig({})).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      upstream: { mode: 'emulator' },
      upstreamTimeoutMs: 10_000,
      bodyLimitBytes: 262_144,
      allowAnonymous: true,
      dataDir: resolve('data'),
    });
    expect(loadConfig({ GATEWAY_DATA_DIR: 'var/keys' }).dataDir).toBe(resolve('var/keys'));
  });

  it("takes by default the largest body the spec accepts: message.send's longest MESSAGE, as a form", () => {
    const message = flatten(spec.components.schemas.MessageSendRequest!).properties!.MESSAGE as { maxLength: number };
    // Three bytes of UTF-8 for each UTF-16 unit, each byte percent-encoded: the most a character costs.
    const body = `CHAT_ID=2147483647&NAME=DEFAULT&MESSAGE=${encodeURIComponent('€'.repeat(message.maxLength))}`;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(loadConfig({}).bodyLimitBytes);
  });

  it("reads webhook mode with its client id and the teams' keys", () => {
    const config = loadConfig({
      BITRIX24_WEBHOOK_URL: webhook,
      BITRIX24_CLIENT_ID: 'my.bot',
      GATEWAY_API_KEYS: keys,
      PORT: '9000',
    });
    expect(config.upstream).toEqual({ mode: 'webhook', webhookUrl: new URL(webhook), clientId: 'my.bot' });
    expect([...config.apiKeys.values()]).toEqual(['alpha', 'beta']);
    expect(config.allowAnonymous).toBe(false);
    expect(config.port).toBe(9000);
  });

  it('adds the trailing slash a webhook URL needs', () => {
    const config = loadConfig({ BITRIX24_WEBHOOK_URL: webhook.slice(0, -1), GATEWAY_ALLOW_ANONYMOUS: 'true' });
    expect(config.upstream).toMatchObject({ webhookUrl: new URL(webhook) });
  });

  it('reads OAuth mode, where callers may be anonymous', () => {
    expect(loadConfig({ BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com' })).toMatchObject({
      upstream: { mode: 'oauth', portalUrl: new URL('https://portal.bitrix24.com') },
      allowAnonymous: true,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT: must be a whole number (0 or more)'],
    [{ RATE_LIMIT_SHAPING: 'no' }, 'RATE_LIMIT_SHAPING: must be on or off'],
    [{ REDIS_URL: 'http://redis:6379' }, 'REDIS_URL: must be redis:// or rediss://'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL: must be a URL'],
    [{ REDIS_URL: 'redis://redis:6379' }, 'GATEWAY_REPLICAS: required with REDIS_URL'],
    [{ REDIS_URL: 'redis://redis:6379', GATEWAY_REPLICAS: '0' }, 'GATEWAY_REPLICAS: must be at least 1'],
    [{ GATEWAY_REPLICAS: '3' }, 'GATEWAY_REPLICAS: only used with REDIS_URL'],
    [{ RATE_LIMIT_SCOPE: 'replica' }, 'RATE_LIMIT_SCOPE: only used with REDIS_URL'],
    [
      { REDIS_URL: 'redis://redis:6379', GATEWAY_REPLICAS: '3', RATE_LIMIT_SCOPE: 'all' },
      'RATE_LIMIT_SCOPE: must be shared or replica',
    ],
    [{ UPSTREAM_TIMEOUT_MS: '-5' }, 'UPSTREAM_TIMEOUT_MS: must be a positive whole number'],
    [
      { HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '10000' },
      'HEADERS_TIMEOUT_MS: must be at most REQUEST_TIMEOUT_MS',
    ],
    [
      { BITRIX24_WEBHOOK_URL: 'http://portal.example/rest/1/code/', GATEWAY_ALLOW_ANONYMOUS: 'true' },
      'BITRIX24_WEBHOOK_URL: plain http:// to portal.example',
    ],
    [{ BITRIX24_PORTAL_URL: 'http://10.0.0.5' }, 'BITRIX24_PORTAL_URL: plain http:// to 10.0.0.5'],
    [{ PORT: '70000' }, 'PORT: must be at most 65535'],
    [{ UPSTREAM_TIMEOUT_MS: '5' }, 'UPSTREAM_TIMEOUT_MS: must be at least 100'],
    [{ BODY_LIMIT_BYTES: '-1' }, 'BODY_LIMIT_BYTES'],
    [{ BITRIX24_WEBHOOK_URL: 'not a url', GATEWAY_ALLOW_ANONYMOUS: 'true' }, 'BITRIX24_WEBHOOK_URL: must be a URL'],
    [
      { BITRIX24_WEBHOOK_URL: 'https://portal/rest/x/', GATEWAY_ALLOW_ANONYMOUS: 'true' },
      'BITRIX24_WEBHOOK_URL: must look like',
    ],
    [
      { BITRIX24_WEBHOOK_URL: 'ftp://portal/rest/1/code/', GATEWAY_ALLOW_ANONYMOUS: 'true' },
      'BITRIX24_WEBHOOK_URL: must be http(s)',
    ],
    [{ BITRIX24_PORTAL_URL: 'https://portal/rest/' }, 'BITRIX24_PORTAL_URL: must be the portal origin only'],
    [
      { BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTAL_URL: 'https://portal', GATEWAY_API_KEYS: keys },
      'set one of them, not both',
    ],
    [{ BITRIX24_CLIENT_ID: 'bot' }, 'BITRIX24_CLIENT_ID: only used with BITRIX24_WEBHOOK_URL'],
    [{ BITRIX24_WEBHOOK_URL: webhook }, 'GATEWAY_API_KEYS: required in webhook mode'],
    [{ GATEWAY_API_KEYS: 'alpha' }, 'GATEWAY_API_KEYS: must be team:key pairs, separated by commas or new lines'],
    [{ GATEWAY_API_KEYS: 'alpha:short' }, 'the key of team "alpha" must be 16 to 256 of A-Z a-z 0-9 . _ ~ -'],
    [{ GATEWAY_API_KEYS: `alpha:${'k'.repeat(257)}` }, 'the key of team "alpha" must be 16 to 256'],
    [
      { BITRIX24_WEBHOOK_URL: webhook, GATEWAY_API_KEYS: keys, BITRIX24_CLIENT_ID: '0' },
      'BITRIX24_CLIENT_ID: must be a string of 1 to 255 printable ASCII characters without spaces, other than "0"',
    ],
    [
      { BITRIX24_WEBHOOK_URL: webhook, GATEWAY_API_KEYS: keys, BITRIX24_CLIENT_ID: 'my bot' },
      'BITRIX24_CLIENT_ID: must be',
    ],
    [{ GATEWAY_API_KEYS: 'alpha:a-key-with/slash-0123' }, 'must be 16 to 256 of A-Z a-z 0-9 . _ ~ -'],
    [{ GATEWAY_API_KEYS: 'a:alpha-key-0123456789,b:alpha-key-0123456789' }, "reuses another team's key"],
    [{ GATEWAY_API_KEYS: 'anonymous:alpha-key-0123456789' }, 'the team name "anonymous" is the callers without a key'],
    [
      { BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com', IDEMPOTENCY_KEY: 'required' },
      'IDEMPOTENCY_KEY: required in OAuth mode needs GATEWAY_API_KEYS and no GATEWAY_ALLOW_ANONYMOUS',
    ],
    [
      {
        BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com',
        IDEMPOTENCY_KEY: 'required',
        GATEWAY_API_KEYS: keys,
        GATEWAY_ALLOW_ANONYMOUS: 'true',
      },
      'IDEMPOTENCY_KEY: required in OAuth mode needs GATEWAY_API_KEYS',
    ],
    [{ GATEWAY_DATA_DIR: 'a\u0000b' }, 'GATEWAY_DATA_DIR: must be a path'],
    [{ GATEWAY_ALLOW_ANONYMOUS: 'yes' }, 'GATEWAY_ALLOW_ANONYMOUS: must be true or false'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TLS_CERT_FILE: certFile }, 'TLS_CERT_FILE and TLS_KEY_FILE: set both, or neither'],
    [
      { TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: keyFile },
      'TLS_CERT_FILE: cannot read /nonexistent/cert.pem (ENOENT)',
    ],
    [
      { TLS_CERT_FILE: keyFile, TLS_KEY_FILE: keyFile },
      `TLS_CERT_FILE: ${keyFile} is not a PEM file of the expected kind`,
    ],
    [{ TLS_CERT_FILE: certFile, TLS_KEY_FILE: certFile }, 'TLS_KEY_FILE'],
    [{ REDIS_REQUIRE_AOF: 'no' }, 'REDIS_REQUIRE_AOF: must be true or false'],
    [{ REDIS_CLUSTER: 'yes' }, 'REDIS_CLUSTER: must be true or false'],
    [
      { REDIS_URL: 'redis://redis:6379/2', GATEWAY_REPLICAS: '3', REDIS_CLUSTER: 'true' },
      'REDIS_URL: /2 names database 2, but a Redis Cluster (REDIS_CLUSTER=true) has only database 0: drop the /<db>',
    ],
    [
      { IDEMPOTENCY_LEASE_MS: '10000', QUEUE_MAX_WAIT_MS: '5000', RETRY_DEADLINE_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' },
      'IDEMPOTENCY_LEASE_MS: must be at least QUEUE_MAX_WAIT_MS + RETRY_DEADLINE_MS + UPSTREAM_TIMEOUT_MS + 1000 (11000)',
    ],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(problems(env).join('\n')).toContain(message);
  });

  it('takes plain http:// to a loopback portal, or anywhere with BITRIX24_ALLOW_HTTP=true', () => {
    for (const url of ['http://127.0.0.1:8081', 'http://localhost:8081', 'http://[::1]:8081']) {
      expect(loadConfig({ BITRIX24_PORTAL_URL: url }).upstream).toMatchObject({ mode: 'oauth' });
    }
    expect(loadConfig({ BITRIX24_PORTAL_URL: 'http://10.0.0.5', BITRIX24_ALLOW_HTTP: 'true' }).upstream).toMatchObject({
      mode: 'oauth',
    });
    expect(
      problems({
        BITRIX24_WEBHOOK_URL: 'http://portal.example/rest/1/s3cr3tc0de/',
        GATEWAY_ALLOW_ANONYMOUS: 'true',
      }).join(),
    ).not.toMatch(/s3cr3t/);
  });

  it("follows the embedded emulator's high limits unless a plan or rate is set, and Bitrix24's plan otherwise", () => {
    expect(loadConfig({}).rateLimit).toMatchObject({ drainPerSecond: 1_000, burst: 1_000 });
    expect(loadConfig({ BITRIX24_PLAN: 'standard' }).rateLimit).toMatchObject({ drainPerSecond: 2, burst: 50 });
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '5' }).rateLimit).toMatchObject({ drainPerSecond: 5, burst: 1_000 });
    expect(loadConfig({ BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com' }).rateLimit).toMatchObject({
      drainPerSecond: 2,
      burst: 50,
    });
    expect(
      loadConfig({ BITRIX24_PORTAL_URL: 'https://portal.bitrix24.com', BITRIX24_PLAN: 'enterprise' }).rateLimit,
    ).toMatchObject({ drainPerSecond: 5, burst: 250 });
  });

  it('gives each team an equal share of the queue, unless QUEUE_MAX_LENGTH_PER_TEAM says otherwise', () => {
    expect(loadConfig({}).rateLimit.maxQueuePerTeam).toBe(1_000);
    expect(loadConfig({ GATEWAY_API_KEYS: keys, QUEUE_MAX_LENGTH: '100' }).rateLimit.maxQueuePerTeam).toBe(50);
    expect(
      loadConfig({ GATEWAY_API_KEYS: keys, GATEWAY_ALLOW_ANONYMOUS: 'true', QUEUE_MAX_LENGTH: '100' }).rateLimit
        .maxQueuePerTeam,
    ).toBe(34);
    expect(loadConfig({ GATEWAY_API_KEYS: keys, QUEUE_MAX_LENGTH_PER_TEAM: '80' }).rateLimit.maxQueuePerTeam).toBe(80);
  });

  it("reads the shared limit's Redis, shared by default, and never quotes its password", () => {
    expect(
      loadConfig({ REDIS_URL: 'rediss://user:pa55word@redis.internal:6380/2', GATEWAY_REPLICAS: '3' }).redis,
    ).toEqual({
      url: new URL('rediss://user:pa55word@redis.internal:6380/2'),
      keyPrefix: 'bitrix24-gateway',
      replicas: 3,
      scope: 'shared',
      commandTimeoutMs: 250,
      requireAof: true,
      cluster: false,
    });
    expect(
      loadConfig({ REDIS_URL: 'redis://redis:6379', GATEWAY_REPLICAS: '3', REDIS_REQUIRE_AOF: 'false' }).redis
        ?.requireAof,
    ).toBe(false);
    expect(loadConfig({}).redis).toBeUndefined();
    expect(problems({ REDIS_URL: 'redis://user:pa55word@redis:6379/?x=1' }).join()).not.toContain('pa55word');
  });

  it('reads REDIS_CLUSTER: REDIS_URL is then one node of the cluster (credentials and TLS as for one Redis), database 0 only', () => {
    const cluster = { GATEWAY_REPLICAS: '3', REDIS_CLUSTER: 'true' };
    expect(loadConfig({ REDIS_URL: 'rediss://user:pa55word@node-1.redis:6380', ...cluster }).redis).toMatchObject({
      url: new URL('rediss://user:pa55word@node-1.redis:6380'),
      cluster: true,
    });
    // /0 is the one database a cluster has; any other is refused, the password never quoted.
    expect(loadConfig({ REDIS_URL: 'redis://node-1.redis:6379/0', ...cluster }).redis?.cluster).toBe(true);
    expect(
      loadConfig({ REDIS_URL: 'redis://redis:6379/2', GATEWAY_REPLICAS: '3', REDIS_CLUSTER: 'false' }).redis,
    ).toMatchObject({ cluster: false });
    const refused = problems({ REDIS_URL: 'redis://user:pa55word@node-1.redis:6379/3', ...cluster });
    expect(refused).toEqual([expect.stringMatching(/^REDIS_URL: \/3 names database 3, but a Redis Cluster/)]);
    expect(refused.join()).not.toContain('pa55word');
  });

  it('takes IDEMPOTENCY_LEASE_MS down to the longest request and a second; unset, the lease is derived', () => {
    const env = { QUEUE_MAX_WAIT_MS: '5000', RETRY_DEADLINE_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' };
    expect(loadConfig({ ...env, IDEMPOTENCY_LEASE_MS: '11000' }).idempotency.leaseMs).toBe(11_000);
    expect(loadConfig(env).idempotency.leaseMs).toBeUndefined();
  });

  it('has explicit HTTP timeouts for the requests it receives', () => {
    expect(loadConfig({})).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      upstreamBodyLimitBytes: 1_048_576,
    });
  });

  it('reads each secret from a file named by <NAME>_FILE, as Docker and Kubernetes give secrets', () => {
    const secrets = mkdtempSync(join(tmpdir(), 'config-secrets-'));
    const file = (name: string, text: string) => {
      writeFileSync(join(secrets, name), text);
      return join(secrets, name);
    };
    const config = loadConfig({
      BITRIX24_WEBHOOK_URL_FILE: file('webhook', `${webhook}\n`),
      BITRIX24_CLIENT_ID_FILE: file('client', 'my.bot'),
      GATEWAY_API_KEYS_FILE: file('keys', `${keys}\n`),
    });
    expect(config.upstream).toEqual({ mode: 'webhook', webhookUrl: new URL(webhook), clientId: 'my.bot' });
    expect([...config.apiKeys.values()]).toEqual(['alpha', 'beta']);
  });

  it.each([
    [{ GATEWAY_API_KEYS_FILE: '/nonexistent/keys' }, 'GATEWAY_API_KEYS_FILE: cannot read /nonexistent/keys (ENOENT)'],
    [{ GATEWAY_API_KEYS_FILE: '/dev/null' }, 'GATEWAY_API_KEYS_FILE: /dev/null is empty'],
    [
      { GATEWAY_API_KEYS_FILE: '/dev/null', GATEWAY_API_KEYS: keys },
      'set GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE, not both',
    ],
  ])('refuses a secret file that cannot be used: %j', (env, message) => {
    expect(problems(env).join('\n')).toContain(message);
  });

  it("never quotes a secret file's content", () => {
    const secrets = mkdtempSync(join(tmpdir(), 'config-secrets-'));
    writeFileSync(join(secrets, 'keys'), 'alpha:s3cr3t');
    expect(problems({ GATEWAY_API_KEYS_FILE: join(secrets, 'keys') }).join('\n')).not.toMatch(/s3cr3t/);
  });

  it('reads the TLS certificate and key', () => {
    expect(loadConfig({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile }).tls).toEqual({
      cert: expect.stringContaining('BEGIN CERTIFICATE'),
      key: expect.stringContaining('BEGIN PRIVATE KEY'),
    });
  });

  it('never quotes a secret in its messages', () => {
    const text = problems({ BITRIX24_WEBHOOK_URL: webhook, GATEWAY_API_KEYS: 'alpha:s3cr3t' }).join('\n');
    expect(text).not.toMatch(/s3cr3t/);
  });
});
