import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { zApiKey, zClientId } from '../../generated/zod.gen';
import { expectedText, flatten, spec } from '../spec';
import {
  type ApplicationUpstream,
  applicationEnvironment,
  applicationSecretVariables,
  applicationUpstream,
  type EmulatedApplication,
  emulatedApplication,
} from './application';

// The settings that a request could carry too are checked by the spec's own schemas, so that a key or a
// CLIENT_ID the gateway starts with is one its spec would accept from a caller.
const expected = (name: string) => expectedText(flatten(spec.components.schemas[name]!))!;

/** Where the gateway sends transfers. */
export type Upstream =
  /** An inbound webhook: `https://portal/rest/{user}/{code}/`. The code is a secret. */
  | { mode: 'webhook'; webhookUrl: URL; clientId?: string }
  /** OAuth: the caller's access token travels in `auth`; only the portal's origin is configured. */
  | { mode: 'oauth'; portalUrl: URL }
  /**
   * Neither configured: the embedded emulator, started by the server entry on a loopback port; with
   * `application` (EMULATOR_APPLICATION=true), an emulated cloud instead, whose application the gateway is.
   */
  | { mode: 'emulator'; clientId: string; application?: EmulatedApplication }
  /** The bot's Bitrix24 application, on every portal that installs it (issue 33: src/config/application.ts). */
  | ApplicationUpstream;

export interface Config {
  host: string;
  port: number;
  upstream: Upstream;
  upstreamTimeoutMs: number;
  upstreamConnections: number;
  /** Bitrix24's answer is read up to this many bytes; a longer one is 502 UPSTREAM_BAD_RESPONSE. */
  upstreamBodyLimitBytes: number;
  /**
   * Bitrix24 is probed (server.time) at start and after this long without a call (UPSTREAM_PROBE_INTERVAL_MS,
   * a minute by default); absent (a test's Config), never: the gateway learns from its calls only.
   */
  upstreamProbeIntervalMs?: number;
  bodyLimitBytes: number;
  /** The whole header section of a request must arrive within this (then 408 REQUEST_TIMEOUT). */
  headersTimeoutMs: number;
  /** The whole request, headers and body, must arrive within this (then 408 REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
  /** A connection whose caller takes none of its answers' bytes for this long is closed (default 30 s). */
  writeTimeoutMs?: number;
  /** The portal's leaky bucket, as the gateway shapes calls to it. */
  rateLimit: {
    drainPerSecond: number;
    burst: number;
    maxQueue: number;
    /** Requests one team may have waiting at once (default: maxQueue). */
    maxQueuePerTeam?: number;
    maxWaitMs: number;
    shaping?: boolean;
  };
  /** QUERY_LIMIT_EXCEEDED from Bitrix24 is retried within this deadline, from this first delay. */
  retry: { deadlineMs: number; baseDelayMs: number };
  /** The portal's limits shared by several replicas through Redis; absent: each process holds its own. */
  redis?: RedisConfig;
  /** The method's pause after OPERATION_TIME_LIMIT when Bitrix24 gives no operating_reset_at. */
  operatingPauseMs: number;
  /** How long a stopping gateway waits for in-flight requests. */
  shutdownTimeoutMs: number;
  /**
   * Idempotency keys: kept this long; without Redis, in the data folder, at most this many keys and bytes of
   * its database (Redis: none).
   */
  idempotency: {
    retentionMs: number;
    maxKeys: number;
    maxBytes: number;
    required?: boolean;
    /**
     * IDEMPOTENCY_LEASE_MS: how long a claim holds, and how long keys are fail-closed after Redis lost its
     * data; never below the longest request. Unset: derived (src/server's idempotencySettings).
     */
    leaseMs?: number;
  };
  /**
   * The gateway's data folder (GATEWAY_DATA_DIR, absolute): its embedded database, used when there is no
   * Redis. Opened, created and locked at start (src/data-dir).
   */
  dataDir: string;
  /** Serve HTTPS with this certificate chain and key (PEM), e.g. for Bitrix24 SDKs that speak only HTTPS. */
  tls?: { cert: string; key: string };
  /** Team name for each API key. Empty: callers are anonymous. */
  apiKeys: Map<string, string>;
  allowAnonymous: boolean;
  logLevel: string;
}

