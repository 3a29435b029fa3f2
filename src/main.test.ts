// The entry point as a user runs it: a real process, its first log line, its exit on bad configuration.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { type StartedProcess, startProcess, temporaryDataDir, tsx } from './test-support/processes';

const entry = new URL('./main.ts', import.meta.url).pathname;
const running: StartedProcess[] = [];

/** A process in this node (`node --import tsx`, no tsx wrapper), stopped with its whole group after each test. */
function spawnNode(args: [string, string[]], env: Record<string, string>): ChildProcess {
  const started = startProcess(...args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, GATEWAY_DATA_DIR: temporaryDataDir(), ...env },
    stdio: 'pipe',
  });
  running.push(started);
  return started.child;
}

function start(env: Record<string, string>, script = entry): ChildProcess {
  return spawnNode(tsx(script), env);
}

async function firstLine(child: ChildProcess): Promise<Record<string, unknown>> {
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  return JSON.parse(line) as Record<string, unknown>;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop('SIGKILL')));
});

describe('the gateway process', () => {
  it('says in its first log line that it runs against the emulator, serves, and stops on SIGTERM', async () => {
    const child = start({ PORT: '0' });
    const line = await firstLine(child);
    expect(line.msg).toMatch(/embedded Bitrix24 emulator/);
    expect(line.upstreamMode).toBe('emulator');

    const response = await fetch(`${line.url}/rest/imopenlines.bot.session.transfer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
    });
    expect(response.status).toBe(200);
    expect((await response.json()).result).toBe(true);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it.each([
    [{ PORT: 'http' }, 'PORT'],
    [{ BITRIX24_WEBHOOK_URL: 'https://portal.example/rest/1/s3cr3t/' }, 'GATEWAY_API_KEYS'],
    [{ UPSTREAM_TIMEOUT_MS: '-5' }, 'UPSTREAM_TIMEOUT_MS: must be a positive whole number'],
    [{ BITRIX24_PORTAL_URL: 'http://portal.example' }, 'BITRIX24_ALLOW_HTTP'],
  ])('stops on %j with a message naming %s', async (env, variable) => {
    const { code, stderr } = await exitOf(start(env));
    expect(code).toBe(2);
    expect(stderr).toContain(variable);
    expect(stderr).not.toContain('s3cr3t');
  });

  it('stops with one line naming PORT when the port is in use, not a stack trace', async () => {
    await withBusyPort(async (port) => {
      const { code, stderr } = await exitOf(start({ PORT: String(port) }));
      expect(code).toBe(2);
      expect(stderr.trim()).toBe(`PORT: port ${port} on 127.0.0.1 is already in use; choose another PORT`);
    });
  });
});

describe('keys rotated without a restart (GATEWAY_API_KEYS_FILE)', () => {
  const keyA = 'rotation-key-a-0123456789';
  const keyB = 'rotation-key-b-0123456789';

  it('reloads them on SIGHUP and when the file changes, keeps the current set when the new one is invalid, and never logs a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `alpha:${keyA}\n`);
    // One process (no tsx CLI in between, which would pass it no SIGHUP): the signal reaches the gateway.
    const child = start({ PORT: '0', GATEWAY_API_KEYS_FILE: file });
    const lines: string[] = [];
    const next = lineReader(child, lines);
    const { url } = JSON.parse(await next((line) => line.includes('Gateway listening'))) as { url: string };
    const status = async (key: string) =>
      (
        await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
        })
      ).status;
    expect([await status(keyA), await status(keyB)]).toEqual([200, 401]);

    writeFileSync(file, `beta:${keyB}\n`);
    child.kill('SIGHUP');
    // The file's change also reloads it, a moment later; each line is told apart by its trigger and teams.
    const sighup = (line: string) => line.includes('"trigger":"SIGHUP"');
    expect(JSON.parse(await next((line) => sighup(line) && line.includes('API keys reloaded')))).toMatchObject({
      teams: ['beta'],
    });
    expect([await status(keyA), await status(keyB)]).toEqual([401, 200]);

    writeFileSync(file, 'beta:short\n');
    child.kill('SIGHUP');
    const refused = JSON.parse(await next((line) => sighup(line) && line.includes('API keys not reloaded')));
    expect(refused.problems.join()).toContain('the key of team "beta" must be 16 to 256');
    expect(await status(keyB)).toBe(200);

    // A Kubernetes secret is updated in place, with no signal: the change of the file is enough.
    writeFileSync(file, `alpha:${keyA}\ngamma:${keyB}x\n`);
    await next(
      (line) =>
        line.includes('API keys reloaded') && line.includes('"trigger":"file changed"') && line.includes('gamma'),
    );
    expect([await status(keyA), await status(keyB)]).toEqual([200, 401]);
    expect(lines.join('\n')).not.toMatch(/rotation-key/);
  }, 30_000);
});

/** Collects a child's stdout lines; `next(match)` resolves with the first line from now on that matches. */
function lineReader(child: ChildProcess, lines: string[]): (match: (line: string) => boolean) => Promise<string> {
  const reader = createInterface({ input: child.stdout! });
  const waiting: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  reader.on('line', (line) => {
    lines.push(line);
    const index = waiting.findIndex((w) => w.match(line));
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(line);
  });
  return (match) => new Promise((resolve) => waiting.push({ match, resolve }));
}

describe('the built gateway (dist/main.js, as the Docker image runs it)', () => {
  it('serves the emulator-mode gateway with plain node: /healthz, a transfer, the spec and /docs', async () => {
    const built = new URL('../dist/main.js', import.meta.url).pathname;
    const child = spawnNode([process.execPath, [built]], { PORT: '0' });
    const line = await firstLine(child);
    expect((await fetch(`${line.url}/healthz`)).status).toBe(200);
    const transfer = await fetch(`${line.url}/rest/imopenlines.bot.session.transfer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
    });
    expect([transfer.status, (await transfer.json()).result]).toEqual([200, true]);
    expect((await (await fetch(`${line.url}/openapi.json`)).json()).openapi).toBe('3.0.3');
    expect((await fetch(`${line.url}/docs/redoc.standalone.js`)).status).toBe(200);
  });
});

