// How the gateway's Redis client connects: commands fail fast instead of queueing while Redis is away, and
// the client reconnects forever, a little slower each time. The client's own command timeout is not relied
// on (node-redis drops it once a command is written to the socket): deadline.ts is the gateway's own.
//
// The URL is taken apart here, not handed to node-redis: with a URL it resolves the URL's hostname itself
// for its maintenance handshake, brackets and all, so an IPv6 address (`redis://[::1]:6380`) never connected
// ("getaddrinfo ENOTFOUND [::1]"). The socket gets the address without its brackets, and the handshake that.
import type { RedisClientOptions, RedisClusterOptions } from 'redis';

export function redisClientOptions(url: string, commandTimeoutMs: number): RedisClientOptions {
  const { node, database, ...shared } = partsOf(url, commandTimeoutMs);
  return {
    ...shared,
    ...(database !== undefined && { database }),
    commandOptions: { timeout: commandTimeoutMs },
    socket: { ...shared.socket, ...node },
  };
}

/**
 * A Redis Cluster (REDIS_CLUSTER=true): the URL names one node, a seed from which node-redis learns the
 * others (CLUSTER SLOTS); every node is reached with the URL's credentials and TLS, and the same socket
 * options as a single Redis. A cluster has only database 0: the configuration refuses a /<db>.
 */
export function redisClusterOptions(url: string, commandTimeoutMs: number): RedisClusterOptions {
  const { node, database: _, ...shared } = partsOf(url, commandTimeoutMs);
  return {
    rootNodes: [{ socket: node }],
    // What each node's client is made of (the seed's too): node-redis gives a discovered node only these.
    defaults: shared,
    commandOptions: { timeout: commandTimeoutMs },
  };
}

function partsOf(url: string, commandTimeoutMs: number) {
  const parsed = new URL(url);
  // The configuration allows only /<digits> or nothing as the path (src/config).
  const database = /^\/\d+$/.test(parsed.pathname) ? Number(parsed.pathname.slice(1)) : undefined;
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  return {
    database,
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    disableOfflineQueue: true,
    node: {
      host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port ? Number(parsed.port) : 6379,
    },
    socket: {
      // rediss://: TLS, its server name the host's (Node's default).
      ...(parsed.protocol === 'rediss:' ? { tls: true as const } : { tls: false as const }),
      connectTimeout: Math.max(1_000, commandTimeoutMs * 4),
      reconnectStrategy: reconnectDelay,
    },
  };
}

/** How long to wait before the next attempt to connect, after `retries` failed ones. */
export function reconnectDelay(retries: number): number {
  return Math.min(100 * 2 ** retries, 2_000);
}
