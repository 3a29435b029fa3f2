// The server entry: read the configuration, pick the upstream (a portal, the application's portals, the
// embedded emulator, or with EMULATOR_APPLICATION=true an emulated cloud's portals), start listening, and
// stop cleanly on SIGTERM/SIGINT.
import { setFlagsFromString } from 'node:v8';
import { apiKeysOfFile, type Config, ConfigError, listenProblem, loadConfig, readApiKeysFile } from './config';
import { teamPortalWarnings } from './config/application';
import { DataDirError } from './data-dir/error';
import { startEmulator } from './emulator';
import { watchKeysFile } from './key-rotation';
import { createLogger, endLog, type Logger } from './logger';
import { type Gateway, startGateway, type UpstreamTarget } from './server';

// undici parses Bitrix24's answers with llhttp compiled to WebAssembly. V8 recompiles its parser loop with
// TurboFan on a worker thread as soon as the first answer is parsed, and the ~10 MB that compilation takes
// stays in that thread's malloc arena for the life of the process (measured with /proc/<pid>/smaps: RSS 76
// against 86 MB after the first call). Baseline (Liftoff) code parses an answer of a few hundred bytes at
// no cost `bench/ab.ts` can tell apart (1.02x, within drift), so the gateway keeps to it. Set before the
// first connection compiles the module; nothing else in the gateway is WebAssembly.
setFlagsFromString('--liftoff-only');

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

  // EMULATOR_APPLICATION=true: the gateway is the application of an emulated cloud's portals, started here
  // (src/emulator/cloud/demo.ts, read only in this mode); from now on the configuration is application mode's.
  const demo =
    config.upstream.mode === 'emulator' && config.upstream.application
      ? await (await import('./emulator/cloud/demo')).startDemoCloud(config)
      : undefined;
  if (demo) config = demo.config;
  // The embedded emulator enforces the limits the gateway's limiter follows (see emulatorLimits).
  const { drainPerSecond, burst } = config.rateLimit;
  const emulator =
    config.upstream.mode === 'emulator'
      ? await startEmulator({ port: 0, host: '127.0.0.1', rateLimit: { enabled: true, drainPerSecond, burst } })
      : undefined;
  const target: UpstreamTarget =
    config.upstream.mode === 'application'
      ? { mode: 'application' }
      : config.upstream.mode === 'webhook'
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
    const problem =
      error instanceof DataDirError ? error.message : listenProblem(error, 'PORT', config.port, config.host);
    if (!problem) throw error;
    process.stderr.write(`${problem}\n`);
    await emulator?.close();
    await demo?.close();
    process.exit(2);
  }
  rotateKeys(gateway, config.apiKeys, logger);
  // The first log line says where transfers go; a webhook's code is never logged, only its origin.
  const upstream =
    config.upstream.mode === 'emulator'
      ? `the embedded Bitrix24 emulator at ${emulator!.url} (set BITRIX24_WEBHOOK_URL or BITRIX24_PORTAL_URL to use a portal)`
      : demo
        ? demo.describe(gateway.url)
        : target.mode === 'application'
          ? `the portals the application is installed on (application mode; events at ${gateway.url}/bitrix24/events)`
          : `Bitrix24 at ${target.base.origin} (${target.mode})`;
  logger.info(
    {
      url: gateway.url,
      upstreamMode: config.upstream.mode,
      callerAuth: config.apiKeys.size > 0 ? 'api-keys' : 'anonymous',
    },
    `Gateway listening on ${gateway.url}, forwarding to ${upstream}`,
  );
  warnMissing(config, logger);
  // Now, not when the log's buffer fills or its period comes: whoever started the gateway waits for it.
  logger.flush();

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping');
    await gateway.close();
    await emulator?.close();
    await demo?.close();
    // The last line; every queued one is written, in order, before the exit (see endLog).
    logger.info({ signal }, 'Stopped');
    await endLog(logger, config.shutdownTimeoutMs);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  // The emulated portals install themselves as Bitrix24 would, once there is a handler to post to.
  if (demo) {
    await demo.install(gateway.url, logger);
    logger.flush();
  }
}

/**
 * Configuration the gateway starts without but that its calls will likely need: a warning at start naming
 * the variable, so that the first caller's refusal is not where an operator learns of it.
 */
function warnMissing(config: Config, logger: Logger): void {
  // Bitrix24 tells a webhook's bot by CLIENT_ID: without it, and without one in the call, every call is
  // 400 BOT_ID_ERROR.
  if (config.upstream.mode === 'webhook' && !config.upstream.clientId)
    logger.warn(
      { variable: 'BITRIX24_CLIENT_ID' },
      "BITRIX24_CLIENT_ID is not set: in webhook mode Bitrix24 tells the bot by CLIENT_ID, so every call that does not carry its own gets 400 BOT_ID_ERROR; set BITRIX24_CLIENT_ID to the bot's client id (imbot.register's CLIENT_ID)",
    );
  // Application mode: teams named for portals without a key, and teams with a key but no portal.
  if (config.upstream.mode === 'application')
    for (const { variable, teams, message } of teamPortalWarnings(config.upstream.teamPortals, config.apiKeys))
      logger.warn({ variable, teams }, message);
}

/**
 * Callers' keys rotated without a restart: on SIGHUP at once, and when GATEWAY_API_KEYS_FILE changes (a
 * Kubernetes secret's update, a deploy script) once the file is complete (see src/key-rotation). The file
 * is checked as at start; a set that cannot be used leaves the current one in place. The log names teams
 * (and those a new set drops), never a key.
 */
function rotateKeys(gateway: Gateway, current: Map<string, string>, logger: Logger): void {
  const file = process.env.GATEWAY_API_KEYS_FILE;
  if (!file) {
    process.on('SIGHUP', () => {
      const problems = [
        'GATEWAY_API_KEYS_FILE: not set, so the keys come from GATEWAY_API_KEYS and only a restart changes them',
      ];
      logger.warn({ trigger: 'SIGHUP', problems }, 'API keys not reloaded: the current ones stay');
    });
    return;
  }
  const rotation = watchKeysFile({
    file,
    current,
    read: () => readApiKeysFile(),
    parse: apiKeysOfFile,
    replace: (keys) => gateway.replaceApiKeys(keys),
    logger,
  });
  process.on('SIGHUP', () => rotation.reload('SIGHUP'));
}

await main();
