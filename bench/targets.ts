// The servers the benchmark measures or forwards to, each started as its own process and waited for
// until it answers: the emulator (bench/emulator.ts), the gateway (built, or from the sources under tsx),
// Stoplight Prism, the two floors (bench/floor.ts, bench/forward-floor.ts), and redis-server for the runs
// with a limit (and keys) shared through Redis.
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { temporaryDataDir } from '../src/test-support/processes';
import { baseEnv, CPU, type Cpu, firstJsonLine, freePort, launch, type Proc, waitFor } from './processes';
import { KEY, root } from './settings';

/** A server the benchmark started. */
export interface Server {
  proc: Proc;
  /** Its origin, `http://127.0.0.1:<port>`. */
  url: string;
}

export interface Emulator extends Server {
  /** The gateway's webhook into it: `<url>/rest/1/emulatorsecret/`. */
  webhookUrl: string;
  /** Its counters: GET /stats, POST /reset. */
  controlUrl: string;
}

export interface EmulatorStats {
  calls: number;
  rejectedByRateLimit: number;
  maxBucketLevel: number;
}

/** The emulator with its limits off, or its bucket at `rateLimit` ("<rate>,<burst>"). */
export async function startEmulator(cpu: Cpu, rateLimit = 'off', requestIds = false): Promise<Emulator> {
  const env = baseEnv({ BENCH_EMULATOR_RATE_LIMIT: rateLimit, BENCH_EMULATOR_REQUEST_IDS: requestIds ? 'on' : 'off' });
  const proc = launch('emulator', cpu, process.execPath, ['--import', 'tsx', 'bench/emulator.ts'], env);
  const ready = await waitFor(proc, 'its first line', () =>
    firstJsonLine<Omit<Emulator, 'proc'>>(proc, (v) => typeof v.url === 'string'),
  );
  return { proc, url: ready.url, webhookUrl: ready.webhookUrl, controlUrl: ready.controlUrl };
}

export async function emulatorStats(emulator: Emulator): Promise<EmulatorStats> {
  return (await fetch(`${emulator.controlUrl}/stats`)).json() as Promise<EmulatorStats>;
}

export async function resetEmulator(emulator: Emulator): Promise<void> {
  await fetch(`${emulator.controlUrl}/reset`, { method: 'POST' });
}

/**
 * How the gateway is run: `built` as production and the Docker image run it (`node dist/main.js`, compiled
 * by `make build`), `tsx` from the sources as `make start` does (transpiled at start).
 */
export type GatewayBuild = 'built' | 'tsx';
export const gatewayCommand: Record<GatewayBuild, string[]> = {
  built: ['dist/main.js'],
  tsx: ['--import', 'tsx', 'src/main.ts'],
};

export interface GatewayOptions {
  build: GatewayBuild;
  /**
   * `oauth`: BITRIX24_PORTAL_URL, each body carries the caller's token (the throughput runs: the same body
   * as Prism and the floors take). `webhook`: BITRIX24_WEBHOOK_URL and BITRIX24_CLIENT_ID, the gateway's own.
   */
  mode: 'oauth' | 'webhook';
  /** More of the gateway's configuration (RATE_LIMIT_SHAPING, …). */
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** Its log file's name in bench/tmp/logs/. */
  name?: string;
  /** 0 (default): any free port, read from its "Gateway listening" line. */
  port?: number;
}

/** Spawns the gateway, configured by its environment only, as users configure it; does not wait. */
export function spawnGateway(emulator: Emulator, options: GatewayOptions): Proc {
  const upstream: Record<string, string> =
    options.mode === 'oauth'
      ? { BITRIX24_PORTAL_URL: emulator.url }
      : { BITRIX24_WEBHOOK_URL: emulator.webhookUrl, BITRIX24_CLIENT_ID: 'bench.bot' };
  return spawnGatewayWith(upstream, options);
}

/** Spawns the gateway with `upstream` as what it calls (application mode: bench/cloud-targets.ts). */
export function spawnGatewayWith(upstream: Record<string, string>, options: Omit<GatewayOptions, 'mode'>): Proc {
  return launch(
    options.name ?? 'gateway',
    CPU.target,
    process.execPath,
    [...(options.nodeFlags ?? []), ...gatewayCommand[options.build]],
    baseEnv({
      ...upstream,
      GATEWAY_API_KEYS: `bench:${KEY}`,
      // Each gateway its own data folder (its database is locked by the one that opened it).
      GATEWAY_DATA_DIR: temporaryDataDir(),
      HOST: '127.0.0.1',
      PORT: String(options.port ?? 0),
      LOG_LEVEL: 'info',
      ...options.env,
    }),
  );
}