export interface RedisConfig {
  /** `redis://` or `rediss://`, credentials included: a secret, never logged. */
  url: URL;
  /** Keys are `<prefix>:<portal host>`, so that gateways of different portals can share one Redis. */
  keyPrefix: string;
  /** How many replicas share the portal: each takes 1/replicas of the bucket while Redis is unreachable. */
  replicas: number;
  /** `shared`: one bucket for all replicas (one egress address); `replica`: one each. The pause is shared either way. */
  scope: 'shared' | 'replica';
  commandTimeoutMs: number;
  /** REDIS_REQUIRE_AOF: keys are refused while Redis keeps no append-only file (default true). */
  requireAof?: boolean;
  /** REDIS_CLUSTER: `url` names one node of a Redis Cluster, from which the others are learnt (default false). */
  cluster?: boolean;
}

/** A configuration that cannot start a gateway; each message names its variable. One problem is one line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

const whole = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, min >= 1 ? 'must be a positive whole number' : 'must be a whole number (0 or more)')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const integer = (min: number, max: number, fallback: number) => whole(min, max).default(fallback);

const boolean = z
  .enum(['true', 'false'], 'must be true or false')
  .transform((v) => v === 'true')
  .default(false);

/** Loopback hosts, where plain http:// never leaves the machine. */
const isLoopback = (url: URL) => /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(url.hostname);

/**
 * A portal URL with a user name or a password (`user:password@`, or `:password@` alone): the gateway sends
 * neither, so a secret put there would be silently dropped. Never quoted: it may be a password.
 */
function noCredentials(why: string): string {
  return `must carry no user name or password (user:password@ before the host): the gateway does not use them (${why}); remove them`;
}

/**
 * HOST: an IPv4 or IPv6 address (an IPv6 one may come in brackets, as in a URL: they are dropped) or a host
 * name, without a port. Anything else (a blank, `host:port`, a URL) would reach listen() and fail there.
 */
const host = z
  .string()
  .transform((value) => {
    const bracketed = /^\[(.*)\]$/.exec(value)?.[1];
    return bracketed !== undefined && isIP(bracketed) === 6 ? bracketed : value;
  })
  .refine(
    (value) =>
      isIP(value) !== 0 ||
      (value.length <= 253 && /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/.test(value)),
    'must be an IP address (IPv6 with or without brackets) or a host name, without a port (set PORT) or scheme',
  );

/** A listening host as HOST takes it (brackets dropped from IPv6), or undefined when it is not one. */
export function listenHost(value: string): string | undefined {
  const parsed = host.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Redis's largest database index (its `databases` setting is an int); the server itself says which exist. */
const maxDatabase = 2_147_483_647;

const webhookUrl = z
  .url('must be a URL')
  .transform((value) => new URL(value.endsWith('/') ? value : `${value}/`))
  .refine((url) => /^https?:$/.test(url.protocol), 'must be http(s)')
  .refine(
    (url) => /^\/rest\/\d+\/[^/]+\/$/.test(url.pathname),
    'must look like https://portal/rest/{user_id}/{webhook_code}/',
  )
  .refine((url) => !url.search && !url.hash, 'must have no query or fragment')
  .refine((url) => !url.username && !url.password, noCredentials("the webhook's code in its path is its credential"));

const portalUrl = z
  .url('must be a URL')
  .transform((value) => new URL(value))
  .refine((url) => /^https?:$/.test(url.protocol), 'must be http(s)')
  .refine(
    (url) => url.pathname === '/' && !url.search && !url.hash,
    'must be the portal origin only, like https://portal.bitrix24.com',
  )
  .refine((url) => !url.username && !url.password, noCredentials("each caller's token travels in auth"));

const apiKeys = z
  .string()
  .transform((value, ctx) => {
    const keys = new Map<string, string>();
    for (const pair of value
      .split(/[,\n]/)
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [team, key, ...rest] = pair.split(':');
      if (!team || !key || rest.length > 0 || !/^[A-Za-z0-9_.-]+$/.test(team)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be team:key pairs, separated by commas or new lines (team: letters, digits, _ . -)',
        });
        return z.NEVER;
      }
      // A key may travel in a URL path (/rest/{userId}/{key}/method): the spec's ApiKey keeps it URL-safe.
      if (!zApiKey.safeParse(key).success) {
        ctx.addIssue({ code: 'custom', message: `the key of team "${team}" must be ${expected('ApiKey')}` });
        return z.NEVER;
      }
      // Callers without a key are the team "anonymous" (their keys' scope, their share of the queue).
      if (team === 'anonymous') {
        ctx.addIssue({
          code: 'custom',
          message: 'the team name "anonymous" is the callers without a key: choose another',
        });
        return z.NEVER;
      }
      if (keys.has(key)) {
        ctx.addIssue({ code: 'custom', message: `team "${team}" reuses another team's key` });
        return z.NEVER;
      }
      keys.set(key, team);
    }
    return keys;
  })
  .default(new Map());

