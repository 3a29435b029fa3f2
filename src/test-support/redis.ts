// A real Redis server (Debian's redis-server, which `make test` installs) on a free loopback port, for the
// tests of the shared limit and the keys: started (with extra arguments: `--maxmemory-policy allkeys-lru`,
// `--requirepass …`), without persistence or with an append-only file in a folder of its own (`aof`),
// stopped (SIGKILL), started again on the same port (empty, its files wiped, or with its data), stalled with
// SIGSTOP and resumed with SIGCONT, at will. A test that starts one stops it, even when it fails; `dispose`
// also removes its folder (and the folders of servers a test forgot go when its process exits).
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from './ports';
import { type StartedProcess, startProcess } from './processes';

export interface RedisServer {
  url: string;
  port: number;
  /** With `aof`: the folder of its append-only file. */
  dir?: string;
  /** SIGKILL: with `aof` (appendfsync always) every write it answered is in its file. */
  stop(): Promise<void>;
  /** Starts it again on its port, empty (its files wiped), or with what its append-only file kept. */
  start(options?: { keepData?: boolean }): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing (a stalled Redis). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

/** The folders of servers started with `aof`, removed when this process exits if no test did. */
const folders = new Set<string>();
process.once('exit', () => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/**
 * `args`: more redis-server arguments; `password`: what `--requirepass` was given, for the PING that waits;
 * `tlsPort`: a TLS-only server (`--port 0 --tls-port …` in `args`), waited for until it accepts connections;
 * `aof`: an append-only file (`appendfsync always`) in a temporary folder of its own, as production runs it.
 */
export async function startRedis(
  args: string[] = [],
  password?: string,
  tlsPort?: number,
  { aof = false }: { aof?: boolean } = {},
): Promise<RedisServer> {
  const port = tlsPort ?? (await closedPort());
  const dir = aof ? mkdtempSync(join(tmpdir(), 'redis-aof-')) : undefined;
  if (dir) folders.add(dir);
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];
  let child: StartedProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    ...(dir && { dir }),
    async start({ keepData = false } = {}) {
      if (dir && !keepData) {
        rmSync(join(dir, 'appendonlydir'), { recursive: true, force: true });
        rmSync(join(dir, 'dump.rdb'), { force: true });
      }
      child = startProcess(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...args],
        { stdio: 'ignore' },
      );
      if (tlsPort) await accepting(tlsPort);
      else await waitFor(port, true, password);
    },
    pause() {
      child?.child.kill('SIGSTOP');
    },
    resume() {
      child?.child.kill('SIGCONT');
    },
    async stop() {
      if (!child) return;
      const stopping = child;
      child = undefined;
      await stopping.stop('SIGKILL');
      if (!tlsPort) await waitFor(port, false);
    },
    async dispose() {
      child?.child.kill('SIGCONT');
      await server.stop();
      if (dir) {
        rmSync(dir, { recursive: true, force: true });
        folders.delete(dir);
      }
    },
  };
  await server.start();
  return server;
}

async function waitFor(port: number, up: boolean, password?: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = createConnection(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.end(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n');
        let seen = '';
        socket.on('data', (data) => {
          seen += String(data);
          if (seen.includes('+PONG') || seen.includes('-')) resolve(seen.includes('+PONG'));
        });
        socket.once('close', () => resolve(seen.includes('+PONG')));
      });
      socket.once('error', () => resolve(false));
    });
    if (answered === up) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not ${up ? 'start' : 'stop'}`);
}

async function accepting(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = createConnection(port, '127.0.0.1');
      socket.once('connect', () => resolve(Boolean(socket.destroy())));
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on TLS port ${port} did not start`);
}

/**
 * Ages every gateway marker on the server at `url` whose key starts with `prefix` (the marker's hash tag
 * begins `{<REDIS_KEY_PREFIX>:`; waiting up to 5 s for one to be written) as if written longer ago than any
 * lease: a Redis that has kept its data for a while, so that keys are not fail-closed as on a new one. For
 * tests whose subject is not that window; the markers' epochs are kept, so no replica takes it for a loss.
 */
export async function settleMarkers(url: string, prefix = ''): Promise<void> {
  const { createClient } = await import('redis');
  const client = createClient({ url });
  await client.connect();
  try {
    for (const deadline = Date.now() + 5_000; ; ) {
      const markers: string[] = [];
      for await (const keys of client.scanIterator({
        MATCH: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*:marker`,
        TYPE: 'hash',
      }))
        markers.push(...keys);
      if (markers.length > 0) {
        for (const marker of markers) await client.hSet(marker, 'since', '0');
        return;
      }
      if (Date.now() > deadline) throw new Error(`no marker written on ${url}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.close();
  }
}
