import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Application, SharedSettings } from '../application';
import { KeyRing } from '../caller-auth';
import type { Config } from '../config';
import type { DataDir } from '../data-dir';
import { gatewayError } from '../error-matrix';
import type { IdempotencySettings, IdempotencyStore } from '../idempotency';
import type { Logger } from '../logger';
import { Metrics } from '../metrics';
import type { CallUpstream } from '../pipeline';
import {
  type Bucket,
  type LimiterState,
  type LimitStore,
  MemoryStore,
  OperatingPause,
  PortalLimiter,
  portalBucket,
  shapedCaller,
} from '../rate-limit';
import { Redactor } from '../relay';
import { UpstreamClient, UpstreamError, type UpstreamMode } from '../upstream';
import { PROBE_METHOD, UpstreamHealth, UpstreamProbe } from '../upstream-health';
import { AnswerResponse } from './answer-headers';
import { gatewayApp, Lifecycle } from './app';
import { clientErrorHandler, connectHandler } from './client-error';
import { watchWrites } from './write-deadline';

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
  /** Swaps the callers' keys at once (rotation without a restart); the old keys stay secrets to redact. */
  replaceApiKeys(keys: Map<string, string>): void;
}

export interface SinglePortalTarget {
  mode: UpstreamMode;
  /** A webhook base (`…/rest/{user}/{code}/`) or a portal origin. */
  base: URL;
  defaultClientId?: string;
}

/** One portal, or the bot's application installed on many (its settings in config.upstream). */
export type UpstreamTarget = SinglePortalTarget | { mode: 'application' };

/** After the shutdown timeout, how long the last answers get to be written before connections are cut. */
const ANSWER_GRACE_MS = 1_000;

/** WRITE_TIMEOUT_MS's default, for a Config without it. */
const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

/** The largest header section a request may have (Node's default, made explicit): past it, 431. */
export const MAX_HEADER_BYTES = 16_384;

