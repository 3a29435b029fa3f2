import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createEmulator, defaults } from './emulator';
import type { RunningEmulator, StartOptions } from './types';

/** The emulator on a real port, for callers that speak HTTP to it like to a portal. */
export async function startEmulator(options: StartOptions = {}): Promise<RunningEmulator> {
  const { port = 0, host = '127.0.0.1', ...rest } = options;
  const emulator = createEmulator(rest);
  const { userId, code } = rest.webhook ?? defaults.webhook;

  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>((resolve, reject) => {
    const server = serve({ fetch: emulator.app.fetch, port, hostname: host }, (address) =>
      resolve({ server, address }),
    ) as Server;
    server.once('error', reject);
  });

  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  return {
    app: emulator.app,
    // A getter, not a spread (which would read it once): every access reads the window afresh.
    get received() {
      return emulator.received;
    },
    receivedSince: emulator.receivedSince,
    stats: emulator.stats,
    reset: emulator.reset,
    url,
    webhookUrl: `${url}/rest/${encodeURIComponent(userId)}/${encodeURIComponent(code)}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Open keep-alive connections and pending slow answers would hold close() up.
        server.closeAllConnections();
      }),
  };
}