describe('the standalone emulator process', () => {
  const emulatorEntry = new URL('./emulator/main.ts', import.meta.url).pathname;

  it.each([['eighty'], ['70000'], ['-1']])('stops on EMULATOR_PORT=%s with a message naming it', async (port) => {
    const { code, stderr } = await exitOf(start({ EMULATOR_PORT: port }, emulatorEntry));
    expect(code).toBe(2);
    expect(stderr).toContain('EMULATOR_PORT: must be a whole number from 0 to 65535');
  });

  it.each([
    ['host:8081', 'EMULATOR_HOST: must be an IP address'],
    ['[localhost]', 'EMULATOR_HOST: must be an IP address'],
    ['no-such-host.invalid', 'EMULATOR_HOST: no-such-host.invalid does not resolve'],
  ])('stops on EMULATOR_HOST=%s with one line naming it', async (host, message) => {
    const { code, stderr } = await exitOf(start({ EMULATOR_PORT: '0', EMULATOR_HOST: host }, emulatorEntry));
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("answers the emulator page's example call at the webhook URL of its first line, and BOT_ID_ERROR without CLIENT_ID", async () => {
    const readme = readFileSync(new URL('../docs/emulator.md', import.meta.url), 'utf8');
    const body =
      /emulatorsecret\/imopenlines\.bot\.session\.transfer \\\n\s+-H 'Content-Type: application\/json' -d '([^']+)'/.exec(
        readme,
      )?.[1];
    expect(body, "docs/emulator.md's example call").toBe('{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"my.bot"}');
    const child = start({ EMULATOR_PORT: '0' }, emulatorEntry);
    const { webhookUrl } = (await firstLine(child)) as { webhookUrl: string };
    expect(webhookUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/rest\/1\/emulatorsecret\/$/);
    const call = (params: string) =>
      fetch(`${webhookUrl}imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: params,
      });
    const answer = await call(body!);
    expect([answer.status, (await answer.json()).result]).toEqual([200, true]);
    const withoutClientId = await call('{"CHAT_ID":112,"USER_ID":12}');
    expect([withoutClientId.status, (await withoutClientId.json()).error]).toEqual([400, 'BOT_ID_ERROR']);
  });

  it('stops with one line naming EMULATOR_PORT when the port is in use', async () => {
    await withBusyPort(async (port) => {
      const { code, stderr } = await exitOf(start({ EMULATOR_PORT: String(port) }, emulatorEntry));
      expect(code).toBe(2);
      expect(stderr.trim()).toBe(
        `EMULATOR_PORT: port ${port} on 127.0.0.1 is already in use; choose another EMULATOR_PORT`,
      );
    });
  });
});

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

async function withBusyPort(run: (port: number) => Promise<void>): Promise<void> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await run((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}