/** Starts the gateway's HTTP listener in front of one Bitrix24 target, or as the application of many. */
export async function startGateway(config: Config, target: UpstreamTarget, logger: Logger): Promise<Gateway> {
  const { drainPerSecond, burst } = config.rateLimit;
  const bucket = portalBucket(drainPerSecond, burst);
  // With Redis: one connection for the limit and the keys (one health state, one line per change of it).
  const counters: { restartedEmpty?: () => void } = {};
  const restartedEmpty = () => counters.restartedEmpty?.();
  const shared = !config.redis
    ? undefined
    : target.mode === 'application'
      ? await sharedApplicationStores(config, logger, restartedEmpty)
      : await sharedStores(config, target, bucket, logger, restartedEmpty);
  // Without Redis the keys (and the application's portals) live in the data folder, opened (and locked)
  // before the gateway listens.
  const local = shared ? undefined : await localStore(config);
  const lifecycle = new Lifecycle();
  const reach: { upstream?: Upstream } = {};
  const metrics = new Metrics({
    queueDepth: () => reach.upstream?.depth() ?? 0,
    limiterState: () => shared?.limit.state ?? 'in-process',
  });
  counters.restartedEmpty = () => metrics.redisRestartsEmpty.inc();
  if (shared) metrics.observeRedisKeys(() => shared.keys.state());
  let upstream: Upstream;
  try {
    upstream =
      target.mode === 'application'
        ? await applicationUpstream(
            config,
            { dataDir: local?.dataDir, shared: shared && 'application' in shared ? shared.application : undefined },
            logger,
            metrics,
            lifecycle,
          )
        : singlePortal(
            config,
            target,
            bucket,
            shared && 'slot' in shared.limit ? shared.limit : undefined,
            logger,
            metrics,
          );
  } catch (error) {
    local?.dataDir.close();
    throw error;
  }
  reach.upstream = upstream;
  const state = (): LimiterState => shared?.limit.state ?? 'in-process';
  const idempotency = {
    ...idempotencySettings(config, shared?.keys ?? local!.keys),
    onAnswerNotStored: (reason: string) => metrics.idempotencyAnswersNotStored.inc({ reason }),
  };
  shared?.connection.start();
  const redactor = new Redactor(gatewaySecrets(config, target));
  const keyRing = new KeyRing(config.apiKeys);
  const app = gatewayApp({
    config,
    mode: target.mode,
    settings: target.mode === 'application' ? {} : { BITRIX24_CLIENT_ID: target.defaultClientId },
    callUpstream: upstream.callUpstream,
    logger,
    metrics,
    lifecycle,
    redactor,
    keyRing,
    limiterState: state,
    ...(shared && { redisReadiness: () => shared.connection.readiness() }),
    ...(upstream.health && { upstreamReadiness: () => upstream.health!.report() }),
    ...(upstream.application && { application: upstream.application }),
    idempotency,
  });

  const serverOptions = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // Node checks the two timeouts only this often (30 s by default, which let a slow header hang for 89 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(config.headersTimeoutMs / 4))),
    maxHeaderSize: MAX_HEADER_BYTES,
    // A missing Host then reaches the adapter, which refuses it in the envelope (Node's own 400 has no body).
    requireHostHeader: false,
    // Every answer's security headers and X-Request-Id (src/server/answer-headers.ts).
    ServerResponse: AnswerResponse,
    ...config.tls,
  };
  // The adapter's own answers to a request it cannot turn into a URL (`OPTIONS *`, a backslash in the
  // path, a bad Host), in the envelope too.
  const listener = getRequestListener(app.fetch, { errorHandler: (error) => adapterError(error, logger) });
  const server = config.tls ? createHttpsServer(serverOptions, listener) : createHttpServer(serverOptions, listener);
  // Every header within MAX_HEADER_BYTES is read: Node's default of 2000 would drop the ones after it,
  // Content-Length or Authorization among them.
  server.maxHeadersCount = 0;
  // A connection left idle by its last answer while stopping is closed at once, not after keep-alive.
  lifecycle.onAnswerWritten = () => setImmediate(() => server.closeIdleConnections());
  server.on('clientError', clientErrorHandler({ ...config, maxHeaderBytes: MAX_HEADER_BYTES, logger, metrics }));
  server.on('connect', connectHandler({ metrics, logger }));
  // A request with an Expect other than 100-continue goes to the app too, which answers it 417 in the envelope
  // (src/server/expectation.ts): without a listener, Node answers a bare 417, neither logged nor counted.
  server.on('checkExpectation', listener);
  // Node takes any Expect naming 100-continue ("100-continue, foo" too) for one: only the bare value gets its
  // 100 Continue, and the others their 417 without one.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.expect?.trim().toLowerCase() === '100-continue') response.writeContinue();
    listener(request, response);
  });
  // A caller that takes none of its answers for WRITE_TIMEOUT_MS loses its connection (src/server/write-deadline.ts).
  const writes = watchWrites(server, {
    timeoutMs: config.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
    logger,
    event: config.tls ? 'secureConnection' : 'connection',
  });
  server.once('close', () => writes.stop());
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch((error: unknown) => {
    // The data folder's lock goes with the start that failed.
    local?.dataDir.close();
    throw error;
  });
  const { address, port } = server.address() as AddressInfo;
  upstream.start?.();
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  const close = async () => {
    lifecycle.shuttingDown = true;
    upstream.stop?.();
    // No new connections; idle keep-alive ones close now, busy ones once their answer is written.
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    const drained = await Promise.race([
      stopped.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), config.shutdownTimeoutMs).unref()),
    ]);
    if (!drained) {
      logger.warn({ inFlight: lifecycle.inFlight }, 'Shutdown timeout: answering the requests still in flight');
      // Waiting ones were never sent (503 GATEWAY_SHUTTING_DOWN); ones waiting for Bitrix24 may have been
      // executed (504 UPSTREAM_TIMEOUT). Each caller gets its answer before its connection closes.
      upstream.abort();
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, ANSWER_GRACE_MS).unref())]);
      if ('closeAllConnections' in server) server.closeAllConnections();
      await stopped;
    }
    await Promise.all([upstream.close(), idempotency.store.close?.()]);
    local?.dataDir.close();
    // A stalled Redis cannot hold the exit: the connection is destroyed past a short deadline.
    await shared?.connection.close();
  };
  return {
    url: `${config.tls ? 'https' : 'http'}://${host}:${port}`,
    metrics,
    close: () => (closing ??= close()),
    replaceApiKeys: (keys) => {
      redactor.add([...keys.keys()]);
      keyRing.replace(keys);
    },
  };
}

