// The demo of `make start-application` in one process, through real HTTP: the cloud's fixed member_ids
// (startCloud's memberIds), the demo's configuration (application mode against its own authorization
// server), both portals installed through the gateway's handler and called with the demo key, a data folder
// of its own removed at close, one kept in GATEWAY_DATA_DIR installed again at the next start (a new token
// key each time), and no client secret or token key in a log line.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { type ApplicationUpstream, demoApiKey } from '../../config/application';
import { createLogger } from '../../logger';
import { startGateway } from '../../server';
import { startCloud } from '.';
import { DEMO_MEMBER_IDS, startDemoCloud } from './demo';
import { CLIENT_ID, CLIENT_SECRET } from './testing';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** The gateway of `env` with the demo started as main.ts starts it; its log lines kept. */
async function startDemo(env: Record<string, string>) {
  const demo = await startDemoCloud(loadConfig({ EMULATOR_APPLICATION: 'true', PORT: '0', ...env }));
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const gateway = await startGateway(demo.config, { mode: 'application' }, logger);
  const ready = await demo.install(gateway.url, logger);
  logger.flush();
  const call = (portal: string) =>
    fetch(`${gateway.url}/portals/${portal}/rest/imopenlines.bot.session.transfer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demoApiKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
      signal: AbortSignal.timeout(10_000),
    });
  return {
    demo,
    gateway,
    ready,
    lines,
    call,
    async close() {
      await gateway.close();
      await demo.close();
    },
  };
}

describe("startCloud's memberIds", () => {
  it('gives the first portals those member_ids, the rest random', async () => {
    const cloud = await startCloud({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      portals: 3,
      memberIds: ['one', 'two'],
    });
    try {
      expect(cloud.portals.map((portal) => portal.memberId).slice(0, 2)).toEqual(['one', 'two']);
      expect(cloud.portals[2]!.memberId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await cloud.close();
    }
  });

  it.each([
    [['a', 'a'], 2],
    [['a b'], 2],
    [['x'.repeat(65)], 2],
    [['a', 'b', 'c'], 2],
  ])('refuses %j for %i portals before listening', async (memberIds, portals) => {
    await expect(startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals, memberIds })).rejects.toThrow(
      /memberIds/,
    );
  });
});

describe('the demo (EMULATOR_APPLICATION=true)', () => {
  it('installs both portals through the gateway, which calls each with the demo key; its own folder goes at close', async () => {
    const started = await startDemo({});
    const { demo, lines } = started;
    const dataDir = demo.config.dataDir;
    try {
      expect(started.ready).toBe(2);
      expect(demo.cloud.portals.map((portal) => portal.memberId)).toEqual([...DEMO_MEMBER_IDS]);
      expect(demo.config.upstream).toMatchObject({ mode: 'application', oauthUrl: new URL(demo.cloud.oauthUrl) });
      expect(dataDir.startsWith(join(tmpdir(), 'gateway-demo-'))).toBe(true);
      for (const portal of demo.cloud.portals) {
        const line = lines
          .map((l) => JSON.parse(l))
          .find((l) => l.msg.startsWith(`Emulated portal ${portal.memberId} installed`));
        expect(line).toMatchObject({ member_id: portal.memberId, domain: portal.domain });
        const answer = await started.call(portal.memberId);
        expect(answer.status, await answer.clone().text()).toBe(200);
        expect(portal.bots.filter((bot) => bot.ours)).toHaveLength(1);
      }
      expect(demo.describe(started.gateway.url)).toContain(dataDir);
      const upstream = demo.config.upstream as ApplicationUpstream;
      for (const secret of [upstream.clientSecret, upstream.tokenKeys[0]!.key.toString('base64'), demoApiKey.key])
        expect(lines.join('\n')).not.toContain(secret);
    } finally {
      await started.close();
    }
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);

  it('installs its portals again over a GATEWAY_DATA_DIR kept from an earlier start, under a new key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gateway-demo-test-'));
    folders.push(dataDir);
    const first = await startDemo({ GATEWAY_DATA_DIR: dataDir });
    const firstKey = (first.demo.config.upstream as ApplicationUpstream).tokenKeys[0]!.key;
    await first.close();
    expect(existsSync(dataDir)).toBe(true);

    const second = await startDemo({ GATEWAY_DATA_DIR: dataDir });
    try {
      expect((second.demo.config.upstream as ApplicationUpstream).tokenKeys[0]!.key).not.toEqual(firstKey);
      expect(second.ready).toBe(2);
      for (const id of DEMO_MEMBER_IDS) expect((await second.call(id)).status).toBe(200);
    } finally {
      await second.close();
    }
  }, 30_000);

  it('refuses a configuration without the switch', async () => {
    await expect(startDemoCloud(loadConfig({}))).rejects.toThrow(/EMULATOR_APPLICATION/);
  });
});
