// The server entry: read the configuration, pick the upstream (a portal, or the embedded emulator),
// start listening, and stop cleanly on SIGTERM/SIGINT.
import { watchFile } from 'node:fs';
import { type Config, ConfigError, listenProblem, loadConfig, reloadApiKeys } from './config';
import { startEmulator } from './emulator';
import { createLogger, type Logger } from './logger';
import { type Gateway, startGateway, type UpstreamTarget } from './server';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  // A promise nobody awaited is a bug to log, not a reason to drop every connection in flight.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

  // The embedded emulator enforces the limits the gateway's limiter follows (see emulatorLimits).
  const { drainPerSecond, burst } = config.rateLimit;
  const emulator =
    config.upstream.mode === 'emulator'
      ? await startEmulator({ port: 0, host: '127.0.0.1', rateLimit: { enabled: true, drainPerSecond, burst } })
      : undefined;
  const target: UpstreamTarget =
    config.upstream.mode === 'webhook'
      ? {
          mode: 'webhook',
          base: config.upstream.webhookUrl,
          ...(config.upstream.clientId && { defaultClientId: config.upstream.clientId }),
        }
      : config.upstream.mode === 'oauth'
        ? { mode: 'oauth', base: config.upstream.portalUrl }
        : { mode: 'webhook', base: new URL(emulator!.webhookUrl), defaultClientId: config.upstream.clientId };

  let gateway: Gateway;
  try {
    gateway = await startGateway(config, target, logger);
  } catch (error) {
    const problem = listenProblem(error, 'PORT', config.port, config.host);
    if (!problem) throw error;
    process.stderr.write(`${problem}\n`);
    await emulator?.close();
    process.exit(2);
  }
  rotateKeys(gateway, logger);
  // The first log line says where transfers go; a webhook's code is never logged, only its origin.
  const upstream =
    config.upstream.mode === 'emulator'
      ? `the embedded Bitrix24 emulator at ${emulator!.url} (set BITRIX24_WEBHOOK_URL or BITRIX24_PORTAL_URL to use a portal)`
      : `Bitrix24 at ${target.base.origin} (${target.mode})`;
  logger.info(
    {
      url: gateway.url,
      upstreamMode: config.upstream.mode,
      callerAuth: config.apiKeys.size > 0 ? 'api-keys' : 'anonymous',
    },
    `Gateway listening on ${gateway.url}, forwarding to ${upstream}`,
  );

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping');
    await gateway.close();
    await emulator?.close();
    // The last line, still queued when the process exits: pino flushes it then (see createLogger).
    logger.info({ signal }, 'Stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/**
 * Callers' keys rotated without a restart: on SIGHUP, and whenever GATEWAY_API_KEYS_FILE changes (a
 * Kubernetes secret's update, say), the file is read and checked as at start; a set that cannot be used
 * leaves the current one in place. The log names teams, never a key.
 */
function rotateKeys(gateway: Gateway, logger: Logger): void {
  const reload = (trigger: 'SIGHUP' | 'file changed') => {
    try {
      const keys = reloadApiKeys();
      gateway.replaceApiKeys(keys);
      logger.info({ trigger, teams: [...new Set(keys.values())] }, 'API keys reloaded');
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.warn({ trigger, problems: error.problems }, 'API keys not reloaded: the current ones stay');
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const file = process.env.GATEWAY_API_KEYS_FILE;
  if (file) {
    watchFile(file, { interval: 2_000, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size) reload('file changed');
    });
  }
}

await main();