/** How calls reach Bitrix24: one portal (webhook or OAuth mode), or every portal of the application. */
interface Upstream {
  callUpstream: CallUpstream;
  /** The calls waiting in the limiters' queues. */
  depth(): number;
  /** What /readyz says of the one portal (single-portal modes). */
  health?: UpstreamHealth;
  /** Application mode's seam to the app: its pipeline step and routes. */
  application?: Pick<Application, 'portalAccess' | 'routes'>;
  /** Once the gateway listens (the probe of the one portal). */
  start?(): void;
  /** When the gateway begins to stop. */
  stop?(): void;
  /** Refuses waiting calls (503, never sent) and gives up on calls in flight: the shutdown timeout ran out. */
  abort(): void;
  close(): Promise<void>;
}

/**
 * One portal, reached through the gateway's webhook or with each caller's token: one connection pool, one
 * limiter over the portal's bucket (in process, or shared through Redis), and the health state /readyz
 * reports, learnt from every call and from the probe while idle.
 */
function singlePortal(
  config: Config,
  target: SinglePortalTarget,
  bucket: Bucket,
  sharedLimit: LimitStore | undefined,
  logger: Logger,
  metrics: Metrics,
): Upstream {
  const client = new UpstreamClient({
    base: target.base,
    mode: target.mode,
    timeoutMs: config.upstreamTimeoutMs,
    connections: config.upstreamConnections,
    maxBodyBytes: config.upstreamBodyLimitBytes,
  });
  const { maxQueue, maxQueuePerTeam, maxWaitMs, shaping } = config.rateLimit;
  const store: LimitStore = sharedLimit ?? new MemoryStore(bucket);
  const limiter = new PortalLimiter(store, {
    maxQueue,
    maxWaitMs,
    ...(maxQueuePerTeam !== undefined && { maxQueuePerTeam }),
    ...(shaping !== undefined && { shaping }),
  });
  const health = new UpstreamHealth({
    mode: target.mode,
    logger,
    onWebhookRefused: (code) => metrics.countWebhookRefused(code),
  });
  const callUpstream = shapedCaller({
    limiter,
    store,
    pause: new OperatingPause(config.operatingPauseMs),
    call: async (method, params, headers) => {
      const stop = metrics.upstreamDuration.startTimer();
      try {
        const answer = await client.call(method, params, headers);
        stop({ outcome: String(answer.status) });
        health.answered(method, answer);
        return answer;
      } catch (error) {
        stop({ outcome: error instanceof UpstreamError ? error.kind : 'error' });
        health.failed(method, error);
        throw error;
      }
    },
    retryDeadlineMs: config.retry.deadlineMs,
    retryBaseDelayMs: config.retry.baseDelayMs,
    events: metrics.shapingEvents(),
  });
  // server.time through the limiter, like any call (a slot of the portal's bucket, its retries bounded).
  // loadConfig always sets the interval; a Config without one (a test's that counts the portal's calls
  // and slots exactly) probes nothing, and learns from its calls only.
  const intervalMs = config.upstreamProbeIntervalMs;
  const probe =
    intervalMs === undefined
      ? undefined
      : new UpstreamProbe({
          health,
          probe: () => callUpstream(PROBE_METHOD, {}, { team: 'gateway-probe' }),
          intervalMs,
          logger,
        });
  return {
    callUpstream,
    depth: () => limiter.depth,
    health,
    start: () => probe?.start(),
    stop: () => probe?.stop(),
    abort: () => {
      limiter.close();
      client.abort();
    },
    close: async () => {
      limiter.close();
      await Promise.all([client.close(), store.close()]);
    },
  };
}

