// `make start-application` as a user runs it: its recipe is the gateway's entry with EMULATOR_APPLICATION=true,
// which, as a real process, logs where it listens, then each emulated portal installed (member_id and
// address), serves both to the demo key, and at SIGTERM stops and removes its data folder; beside a real
// portal's or application's configuration it exits 2 with one line naming the switch, quoting no secret.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { demoApiKey } from '../../config/application';
import { DEMO_MEMBER_IDS } from './demo';
import { type DemoProcess, installed, listening, startDemoProcess } from './demo-testing';

const TOKEN_KEY = randomBytes(32).toString('base64');
const makefile = readFileSync(new URL('../../../Makefile', import.meta.url), 'utf8');
const running: DemoProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((demo) => demo.started.stop('SIGKILL')));
});

function start(env: Record<string, string>): DemoProcess {
  const demo = startDemoProcess(env);
  running.push(demo);
  return demo;
}

describe('make start-application', () => {
  it("is the gateway's entry with EMULATOR_APPLICATION=true", () => {
    expect(makefile).toMatch(/^start-application: .*\n\tEMULATOR_APPLICATION=true npx tsx src\/main\.ts\n/m);
  });

  it('installs both emulated portals, names them in the log, serves them, and cleans up at SIGTERM', async () => {
    const demo = start({ EMULATOR_APPLICATION: 'true', PORT: '0' });
    const url = await listening(demo);
    const first = JSON.parse(demo.lines[0]!);
    expect(first).toMatchObject({ upstreamMode: 'application', callerAuth: 'api-keys' });
    expect(first.msg).toMatch(/forwarding to 2 emulated portals \(EMULATOR_APPLICATION=true/);
    const dataDir = /portals kept in (\S+)\)$/.exec(first.msg)![1]!;
    expect(existsSync(dataDir)).toBe(true);

    const lines = await installed(demo, DEMO_MEMBER_IDS);
    for (const line of lines) expect(line.domain).toMatch(/^127\.0\.0\.1:\d+$/);
    const headers = { authorization: `Bearer ${demoApiKey.key}`, 'content-type': 'application/json' };
    const listed = await fetch(`${url}/portals`, { headers, signal: AbortSignal.timeout(10_000) });
    expect(await listed.json()).toEqual({
      portals: lines.map((line) => ({ member_id: line.member_id, domain: line.domain, state: 'ready' })),
    });
    // Each portal by the member_id and by the address its line gives.
    for (const portal of lines.flatMap((line) => [line.member_id, line.domain])) {
      const answer = await fetch(`${url}/portals/${portal}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(answer.status, await answer.clone().text()).toBe(200);
      expect(await answer.json()).toMatchObject({ result: true });
    }

    demo.started.child.kill('SIGTERM');
    const { code } = await demo.started.exited;
    expect(code, demo.stderr()).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
    expect(demo.lines.join('\n')).not.toContain(demoApiKey.key);
  }, 120_000);

  it.each([
    [
      "a webhook's",
      {
        BITRIX24_WEBHOOK_URL: 'https://portal.example/rest/1/s3cr3tc0de/',
        BITRIX24_CLIENT_ID: 'my.bot',
        GATEWAY_API_KEYS: 'team:team-key-0123456789',
      },
      'BITRIX24_WEBHOOK_URL',
    ],
    [
      "an application's",
      {
        BITRIX24_APP_CLIENT_ID: 'local.app.1',
        BITRIX24_APP_CLIENT_SECRET: 'S3cr3tAppSecretValue0123456789',
        GATEWAY_TOKEN_KEY: `k1:${TOKEN_KEY}`,
        GATEWAY_API_KEYS: 'team:team-key-0123456789',
        BITRIX24_BOT_EVENTS_URL: 'https://bot.example.com/events',
      },
      'BITRIX24_APP_CLIENT_ID',
    ],
  ])(
    'exits 2 beside %s configuration, naming EMULATOR_APPLICATION and quoting no secret',
    async (_kind, env, other) => {
      const demo = start({ EMULATOR_APPLICATION: 'true', PORT: '0', ...env });
      const [code] = (await once(demo.started.child, 'exit')) as [number | null];
      await demo.started.exited;
      expect(code).toBe(2);
      const stderr = demo.stderr();
      expect(stderr).toContain(`EMULATOR_APPLICATION and ${other}: set one of them, not both`);
      for (const secret of ['s3cr3tc0de', 'S3cr3tAppSecretValue', 'team-key-0123456789', TOKEN_KEY])
        expect(stderr).not.toContain(secret);
      expect(demo.lines).toEqual([]);
    },
    120_000,
  );
});
