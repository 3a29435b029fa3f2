import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { UpstreamClient, methodUrl } from '../upstream';
import { createApp } from './app';

export interface Gateway {
  /** Where the gateway listens, e.g. http://127.0.0.1:8080. */
  url: string;
  close(): Promise<void>;
}

export interface UpstreamTarget {
  mode: 'webhook' | 'oauth';
  /** A webhook base (`…/rest/{user}/{code}/`) or a portal origin. */
  base: URL;
  defaultClientId?: string;
}

/** Starts the gateway's HTTP listener in front of one Bitrix24 target. */
export async function startGateway(config: Config, target: UpstreamTarget, logger: Logger): Promise<Gateway> {
  const upstream = new UpstreamClient({
    methodUrl: methodUrl(target.base, target.mode),
    timeoutMs: config.upstreamTimeoutMs,
    connections: config.upstreamConnections,
  });
  const app = createApp({
    config,
    mode: target.mode,
    ...(target.defaultClientId && { defaultClientId: target.defaultClientId }),
    callUpstream: (params) => upstream.call(params),
    logger,
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await upstream.close();
    },
  };
}