/** Every portal the application is installed on (src/application), kept in the data folder or in Redis. */
async function applicationUpstream(
  config: Config,
  where: { dataDir: DataDir | undefined; shared: SharedSettings | undefined },
  logger: Logger,
  metrics: Metrics,
  lifecycle: Lifecycle,
): Promise<Upstream> {
  if (config.upstream.mode !== 'application') throw new Error('not application mode');
  const { startApplication } = await import('../application');
  const application = await startApplication({
    config,
    upstream: config.upstream,
    ...(where.dataDir && { dataDir: where.dataDir }),
    ...(where.shared && { shared: where.shared }),
    logger,
    isShuttingDown: () => lifecycle.shuttingDown,
    // Each portal's call timed and counted by its status or failure, as a single portal's are.
    observe: () => {
      const stop = metrics.upstreamDuration.startTimer();
      return ({ answer, error }) =>
        stop({ outcome: answer ? String(answer.status) : error instanceof UpstreamError ? error.kind : 'error' });
    },
    events: metrics.shapingEvents(),
    onLost: (count) => metrics.portalsLost.inc(count),
    onEvent: (event, outcome) => metrics.countApplicationEvent(event, outcome),
  });
  metrics.observePortals({ states: () => application.portalStates(), unwritten: () => application.unwritten });
  return {
    callUpstream: application.callUpstream,
    depth: () => application.depth,
    application,
    abort: () => application.abort(),
    close: () => application.close(),
  };
}

/**
 * Where Idempotency-Key claims live: in the data folder's database, or in the Redis of the shared limit (so
 * that a retry landing on another replica is recognised). A claim holds for the longest a request can take:
 * its wait in the queue, its retries of QUERY_LIMIT_EXCEEDED and Bitrix24's answer, and a margin; the key
 * lives the longer of that lease and the retention, so that it never expires while its call can still run.
 */
function idempotencySettings(config: Config, store: IdempotencyStore): IdempotencySettings {
  const { retentionMs, required = false } = config.idempotency;
  const leaseMs = idempotencyLeaseMs(config);
  return { store, retentionMs, leaseMs, required };
}

/**
 * The lease: the longest a keyed request can take (its queue wait, its retries of QUERY_LIMIT_EXCEEDED,
 * Bitrix24's answer) and 5 s, or IDEMPOTENCY_LEASE_MS (never below that request and a second). Also how long
 * keys Redis does not know are fail-closed after it lost its data.
 */
function idempotencyLeaseMs(config: Config): number {
  return (
    config.idempotency.leaseMs ??
    config.rateLimit.maxWaitMs + config.retry.deadlineMs + config.upstreamTimeoutMs + 5_000
  );
}

/**
 * The data folder (GATEWAY_DATA_DIR) and the keys in its database, for a gateway without Redis; throws
 * DataDirError (start refuses, naming the variable) when the folder cannot be used. SQLite's native module
 * is loaded only here: a gateway with REDIS_URL never reads it.
 */
async function localStore(config: Config) {
  const [{ openDataDir }, { SqliteIdempotencyStore }] = await Promise.all([
    import('../data-dir'),
    import('../idempotency/sqlite-store'),
  ]);
  const dataDir = openDataDir(config.dataDir);
  try {
    const { maxKeys, maxBytes } = config.idempotency;
    return { dataDir, keys: new SqliteIdempotencyStore({ dataDir, maxKeys, maxBytes }) };
  } catch (error) {
    dataDir.close();
    throw error;
  }
}

/**
 * The stores every replica shares through Redis (the portal's limits, started degraded, and the keys) over
 * one connection. The Redis client is loaded only here: a gateway without REDIS_URL never reads its code.
 */
