// A real Redis server (Debian's redis-server, which `make test` installs) on a free loopback port, for the
// tests of the shared limit: started, stopped and started again on the same port at will.
import { createConnection } from 'node:net';
import { closedPort } from './ports';
import { type StartedProcess, startProcess } from './processes';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

export async function startRedis(): Promise<RedisServer> {
  const port = await closedPort();
  let child: StartedProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = startProcess(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      await waitFor(port, true);
    },
    async stop() {
      if (!child) return;
      await child.stop('SIGKILL');
      await waitFor(port, false);
    },
  };
  await server.start();
  return server;
}

async function waitFor(port: number, up: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = createConnection(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.end('PING\r\n');
        socket.once('data', (data) => resolve(String(data).startsWith('+PONG')));
      });
      socket.once('error', () => resolve(false));
    });
    if (answered === up) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not ${up ? 'start' : 'stop'}`);
}
