// The data folder under the built gateway (`node dist/main.js`, as production runs it), with real faults:
// kill -9 with keys finished and in flight, a second process on the folder, a read-only folder, one that
// cannot be created, and a full disk (a small tmpfs, mounted here: the tests run as root, as CI does).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator';
import { startEmulator } from '../emulator';
import { type GatewayProcess, root, runProcess, startGatewayProcess } from '../test-support/processes';

const TRANSFER = '/rest/imopenlines.bot.session.transfer';
/** The emulator's test value that answers only after `slowResponseMs`: a call in flight. */
const SLOW_CHAT = 5904;

let emulator: RunningEmulator;
const gateways: GatewayProcess[] = [];
const folders: string[] = [];
const mounts: string[] = [];

beforeAll(async () => {
  emulator = await startEmulator({
    rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
    slowResponseMs: 30_000,
  });
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});
afterAll(async () => {
  await emulator.close();
  for (const mount of mounts) spawnSync('umount', ['-l', mount]);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'data-dir-test-'));
  folders.push(dir);
  return dir;
}

/** A tmpfs of `size` at a new folder (mounting needs root, which the tests have: a failure here is a failure). */
function tmpfs(size: string, readOnly = false): string {
  const at = folder();
  const mounted = spawnSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    `${readOnly ? 'ro,' : ''}size=${size},mode=0700`,
    'tmpfs',
    at,
  ]);
  expect(mounted.status, `mount a tmpfs at ${at}: ${mounted.stderr}`).toBe(0);
  mounts.push(at);
  return at;
}

async function gateway(dataDir: string): Promise<GatewayProcess> {
  const started = await startGatewayProcess({
    BITRIX24_WEBHOOK_URL: emulator.webhookUrl,
    BITRIX24_CLIENT_ID: 'data.bot',
    GATEWAY_ALLOW_ANONYMOUS: 'true',
    GATEWAY_DATA_DIR: dataDir,
    UPSTREAM_TIMEOUT_MS: '60000',
    LOG_LEVEL: 'info',
  });
  gateways.push(started);
  return started;
}

function transfer(url: string, chat: number, key?: string): Promise<Response> {
  return fetch(`${url}${TRANSFER}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { 'idempotency-key': key }) },
    body: JSON.stringify({ CHAT_ID: chat, USER_ID: 12 }),
  });
}

const callsFor = (chat: number) => emulator.received.filter((call) => Number(call.params.CHAT_ID) === chat).length;

/** Starts the built gateway on `dataDir` and expects it to refuse: exit 2, naming GATEWAY_DATA_DIR. */
async function refusedStart(dataDir: string): Promise<string> {
  const run = await runProcess(process.execPath, [join(root, 'dist/main.js')], {
    env: { PATH: process.env.PATH, PORT: '0', GATEWAY_DATA_DIR: dataDir },
    timeoutMs: 20_000,
  });
  expect(run.code, run.stdout + run.stderr).toBe(2);
  expect(run.stderr).toMatch(/^GATEWAY_DATA_DIR: /);
  expect(run.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  return run.stderr;
}

describe('kill -9 and a restart on the same data folder', () => {
  it('replays a finished key and refuses one left in flight: neither is sent again', async () => {
    const dataDir = folder();
    const first = await gateway(dataDir);
    const done = await transfer(first.url, 1301, 'finished-before-the-kill');
    expect(done.status).toBe(200);
    const doneBody = await done.text();
    // A call that reached Bitrix24 and is waiting for its answer when the process is killed.
    const running = transfer(first.url, SLOW_CHAT, 'in-flight-at-the-kill').catch((error: unknown) => error);
    for (let i = 0; i < 200 && callsFor(SLOW_CHAT) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(callsFor(SLOW_CHAT)).toBe(1);
    first.child.kill('SIGKILL');
    await running;

    const second = await gateway(dataDir);
    const replayed = await transfer(second.url, 1301, 'finished-before-the-kill');
    expect([replayed.status, replayed.headers.get('idempotent-replayed'), await replayed.text()]).toEqual([
      200,
      'true',
      doneBody,
    ]);
    const unknown = await transfer(second.url, SLOW_CHAT, 'in-flight-at-the-kill');
    expect(unknown.status).toBe(502);
    expect(((await unknown.json()) as { error: string }).error).toBe('UPSTREAM_UNREACHABLE');
    expect([callsFor(1301), callsFor(SLOW_CHAT)]).toEqual([1, 1]);
  });
});

describe('a data folder the gateway cannot use stops its start (exit 2, naming GATEWAY_DATA_DIR)', () => {
  it('one another gateway process holds', async () => {
    const dataDir = folder();
    await gateway(dataDir);
    expect(await refusedStart(dataDir)).toMatch(/in use by another gateway process/);
  });

  it('one that is missing and cannot be created', async () => {
    const file = join(folder(), 'a-file');
    writeFileSync(file, '');
    expect(await refusedStart(join(file, 'data'))).toMatch(/does not exist and cannot be created/);
  });

  it('a read-only one', async () => {
    expect(await refusedStart(tmpfs('1m', true))).toMatch(/read-only/);
  });

  it('makes a folder it creates 0700, and one open to others 0700', async () => {
    const parent = folder();
    const created = join(parent, 'new', 'data');
    const running = await gateway(created);
    expect(statSync(created).mode & 0o777).toBe(0o700);
    expect(statSync(join(created, 'gateway.sqlite')).mode & 0o777).toBe(0o600);
    await running.stop();
    const open = join(parent, 'open');
    mkdirSync(open, { mode: 0o777 });
    spawnSync('chmod', ['0777', open]);
    await gateway(open);
    expect(statSync(open).mode & 0o777).toBe(0o700);
  });
});

describe('a full disk', () => {
  it('answers a keyed call 503 with nothing sent, and serves calls without a key', async () => {
    const dataDir = tmpfs('512k');
    const running = await gateway(dataDir);
    // Fill what is left of the tmpfs.
    const filler = spawnSync('dd', ['if=/dev/zero', `of=${join(dataDir, 'filler')}`, 'bs=4096'], { encoding: 'utf8' });
    expect(filler.stderr).toMatch(/No space left on device/);
    const before = emulator.received.length;
    const answers: number[] = [];
    // The database may still have a free page or two: new keys until it has none.
    for (let i = 0; i < 50; i++) {
      const answer = await transfer(running.url, 1400 + i, `full-disk-${i}`);
      answers.push(answer.status);
      if (answer.status === 503) {
        const body = (await answer.json()) as { error: string; error_description: string };
        expect(body.error).toBe('IDEMPOTENCY_STORE_UNAVAILABLE');
        expect(body.error_description).toMatch(/no room left on its disk/);
        expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
        // The log line says why, under the request's id (its lines are written within 100 ms).
        const requestId = answer.headers.get('x-request-id');
        for (let i = 0; i < 40 && !running.lines.some((line) => line.includes('did not take the key')); i++)
          await new Promise((resolve) => setTimeout(resolve, 25));
        const line = running.lines.find((l) => l.includes('did not take the key'));
        expect(line && (JSON.parse(line) as { reqId?: string }).reqId).toBe(requestId);
        break;
      }
    }
    expect(answers.at(-1)).toBe(503);
    const refusedChat = 1400 + answers.length - 1;
    expect(callsFor(refusedChat)).toBe(0);
    expect(emulator.received.length - before).toBe(answers.length - 1);
    expect((await transfer(running.url, 1499)).status).toBe(200);
  });
});