async function sharedStores(
  config: Config,
  target: SinglePortalTarget,
  bucket: Bucket,
  logger: Logger,
  onRestartedEmpty: () => void,
) {
  const redis = config.redis!;
  const [{ RedisConnection }, { RedisStore }, { RedisIdempotencyStore }] = await Promise.all([
    import('../redis'),
    import('../rate-limit/redis-store'),
    import('../idempotency/redis-store'),
  ]);
  const { keyPrefix, replicas, scope } = redis;
  // The portal's idempotency keys and its marker share a hash tag (one hash slot): a claim reads both in
  // one script. The marker says when Redis lost its data, and keys it does not know are fail-closed then.
  const tag = `{${keyPrefix}:${target.base.host}}`;
  const markerKey = `${tag}:marker`;
  const connection = new RedisConnection({
    url: redis.url.href,
    commandTimeoutMs: redis.commandTimeoutMs,
    ...(redis.cluster && { cluster: true }),
    markerKey,
    leaseMs: idempotencyLeaseMs(config),
    requireAof: redis.requireAof ?? true,
    logger,
    onRestartedEmpty,
  });
  const store = new RedisStore({
    connection,
    // The portal's bucket and pauses share the portal's hash tag with its keys and marker: one slot per
    // portal, as a Redis Cluster needs.
    key: `${tag}:limit`,
    bucket,
    replicas,
    sharedBucket: scope === 'shared',
    logger,
  });
  store.start();
  const keys = new RedisIdempotencyStore({ connection, prefix: tag, markerKey, logger });
  return { connection, limit: store, keys };
}

/**
 * Application mode's Redis: the portals (their records, refresh leases and limits, src/application/shared.ts)
 * and every portal's idempotency keys, each portal's under its own hash tag with its own marker (one slot
 * per portal). The connection's marker, in the portals' index slot, says when Redis lost its data.
 */
async function sharedApplicationStores(config: Config, logger: Logger, onRestartedEmpty: () => void) {
  const redis = config.redis!;
  const [{ RedisConnection }, { RedisIdempotencyStore }, { portalTag }] = await Promise.all([
    import('../redis'),
    import('../idempotency/redis-store'),
    import('../application/redis-portal-scripts'),
  ]);
  const { keyPrefix, replicas, scope } = redis;
  const tag = `{${keyPrefix}:portals}`;
  const markerKey = `${tag}:marker`;
  const connection = new RedisConnection({
    url: redis.url.href,
    commandTimeoutMs: redis.commandTimeoutMs,
    ...(redis.cluster && { cluster: true }),
    markerKey,
    leaseMs: idempotencyLeaseMs(config),
    // The portals' tokens live there: a Redis that could lose them is refused (config refuses `false`).
    requireAof: true,
    logger,
    onRestartedEmpty,
  });
  const keys = new RedisIdempotencyStore({
    connection,
    prefix: tag,
    markerKey,
    portalTag: (memberId) => portalTag(keyPrefix, memberId),
    logger,
  });
  const application: SharedSettings = { connection, prefix: keyPrefix, replicas, sharedBucket: scope === 'shared' };
  // Each portal's limit is its own (shared.ts); the gateway's limiter state is the connection's.
  const limit = {
    get state(): LimiterState {
      return connection.up ? 'shared' : 'degraded';
    },
  };
  return { connection, limit, keys, application };
}

/** What the gateway holds that no answer may carry. */
function gatewaySecrets(config: Config, target: UpstreamTarget): (string | undefined)[] {
  if (target.mode === 'application') {
    const { clientSecret } = config.upstream as { clientSecret?: string };
    return [clientSecret, ...config.apiKeys.keys()];
  }
  const webhookCode = target.mode === 'webhook' ? target.base.pathname.split('/')[3] : undefined;
  return [webhookCode, webhookCode && decoded(webhookCode), target.defaultClientId, ...config.apiKeys.keys()];
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function adapterError(error: unknown, logger: Logger): Response {
  const { status, body } =
    error instanceof RequestError
      ? gatewayError(
          'INVALID_HTTP_REQUEST',
          `The request is not valid HTTP/1.1${/^[A-Za-z :/]{1,60}$/.test(error.message) ? `: ${error.message}` : ''}`,
        )
      : gatewayError('INTERNAL_SERVER_ERROR', 'Internal server error');
  if (!(error instanceof RequestError)) logger.error({ err: error }, 'unexpected error');
  return Response.json(body, { status, headers: { 'X-Request-Id': randomUUID(), Connection: 'close' } });
}
