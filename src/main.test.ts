// The entry point as a user runs it: a real process, its first log line, its exit on bad configuration.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const tsx = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
const entry = new URL('./main.ts', import.meta.url).pathname;
const running: ChildProcess[] = [];

function start(env: Record<string, string>): ChildProcess {
  const child = spawn(tsx, [entry], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: 'pipe' });
  running.push(child);
  return child;
}

async function firstLine(child: ChildProcess): Promise<Record<string, unknown>> {
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  return JSON.parse(line) as Record<string, unknown>;
}

afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
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
  ])('stops on %j with a message naming %s', async (env, variable) => {
    const child = start(env);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain(variable);
    expect(stderr).not.toContain('s3cr3t');
  });
});
