// `make replicas`: what compose.yaml runs, without Docker. The standalone emulator as the portal (at
// Bitrix24's own limits), a redis-server on a free loopback port (its append-only file in a temporary
// folder, removed when it stops), and three built gateways (`node
// dist/main.js`, after `make build`) sharing it, configured as compose configures them; it waits until each
// gateway answers /readyz with the shared limiter, prints the URLs, and stops everything on Ctrl-C (SIGINT)
// or SIGTERM. A process that exits on its own takes the rest down, with its last lines.
//
//   REPLICAS_PORT   the first gateway's port (default 8080; the others take the next two, the emulator
//                   the one after); 0 takes free ports for all of them
//   REDIS_SERVER    the redis-server to run (default /usr/bin/redis-server, which `make redis` installs)
//   GATEWAY_API_KEYS, BITRIX24_CLIENT_ID, LOG_LEVEL   passed to the gateways (defaults as in compose.yaml)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPLICAS = 3;
const API_KEYS = process.env.GATEWAY_API_KEYS || 'demo:demo-key-0123456789abcdef';
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const READY_WITHIN_MS = 30_000;
const STOP_WITHIN_MS = 10_000;

const basePort = Number(process.env.REPLICAS_PORT ?? '8080');
if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65_532) {
  fail(`REPLICAS_PORT: must be 0 (free ports) or a port from 1 to 65532, not ${process.env.REPLICAS_PORT}`);
}
for (const file of ['dist/main.js', 'dist/emulator/main.js']) {
  if (!existsSync(join(root, file))) fail(`${file} is missing: run make build first (make replicas does)`);
}
if (!existsSync(REDIS_SERVER)) fail(`${REDIS_SERVER} is missing: make redis installs Debian's redis-server`);

/** Every process started, in the order started: stopped in the reverse order. */
const children = [];
/** redis-server's folder, for its append-only file (the gateways require one, as compose's Valkey has). */
let redisDir;
let stopping = false;

function fail(message) {
  process.stderr.write(`replicas: ${message}\n`);
  process.exit(2);
}

/** A loopback port nothing listens on. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command` in its own process group (so that Ctrl-C reaches this script, which stops the children
 * in order: the gateways drain first), its output prefixed with `name`.
 */
function start(name, command, args, env) {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const entry = { name, child, last: [], listeners: [] };
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      entry.last = [...entry.last.slice(-9), line];
      process.stdout.write(`${name.padEnd(9)} | ${line}\n`);
      if (stream === child.stdout) for (const listener of entry.listeners) listener(line);
    });
  }
  child.once('error', (error) => {
    process.stderr.write(`replicas: ${name} could not start: ${error.message}\n`);
    void stopAll(1);
  });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `replicas: ${name} (pid ${child.pid}) exited on its own (${signal ?? `code ${code}`}); stopping the rest\n`,
    );
    if (entry.last.length > 0) process.stderr.write(`replicas: its last lines:\n  ${entry.last.join('\n  ')}\n`);
    void stopAll(1);
  });
  children.push(entry);
  return entry;
}

/** The first line of `entry`'s stdout that `match`es, parsed as JSON. */
function firstLine(entry, match) {
  return new Promise((resolve, reject) => {
    entry.listeners.push((line) => {
      if (!match(line)) return;
      try {
        resolve(JSON.parse(line));
      } catch (error) {
        reject(error);
      }
    });
    entry.child.once('exit', () => reject(new Error(`${entry.name} exited before it was ready`)));
  });
}

/** Redis answers PING on `port`. */
function pings(port) {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => socket.end('PING\r\n'));
    socket.once('data', (data) => resolve(String(data).startsWith('+PONG')));
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` until it is true, or throws after READY_WITHIN_MS. */
async function until(what, check) {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} was not ready within ${READY_WITHIN_MS / 1000} s`);
}

/** SIGTERM to every process (gateways first), SIGKILL to any still running after STOP_WITHIN_MS. */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const { name, child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      child.kill('SIGTERM');
    } catch {
      continue;
    }
    const timer = new Promise((resolve) => setTimeout(resolve, STOP_WITHIN_MS, 'late'));
    if ((await Promise.race([exited, timer])) === 'late') {
      process.stderr.write(`replicas: ${name} did not stop within ${STOP_WITHIN_MS / 1000} s: SIGKILL\n`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      await exited;
    }
  }
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  process.stdout.write('replicas: stopped\n');
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));

try {
  const ports =
    basePort === 0
      ? await Promise.all(Array.from({ length: REPLICAS + 1 }, freePort))
      : Array.from({ length: REPLICAS + 1 }, (_, i) => basePort + i);
  const gatewayPorts = ports.slice(0, REPLICAS);
  const emulatorPort = ports[REPLICAS];

  const emulator = start('emulator', process.execPath, ['dist/emulator/main.js'], {
    EMULATOR_HOST: '127.0.0.1',
    EMULATOR_PORT: String(emulatorPort),
  });
  const { url: emulatorUrl, webhookUrl } = await firstLine(emulator, (line) =>
    line.includes('"Bitrix24 emulator listening"'),
  );

  const redisPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  redisDir = mkdtempSync(join(tmpdir(), 'replicas-redis-'));
  start('redis', REDIS_SERVER, [
    '--port',
    String(redisPort),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--dir',
    redisDir,
    '--loglevel',
    'warning',
  ]);
  await until('redis-server', () => pings(redisPort));

  // compose.yaml's gateway service, each replica on a loopback port of its own instead of behind nginx.
  const gateways = gatewayPorts.map((port, i) =>
    start(`gateway-${i + 1}`, process.execPath, ['dist/main.js'], {
      HOST: '127.0.0.1',
      PORT: String(port),
      BITRIX24_WEBHOOK_URL: webhookUrl,
      BITRIX24_ALLOW_HTTP: 'true',
      BITRIX24_CLIENT_ID: process.env.BITRIX24_CLIENT_ID || 'compose.bot',
      GATEWAY_API_KEYS: API_KEYS,
      REDIS_URL: redisUrl,
      GATEWAY_REPLICAS: String(REPLICAS),
    }),
  );
  const urls = await Promise.all(
    gateways.map(async (gateway) => {
      const { url } = await firstLine(gateway, (line) => line.includes('"Gateway listening'));
      // Ready, and sharing the portal's limit through Redis.
      await until(`${gateway.name} (${url}/readyz)`, async () => {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
        return response.status === 200 && (await response.json()).limiter === 'shared';
      });
      return url;
    }),
  );

  const key = API_KEYS.split(',')[0].split(':').slice(1).join(':');
  process.stdout.write(
    [
      '',
      `replicas: ${REPLICAS} gateways ready, sharing one Redis (Ctrl-C stops them all)`,
      ...urls.map((url, i) => `  gateway-${i + 1}  ${url}`),
      `  redis      ${redisUrl}`,
      `  emulator   ${emulatorUrl} (the portal, at Bitrix24's own limits; webhook ${webhookUrl})`,
      `  try: curl -s -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\`,
      `         -d '{"CHAT_ID":112,"USER_ID":12}' ${urls[0]}/rest/imopenlines.bot.session.transfer`,
      '  (calls with an Idempotency-Key are 503 for the first lease, 65 s: Redis is new; see docs/replicas.md)',
      '',
    ].join('\n'),
  );
} catch (error) {
  if (!stopping) {
    process.stderr.write(`replicas: ${error.message}\n`);
    for (const { name, last } of children) {
      if (last.length > 0) process.stderr.write(`replicas: the last lines of ${name}:\n  ${last.join('\n  ')}\n`);
    }
    await stopAll(1);
  }
}