/** The gateway, once it has logged where it listens. */
export function startGateway(emulator: Emulator, options: GatewayOptions): Promise<Server> {
  return listening(spawnGateway(emulator, options));
}

/** A gateway spawned, once it has logged where it listens. */
export async function listening(proc: Proc): Promise<Server> {
  const ready = await waitFor(proc, 'its "Gateway listening" log line', () =>
    firstJsonLine<{ url: string }>(
      proc,
      (v) => typeof v.url === 'string' && String(v.msg).startsWith('Gateway listening'),
    ),
  );
  return { proc, url: ready.url };
}

export const PRISM_LOG_LEVEL = 'silent';

/**
 * `prism proxy` in one process (no --multiprocess), like the gateway, and with no logging at all (the
 * gateway logs a line per request): what favours Prism most.
 */
export async function startPrism(emulator: Emulator): Promise<Server> {
  const bin = join(root, 'bench/node_modules/@stoplight/prism-cli/dist/index.js');
  if (!existsSync(bin)) throw new Error('Prism is not installed: run `make bench` (it runs npm ci in bench/)');
  const port = await freePort();
  const args = [
    'proxy',
    'openapi/openapi.yaml',
    emulator.url,
    '--errors',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
  ];
  const proc = launch('prism', CPU.target, process.execPath, [bin, ...args, '-v', PRISM_LOG_LEVEL], baseEnv({}));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(proc, `an answer on ${url}`, async () => {
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1_000) });
      return true;
    } catch {
      return undefined;
    }
  });
  return { proc, url };
}

/** bench/floor.ts: bare node:http answering the gateway's 400 (the rejected-request floor). */
export function startFloor(): Promise<Server> {
  return startBenchServer('floor', 'bench/floor.ts', {});
}

/** bench/forward-floor.ts: node:http in, an undici Pool out to the emulator (the valid-transfer floor). */
export function startForwardFloor(emulator: Emulator): Promise<Server> {
  return startBenchServer('forward-floor', 'bench/forward-floor.ts', { BENCH_UPSTREAM: emulator.url });
}

/** A server of bench/ whose first output line is JSON: {url}. */
async function startBenchServer(name: string, file: string, env: Record<string, string>): Promise<Server> {
  const proc = launch(name, CPU.target, process.execPath, ['--import', 'tsx', file], baseEnv(env));
  const ready = await waitFor(proc, 'its first line', () =>
    firstJsonLine<{ url: string }>(proc, (v) => typeof v.url === 'string'),
  );
  return { proc, url: ready.url };
}

/** Debian's redis-server (`make redis` installs it), as the tests start theirs (src/test-support/redis.ts). */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/**
 * A redis-server of its own on a free loopback port, pinned to `cpu`; `url` is redis://. No persistence, or
 * with `aof` an append-only file (`appendfsync everysec`, compose's choice) in a temporary folder: application
 * mode keeps the portals in Redis and is not ready without one.
 */
export async function startRedis(cpu: Cpu, { aof = false } = {}): Promise<Server> {
  if (!existsSync(REDIS_SERVER))
    throw new Error(`${REDIS_SERVER} is missing: run \`make redis\` (Debian's redis-server)`);
  const port = await freePort();
  const persistence = aof
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', temporaryDataDir()]
    : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence];
  const proc = launch('redis', cpu, REDIS_SERVER, args, baseEnv({}));
  await waitFor(proc, `PONG on port ${port}`, () => redisPing(port));
  return { proc, url: `redis://127.0.0.1:${port}` };
}

function redisPing(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.end();
      resolve(String(data).startsWith('+PONG') ? true : undefined);
    });
    socket.once('error', () => resolve(undefined));
    socket.once('close', () => resolve(undefined));
  });
}

/** Waits until the gateway's /readyz says its limit is shared through Redis (it starts degraded). */
export async function waitShared(gateway: Server): Promise<void> {
  await waitFor(gateway.proc, '/readyz reporting limiter "shared"', async () => {
    try {
      const response = await fetch(`${gateway.url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { limiter?: string };
      return body.limiter === 'shared' ? true : undefined;
    } catch {
      return undefined;
    }
  });
}
