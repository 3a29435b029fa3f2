// The cloud's listeners: each on its own loopback port, with deadlines on slow senders, closed with their
// connections.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  port: number;
  /** `host:port` (`[::1]:port` for IPv6), as Bitrix24 writes a domain. */
  hostPort: string;
  /** `http://host:port`. */
  origin: string;
}

/** Listens on a free port of `host`, with deadlines on a request's headers and on the whole request. */
export function listen(server: Server, host: string): Promise<Listening> {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      const { address, port, family } = server.address() as AddressInfo;
      const hostPort = `${family === 'IPv6' ? `[${address}]` : address}:${port}`;
      resolve({ port, hostPort, origin: `http://${hostPort}` });
    });
  });
}

/** Stops listening and drops every open connection. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) =>
      err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING' ? reject(err) : resolve(),
    );
    server.closeAllConnections();
  });
}