const environment = z.object({
  HOST: host.default('127.0.0.1'),
  PORT: integer(0, 65535, 8080),
  BITRIX24_WEBHOOK_URL: webhookUrl.optional(),
  BITRIX24_PORTAL_URL: portalUrl.optional(),
  BITRIX24_CLIENT_ID: z
    .string()
    .refine((value) => zClientId.safeParse(value).success, `must be ${expected('ClientId')}`)
    .optional(),
  UPSTREAM_TIMEOUT_MS: integer(100, 120_000, 10_000),
  UPSTREAM_CONNECTIONS: integer(1, 1024, 16),
  UPSTREAM_BODY_LIMIT_BYTES: integer(1_024, 67_108_864, 1_048_576),
  UPSTREAM_PROBE_INTERVAL_MS: integer(100, 3_600_000, 60_000),
  BITRIX24_ALLOW_HTTP: boolean,
  // 256 KiB: the largest valid body, a message.send of 20000 four-byte characters as a form (240000 bytes), fits.
  BODY_LIMIT_BYTES: integer(256, 1_048_576, 262_144),
  HEADERS_TIMEOUT_MS: integer(100, 600_000, 10_000),
  REQUEST_TIMEOUT_MS: integer(100, 600_000, 30_000),
  WRITE_TIMEOUT_MS: integer(100, 600_000, 30_000),
  GATEWAY_API_KEYS: apiKeys,
  GATEWAY_ALLOW_ANONYMOUS: boolean,
  BITRIX24_PLAN: z.enum(['standard', 'enterprise'], 'must be standard or enterprise').optional(),
  RATE_LIMIT_PER_SECOND: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a number')
    .transform(Number)
    .pipe(z.number().positive('must be more than 0').max(1_000, 'must be at most 1000'))
    .optional(),
  RATE_LIMIT_BURST: whole(1, 10_000).optional(),
  RATE_LIMIT_SHAPING: z.enum(['on', 'off'], 'must be on or off').default('on'),
  QUEUE_MAX_LENGTH: integer(0, 100_000, 1_000),
  QUEUE_MAX_LENGTH_PER_TEAM: whole(1, 100_000).optional(),
  QUEUE_MAX_WAIT_MS: integer(0, 600_000, 30_000),
  RETRY_DEADLINE_MS: integer(0, 600_000, 20_000),
  RETRY_BASE_DELAY_MS: integer(1, 60_000, 500),
  OPERATING_PAUSE_MS: integer(1_000, 3_600_000, 60_000),
  REDIS_URL: z
    .url('must be a URL')
    .transform((value) => new URL(value))
    .refine((url) => url.protocol === 'redis:' || url.protocol === 'rediss:', 'must be redis:// or rediss://')
    .refine(
      (url) => Boolean(url.hostname) && !url.search && !url.hash,
      'must be redis[s]://[user:password@]host[:port][/db]',
    )
    // The path is only a database index (node-redis SELECTs it): anything else crashed the client.
    .refine(
      (url) =>
        /^\/?$/.test(url.pathname) ||
        (/^\/\d{1,10}$/.test(url.pathname) && Number(url.pathname.slice(1)) <= maxDatabase),
      'the path after host[:port] must be a database index: /0 to /15 on a default Redis (its databases setting), or none',
    )
    .optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1 to 64 of A-Z a-z 0-9 : _ . -')
    .default('bitrix24-gateway'),
  REDIS_COMMAND_TIMEOUT_MS: integer(10, 10_000, 250),
  REDIS_REQUIRE_AOF: z
    .enum(['true', 'false'], 'must be true or false')
    .transform((v) => v === 'true')
    .default(true),
  REDIS_CLUSTER: z
    .enum(['true', 'false'], 'must be true or false')
    .transform((v) => v === 'true')
    .default(false),
  GATEWAY_REPLICAS: whole(1, 1_000).optional(),
  RATE_LIMIT_SCOPE: z.enum(['shared', 'replica'], 'must be shared or replica').optional(),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 30_000),
  IDEMPOTENCY_KEY: z.enum(['optional', 'required'], 'must be optional or required').default('optional'),
  IDEMPOTENCY_RETENTION_SECONDS: integer(60, 604_800, 86_400),
  IDEMPOTENCY_MAX_KEYS: integer(1, 10_000_000, 100_000),
  IDEMPOTENCY_MAX_BYTES: integer(1_048_576, 4_294_967_296, 67_108_864),
  IDEMPOTENCY_LEASE_MS: whole(1_000, 3_600_000).optional(),
  // Default `data` (below): EMULATOR_APPLICATION tells a folder set from none.
  GATEWAY_DATA_DIR: z
    .string()
    .refine((value) => !value.includes('\0'), 'must be a path')
    .optional(),
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...applicationEnvironment,
});

