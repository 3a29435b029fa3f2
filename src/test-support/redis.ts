// A real Redis server (Debian's redis-server, which `make test` installs) on a free loopback port, for the
// tests of the shared limit and the keys: started (with extra arguments: `--maxmemory-policy allkeys-lru`,
// `--requirepass …`), stopped, started again on the same port (empty: no persistence), stalled with SIGSTOP
// and resumed with SIGCONT, at will. A test that starts one stops it, even when it fails.
import { createConnection } from 'node:net';
import { closedPort } from './ports';
import { type StartedProcess, startProcess } from './processes';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on its port, empty. */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing (a stalled Redis). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

/**
 * `args`: more redis-server arguments; `password`: what `--requirepass` was given, for the PING that waits;
 * `tlsPort`: a TLS-only server (`--port 0 --tls-port …` in `args`), waited for until it accepts connections.
 */
export async function startRedis(args: string[] = [], password?: string, tlsPort?: number): Promise<RedisServer> {
  const port = tlsPort ?? (await closedPort());
  let child: StartedProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = startProcess(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
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
