// Application mode's configuration through the gateway's own process (`node --import tsx src/main.ts`): a
// value it cannot use exits 2 with one short line naming its variable, and quoting neither the
// application's client secret nor a token key, whichever variable was wrong.
import { describe, expect, it } from 'vitest';
import { root, runProcess, temporaryDataDir, tsx } from '../test-support/processes';

const secret = 'S3cr3tAppSecretValue0123456789';
const key = Buffer.from('8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const app = {
  BITRIX24_APP_CLIENT_ID: 'local.64b0c7d9a1e2f3.12345678',
  BITRIX24_APP_CLIENT_SECRET: secret,
  GATEWAY_API_KEYS: 'alpha:alpha-key-0123456789',
  GATEWAY_TOKEN_KEY: `k1:${key.toString('base64')}`,
  BITRIX24_BOT_EVENTS_URL: 'https://bot.example.com/events',
};
const material = [secret, key.toString('base64'), key.toString('hex'), key.toString('base64').slice(0, 40)];

/** The gateway's source run to its end with this environment only. */
function exitOf(env: Record<string, string>) {
  const [file, args] = tsx(`${root}/src/main.ts`);
  return runProcess(file, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', GATEWAY_DATA_DIR: temporaryDataDir(), ...env },
    timeoutMs: 15_000,
  });
}

describe('an application-mode value the gateway cannot use', () => {
  it.each([
    ['GATEWAY_TOKEN_KEY', { ...app, GATEWAY_TOKEN_KEY: `k1:${key.toString('base64').slice(0, 40)}` }],
    ['GATEWAY_TOKEN_KEY', { ...app, GATEWAY_TOKEN_KEY: `k1:${key.toString('hex')},k1:${key.toString('base64')}` }],
    ['BITRIX24_APP_CLIENT_SECRET', { ...app, BITRIX24_APP_CLIENT_SECRET: `${secret} ` }],
    ['GATEWAY_ALLOW_ANONYMOUS', { ...app, GATEWAY_ALLOW_ANONYMOUS: 'true' }],
    ['BITRIX24_OAUTH_URL', { ...app, BITRIX24_OAUTH_URL: 'http://oauth.example.com' }],
    ['GATEWAY_TEAM_PORTALS', { ...app, GATEWAY_TEAM_PORTALS: 'alpha:* x' }],
    ['GATEWAY_TOKEN_KEY', { GATEWAY_TOKEN_KEY: app.GATEWAY_TOKEN_KEY }],
  ])('%#: exits 2 with one short line naming %s, and no secret', async (variable, env) => {
    const { code, stderr, stdout } = await exitOf(env);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable}: `));
    expect(lines[0]!.length).toBeLessThan(300);
    for (const secretText of material) expect(stderr + stdout).not.toContain(secretText);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
  });
});