/** Bitrix24's request rate limits by plan: requests a second and burst. */
export const plans = {
  standard: { drainPerSecond: 2, burst: 50 },
  enterprise: { drainPerSecond: 5, burst: 250 },
} as const;

/**
 * The embedded emulator's limits when no plan or rate is configured, which the gateway's limiter then
 * follows: high enough that a fuzzer's hundreds of transfers a second never queue. Set BITRIX24_PLAN or
 * RATE_LIMIT_* to rehearse a portal's real limits: the embedded emulator enforces the same.
 */
export const emulatorLimits = { drainPerSecond: 1_000, burst: 1_000 } as const;

/** The client id the emulator's bot is registered with. */
export const emulatorClientId = 'emulator.bot';

/** Reads and checks the configuration; throws ConfigError naming every wrong variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable counts as unset, as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const fileProblems = readSecretFiles(present);
  const parsed = environment.safeParse(present);
  if (fileProblems.length > 0 || !parsed.success) {
    const issues = parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError([...fileProblems, ...issues]);
  }
  const vars = parsed.data;
  const problems: string[] = [];
  if (vars.BITRIX24_WEBHOOK_URL && vars.BITRIX24_PORTAL_URL) {
    problems.push('BITRIX24_WEBHOOK_URL and BITRIX24_PORTAL_URL: set one of them, not both');
  }
  for (const [name, url] of [
    ['BITRIX24_WEBHOOK_URL', vars.BITRIX24_WEBHOOK_URL],
    ['BITRIX24_PORTAL_URL', vars.BITRIX24_PORTAL_URL],
  ] as const) {
    // Bitrix24 cloud requires HTTPS, and over plain HTTP a webhook's code or a caller's token travels in clear.
    if (url?.protocol === 'http:' && !isLoopback(url) && !vars.BITRIX24_ALLOW_HTTP) {
      problems.push(
        `${name}: plain http:// to ${url.hostname} would send credentials in clear; use https://, or set BITRIX24_ALLOW_HTTP=true for an on-premise portal on a trusted network`,
      );
    }
  }
  if (vars.REDIS_URL && vars.GATEWAY_REPLICAS === undefined) {
    problems.push(
      'GATEWAY_REPLICAS: required with REDIS_URL (how many replicas share the portal: each limits itself to 1/GATEWAY_REPLICAS while Redis is unreachable)',
    );
  }
  // The lease must cover the longest request (its queue wait, its retries, Bitrix24's answer) and a second.
  const longest = vars.QUEUE_MAX_WAIT_MS + vars.RETRY_DEADLINE_MS + vars.UPSTREAM_TIMEOUT_MS;
  if (vars.IDEMPOTENCY_LEASE_MS !== undefined && vars.IDEMPOTENCY_LEASE_MS < longest + 1_000) {
    problems.push(
      `IDEMPOTENCY_LEASE_MS: must be at least QUEUE_MAX_WAIT_MS + RETRY_DEADLINE_MS + UPSTREAM_TIMEOUT_MS + 1000 (${longest + 1_000}), the longest request and a second`,
    );
  }
  // A cluster has database 0 only (SELECT is refused there); /0 says just that.
  const database = vars.REDIS_URL?.pathname.slice(1);
  if (vars.REDIS_CLUSTER && database && Number(database) !== 0) {
    problems.push(
      `REDIS_URL: /${database} names database ${Number(database)}, but a Redis Cluster (REDIS_CLUSTER=true) has only database 0: drop the /<db>`,
    );
  }
  for (const name of ['GATEWAY_REPLICAS', 'RATE_LIMIT_SCOPE'] as const) {
    if (!vars.REDIS_URL && vars[name] !== undefined) problems.push(`${name}: only used with REDIS_URL`);
  }
  if (vars.HEADERS_TIMEOUT_MS > vars.REQUEST_TIMEOUT_MS) {
    problems.push('HEADERS_TIMEOUT_MS: must be at most REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
  if (vars.BITRIX24_CLIENT_ID && !vars.BITRIX24_WEBHOOK_URL) {
    problems.push('BITRIX24_CLIENT_ID: only used with BITRIX24_WEBHOOK_URL');
  }
  // The application's URLs: https, or plain http to a loopback host only (an authorization server or a bot
  // backend on this machine, in tests); BITRIX24_ALLOW_HTTP, for an on-premise portal, does not reach them.
  for (const [name, url] of [
    ['BITRIX24_OAUTH_URL', vars.BITRIX24_OAUTH_URL],
    ['BITRIX24_BOT_EVENTS_URL', vars.BITRIX24_BOT_EVENTS_URL],
  ] as const) {
    if (url?.protocol === 'http:' && !isLoopback(url)) {
      problems.push(
        `${name}: plain http:// to ${url.hostname} would travel in clear; use https:// (http:// only on a loopback host)`,
      );
    }
  }
  // EMULATOR_APPLICATION=true is application mode too, against emulated portals: it takes no real one's settings.
  const emulated = emulatedApplication(vars, problems);
  const application = emulated ? undefined : applicationUpstream(vars, problems);
  const apiKeys = emulated?.apiKeys ?? vars.GATEWAY_API_KEYS;
  const upstream: Upstream =
    application ??
    (vars.BITRIX24_WEBHOOK_URL
      ? {
          mode: 'webhook',
          webhookUrl: vars.BITRIX24_WEBHOOK_URL,
          ...(vars.BITRIX24_CLIENT_ID && { clientId: vars.BITRIX24_CLIENT_ID }),
        }
      : vars.BITRIX24_PORTAL_URL
        ? { mode: 'oauth', portalUrl: vars.BITRIX24_PORTAL_URL }
        : { mode: 'emulator', clientId: emulatorClientId, ...(emulated && { application: emulated.application }) });
  if (upstream.mode === 'webhook' && vars.GATEWAY_API_KEYS.size === 0 && !vars.GATEWAY_ALLOW_ANONYMOUS) {
    problems.push(
      "GATEWAY_API_KEYS: required in webhook mode, where every caller acts with the webhook's rights (or set GATEWAY_ALLOW_ANONYMOUS=true)",
    );
  }
  // In OAuth mode a key needs a caller's API key (400 IDEMPOTENCY_KEY_UNSCOPED): required, it would refuse every
  // caller who has none.
  if (
    upstream.mode === 'oauth' &&
    vars.IDEMPOTENCY_KEY === 'required' &&
    (vars.GATEWAY_ALLOW_ANONYMOUS || vars.GATEWAY_API_KEYS.size === 0)
  ) {
    problems.push(
      'IDEMPOTENCY_KEY: required in OAuth mode needs GATEWAY_API_KEYS and no GATEWAY_ALLOW_ANONYMOUS (a key from a caller without an API key is refused, so every such call would be)',
    );
  }
  if (Boolean(vars.TLS_CERT_FILE) !== Boolean(vars.TLS_KEY_FILE)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE: set both, or neither');
  }
  const tls =
    vars.TLS_CERT_FILE && vars.TLS_KEY_FILE ? readTls(vars.TLS_CERT_FILE, vars.TLS_KEY_FILE, problems) : undefined;
  if (problems.length > 0) throw new ConfigError(problems);
  // With no keys configured there is nobody to authenticate; outside webhook mode that is allowed.
  const allowAnonymous = vars.GATEWAY_ALLOW_ANONYMOUS || apiKeys.size === 0;
  const plan = vars.BITRIX24_PLAN
    ? plans[vars.BITRIX24_PLAN]
    : upstream.mode === 'emulator'
      ? emulatorLimits
      : plans.standard;
  return {
    host: vars.HOST,
    port: vars.PORT,
    upstream,
    upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS,
    upstreamConnections: vars.UPSTREAM_CONNECTIONS,
    upstreamBodyLimitBytes: vars.UPSTREAM_BODY_LIMIT_BYTES,
    upstreamProbeIntervalMs: vars.UPSTREAM_PROBE_INTERVAL_MS,
    bodyLimitBytes: vars.BODY_LIMIT_BYTES,
    headersTimeoutMs: vars.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: vars.REQUEST_TIMEOUT_MS,
    writeTimeoutMs: vars.WRITE_TIMEOUT_MS,
    rateLimit: {
      drainPerSecond: vars.RATE_LIMIT_PER_SECOND ?? plan.drainPerSecond,
      burst: vars.RATE_LIMIT_BURST ?? plan.burst,
      maxQueue: vars.QUEUE_MAX_LENGTH,
      // An equal share of the queue for each team (the anonymous callers being one), so that a team that
      // floods the gateway is refused before the others are.
      maxQueuePerTeam:
        vars.QUEUE_MAX_LENGTH_PER_TEAM ??
        Math.max(1, Math.ceil(vars.QUEUE_MAX_LENGTH / teamCount(apiKeys, allowAnonymous))),
      maxWaitMs: vars.QUEUE_MAX_WAIT_MS,
      shaping: vars.RATE_LIMIT_SHAPING === 'on',
    },
    retry: { deadlineMs: vars.RETRY_DEADLINE_MS, baseDelayMs: vars.RETRY_BASE_DELAY_MS },
    operatingPauseMs: vars.OPERATING_PAUSE_MS,
    ...(vars.REDIS_URL && {
      redis: {
        url: vars.REDIS_URL,
        keyPrefix: vars.REDIS_KEY_PREFIX,
        replicas: vars.GATEWAY_REPLICAS ?? 1,
        scope: vars.RATE_LIMIT_SCOPE ?? 'shared',
        commandTimeoutMs: vars.REDIS_COMMAND_TIMEOUT_MS,
        requireAof: vars.REDIS_REQUIRE_AOF,
        cluster: vars.REDIS_CLUSTER,
      },
    }),
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
    idempotency: {
      retentionMs: vars.IDEMPOTENCY_RETENTION_SECONDS * 1000,
      maxKeys: vars.IDEMPOTENCY_MAX_KEYS,
      maxBytes: vars.IDEMPOTENCY_MAX_BYTES,
      required: vars.IDEMPOTENCY_KEY === 'required',
      ...(vars.IDEMPOTENCY_LEASE_MS !== undefined && { leaseMs: vars.IDEMPOTENCY_LEASE_MS }),
    },
    dataDir: resolve(vars.GATEWAY_DATA_DIR ?? 'data'),
    ...(tls && { tls }),
    apiKeys,
    allowAnonymous,
    logLevel: vars.LOG_LEVEL,
  };
}

/**
 * The callers' keys read again from GATEWAY_API_KEYS_FILE and checked as at start (keys rotated without a
 * restart). Throws ConfigError, naming the variable and never a key, when they cannot be used.
 */
