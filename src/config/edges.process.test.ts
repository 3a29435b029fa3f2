// Issue 32's configuration edges through the built gateway (`node dist/main.js`, `npm run build` first): each
// bad value exits 2 with one short line naming its variable (no stack, no bundled source), each good one
// works: HOST=[::1] listens, an IPv6 REDIS_URL connects (to a real redis-server bound to ::1) and selects
// its database, a database Redis lacks is logged as such; a webhook without BITRIX24_CLIENT_ID is warned.
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closedPort } from '../test-support/ports';
import {
  type GatewayProcess,
  loggedLine,
  root,
  runProcess,
  type StartedProcess,
  startGatewayProcess,
  startProcess,
  temporaryDataDir,
} from '../test-support/processes';
import { REDIS_SERVER } from '../test-support/redis';

const running: { stop(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop()));
});

async function gateway(env: Record<string, string>): Promise<GatewayProcess> {
  const started = await startGatewayProcess(env);
  running.push(started);
  return started;
}

/** The built gateway run to its end with this environment only. */
function exitOf(env: Record<string, string>) {
  return runProcess(process.execPath, [`${root}/dist/main.js`], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', GATEWAY_DATA_DIR: temporaryDataDir(), ...env },
    timeoutMs: 15_000,
  });
}

/** A redis-server bound to ::1 only, without persistence, on a free port; stopped after the test. */
async function redisOnIpv6(): Promise<number> {
  const port = await closedPort();
  const started: StartedProcess = startProcess(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '::1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  running.push({ stop: () => started.stop('SIGKILL') });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '::1', port }, () => {
        socket.destroy();
        resolve(true);
      }).once('error', () => resolve(false));
    });
    if (open) return port;
    if (Date.now() > deadline) throw new Error(`redis-server on [::1]:${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function keysIn(port: number, db: number): Promise<number> {
  const { stdout } = await runProcess('redis-cli', ['-h', '::1', '-p', String(port), '-n', String(db), 'DBSIZE']);
  return Number(stdout.trim());
}

describe('a configuration value the gateway cannot use', () => {
  it.each([
    [{ REDIS_URL: 'redis://h:6379/abc', GATEWAY_REPLICAS: '1' }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://h:6379/2/x', GATEWAY_REPLICAS: '1' }, 'REDIS_URL'],
    [{ HOST: ' ' }, 'HOST'],
    [{ HOST: 'localhost:8080' }, 'HOST'],
    [{ HOST: '[::1]:8080' }, 'HOST'],
    [{ HOST: 'no-such-host.invalid' }, 'HOST'],
    [{ BITRIX24_PORTAL_URL: 'https://:s3cr3tpass@portal.example' }, 'BITRIX24_PORTAL_URL'],
    [
      {
        BITRIX24_WEBHOOK_URL: 'https://:s3cr3tpass@portal.example/rest/1/c0de/',
        GATEWAY_API_KEYS: 'alpha:alpha-key-0123456789',
      },
      'BITRIX24_WEBHOOK_URL',
    ],
  ])('%j exits 2 with one short line naming %s', async (env, variable) => {
    const { code, stderr, stdout } = await exitOf(env);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${variable}: `);
    expect(lines[0]!.length).toBeLessThan(300);
    expect(stderr).not.toMatch(/\n\s+at |s3cr3tpass/);
    expect(stdout).toBe('');
  });
});

describe('configuration values that work', () => {
  it('HOST=[::1] listens on ::1', async () => {
    const started = await gateway({ HOST: '[::1]' });
    expect(started.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
  });

  it('an IPv6 REDIS_URL connects, to its database; one Redis lacks is logged as out of range', async () => {
    const port = await redisOnIpv6();
    const shared = { GATEWAY_REPLICAS: '1', REDIS_REQUIRE_AOF: 'false' };
    const started = await gateway({ ...shared, REDIS_URL: `redis://[::1]:${port}/3` });
    await loggedLine(started, (line) => line.includes(`"Redis reached at [::1]:${port}"`));
    expect(started.lines.join('\n')).not.toContain('host not found');
    // The portal's marker went to database 3, none to 0.
    expect(await keysIn(port, 3)).toBeGreaterThan(0);
    expect(await keysIn(port, 0)).toBe(0);

    const outOfRange = await gateway({ ...shared, REDIS_URL: `redis://[::1]:${port}/99` });
    const line = JSON.parse(await loggedLine(outOfRange, (l) => l.includes('"cause"'))) as {
      cause: string;
      msg: string;
    };
    expect(line.cause).toBe('db index out of range');
    expect(line.msg).toMatch(/database index out of range/);
  });
});

describe('configuration missing', () => {
  it('a webhook without BITRIX24_CLIENT_ID is a warning at start naming it; with it, none', async () => {
    const webhook = `http://127.0.0.1:${await closedPort()}/rest/1/c0de/`;
    const keys = 'alpha:alpha-key-0123456789';
    const without = await gateway({ BITRIX24_WEBHOOK_URL: webhook, GATEWAY_API_KEYS: keys });
    const line = JSON.parse(await loggedLine(without, (l) => l.includes('BITRIX24_CLIENT_ID'))) as {
      level: number;
      msg: string;
    };
    expect(line.level).toBe(40);
    expect(line.msg).toMatch(/^BITRIX24_CLIENT_ID is not set/);

    const withId = await gateway({
      BITRIX24_WEBHOOK_URL: webhook,
      GATEWAY_API_KEYS: keys,
      BITRIX24_CLIENT_ID: 'bot.1',
    });
    // The warning would be logged with the listening line, in the same write: give it time to be read.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(withId.lines.some((l) => l.includes('BITRIX24_CLIENT_ID is not set'))).toBe(false);
  });
});
