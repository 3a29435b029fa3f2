import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { Metrics } from '../metrics';
import { OperatingPause, PortalLimiter, shapedCaller } from '../rate-limit';
import { UpstreamClient, UpstreamError, methodUrl } from '../upstream';
import { Lifecycle, createApp } from './app';

export interface Gateway {
  /** Where the gateway listens, e.g. http://127.0.0.1:8080. */
  url: string;
  metrics: Metrics;
  /**
   * Stops gracefully: readiness turns 503, new requests are refused (503 GATEWAY_SHUTTING_DOWN on open
   * connections; no new connections), in-flight requests finish (up to `shutdownTimeoutMs`), then the
   * upstream pool closes.
   */
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
  const limiter = new PortalLimiter(config.rateLimit);
  const metrics = new Metrics(() => limiter.depth);
  const callUpstream = shapedCaller({
    limiter,
    pause: new OperatingPause(config.operatingPauseMs),
    call: async (params) => {
      const stop = metrics.upstreamDuration.startTimer();
      try {
        const answer = await upstream.call(params);
        stop({ outcome: String(answer.status) });
        return answer;
      } catch (error) {
        stop({ outcome: error instanceof UpstreamError ? error.kind : 'error' });
        throw error;
      }
    },
    retryDeadlineMs: config.retry.deadlineMs,
    retryBaseDelayMs: config.retry.baseDelayMs,
    events: metrics.shapingEvents(),
  });
  const lifecycle = new Lifecycle();
  const app = createApp({
    config,
    mode: target.mode,
    ...(target.defaultClientId && { defaultClientId: target.defaultClientId }),
    callUpstream,
    logger,
    metrics,
    lifecycle,
  });

  const server = config.tls
    ? serve({ fetch: app.fetch, port: config.port, hostname: config.host, createServer: createHttpsServer, serverOptions: config.tls })
    : serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  const close = async () => {
    lifecycle.shuttingDown = true;
    // No new connections; idle keep-alive ones close now, busy ones once their answer is written.
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    const drained = await Promise.race([
      stopped.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), config.shutdownTimeoutMs).unref()),
    ]);
    if (!drained) {
      logger.warn({ inFlight: lifecycle.inFlight }, 'Shutdown timeout: closing with requests in flight');
      if ('closeAllConnections' in server) server.closeAllConnections();
      await stopped;
    }
    limiter.close();
    await upstream.close();
  };
  return {
    url: `${config.tls ? 'https' : 'http'}://${host}:${port}`,
    metrics,
    close: () => (closing ??= close()),
  };
}