export function reloadApiKeys(env: Record<string, string | undefined> = process.env): Map<string, string> {
  return apiKeysOfFile(readApiKeysFile(env));
}

/** GATEWAY_API_KEYS_FILE's content as it is now, unchecked. Throws ConfigError when it cannot be read. */
export function readApiKeysFile(env: Record<string, string | undefined> = process.env): string {
  const file = env.GATEWAY_API_KEYS_FILE;
  if (!file)
    throw new ConfigError([
      'GATEWAY_API_KEYS_FILE: not set, so the keys come from GATEWAY_API_KEYS and only a restart changes them',
    ]);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([
      `GATEWAY_API_KEYS_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
}

/** The keys of a keys file's content, checked as at start; ConfigError (naming no key) when unusable. */
export function apiKeysOfFile(content: string): Map<string, string> {
  const value = content.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(['GATEWAY_API_KEYS_FILE: the file is empty']);
  const parsed = apiKeys.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `GATEWAY_API_KEYS_FILE: ${issue.message}`));
  if (parsed.data.size === 0) throw new ConfigError(['GATEWAY_API_KEYS_FILE: the file has no keys']);
  return parsed.data;
}

/** The teams that may call: each configured key's team, and the anonymous callers when they are let in. */
function teamCount(keys: Map<string, string>, allowAnonymous: boolean): number {
  return new Set(keys.values()).size + (allowAnonymous ? 1 : 0);
}

/** The variables that hold a secret, each of which may instead name a file that holds it (`<NAME>_FILE`). */
export const secretVariables = [
  'BITRIX24_WEBHOOK_URL',
  'BITRIX24_CLIENT_ID',
  'GATEWAY_API_KEYS',
  'REDIS_URL',
  ...applicationSecretVariables,
] as const;

/**
 * Docker's and Kubernetes' secrets are files: `<NAME>_FILE=/run/secrets/x` reads the value of NAME from it
 * (one trailing newline dropped), into `env`. A file that cannot be read, or NAME set as well, is a problem;
 * no message quotes the file's content.
 */
function readSecretFiles(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  for (const name of secretVariables) {
    const file = env[`${name}_FILE`];
    if (file === undefined) continue;
    if (env[name] !== undefined) {
      problems.push(`${name}_FILE: set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (value === '') problems.push(`${name}_FILE: ${file} is empty`);
      else env[name] = value;
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return problems;
}

function readTls(certFile: string, keyFile: string, problems: string[]): { cert: string; key: string } | undefined {
  const read = (variable: string, file: string, marker: RegExp) => {
    try {
      const text = readFileSync(file, 'utf8');
      if (marker.test(text)) return text;
      problems.push(`${variable}: ${file} is not a PEM file of the expected kind`);
    } catch (error) {
      problems.push(`${variable}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return undefined;
  };
  const cert = read('TLS_CERT_FILE', certFile, /-----BEGIN CERTIFICATE-----/);
  const key = read('TLS_KEY_FILE', keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  return cert && key ? { cert, key } : undefined;
}

/**
 * The one-line message for a listener that cannot start (the port in use, or not allowed; the host not an
 * address here, or a name that does not resolve), naming the variable that chose it; undefined for any other
 * error.
 */
export function listenProblem(
  error: unknown,
  variable: string,
  port: number,
  host: string,
  hostVariable = 'HOST',
): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return `${variable}: port ${port} on ${host} is already in use; choose another ${variable}`;
  if (code === 'EACCES')
    return `${variable}: not allowed to listen on port ${port} on ${host} (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL') return `${hostVariable}: ${host} is not an address of this machine`;
  // A host name is resolved by listen(): one that does not resolve (or not now) is the operator's to fix.
  if (code === 'ENOTFOUND') return `${hostVariable}: ${host} does not resolve to an address of this machine`;
  if (code === 'EAI_AGAIN')
    return `${hostVariable}: ${host} could not be resolved now (the DNS did not answer); use an IP address`;
  if (code === 'EAFNOSUPPORT') return `${hostVariable}: ${host} is of an address family this machine does not support`;
  return undefined;
}

/** Every variable the gateway reads: those of the table, and `<NAME>_FILE` for each secret. */
export const configurationVariables: readonly string[] = [
  ...Object.keys(environment.shape),
  ...secretVariables.map((name) => `${name}_FILE`),
];
