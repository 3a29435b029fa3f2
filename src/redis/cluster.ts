// A Redis Cluster behind the connection (REDIS_CLUSTER=true): node-redis learns the nodes from the seed in
// REDIS_URL, routes each command to the master of its first key's slot, and follows MOVED and ASK itself.
// Unlike a single client it does not retry its first connection: that is done here, until closed. A node
// that fails is a failure of the whole connection (connection.ts: one health state), and a node that is
// back makes the connection check every master again before it counts as up.
import { ClientOfflineError, createCluster, RootNodesUnavailableError } from 'redis';
import { type BackendEvents, nodeOf, type RedisBackend } from './backend';
import { reconnectDelay, redisClusterOptions } from './options';

/** The key a command is routed by: a script's first key, or else args[1] (every command of the gateway's). */
export function firstKeyOf(args: readonly string[]): string | undefined {
  if (/^(EVAL|EVALSHA|EVAL_RO|EVALSHA_RO|FCALL|FCALL_RO)$/i.test(args[0] ?? ''))
    return Number(args[2]) > 0 ? args[3] : undefined;
  return args[1];
}

interface NodeInfo {
  host: string;
  port: number;
}

export function clusterBackend(url: string, commandTimeoutMs: number, events: BackendEvents): RedisBackend {
  const cluster = createCluster(redisClusterOptions(url, commandTimeoutMs));
  /** Nodes whose socket connected and whose hello is not yet answered (a TLS mismatch shows there). */
  const handshaking = new Set<string>();
  const address = (node: NodeInfo) => `${node.host}:${node.port}`;
  // Discovery (CLUSTER SLOTS on the seed or a known node) failed.
  cluster.on('error', (error: unknown) => events.error(error, false));
  cluster.on('node-error', (error: unknown, node: NodeInfo) => events.error(error, handshaking.has(address(node))));
  cluster.on('node-connect', (node: NodeInfo) => handshaking.add(address(node)));
  cluster.on('node-ready', (node: NodeInfo) => {
    handshaking.delete(address(node));
    // A node back after a failure; on the first connection, `connect` below says when all are there.
    if (cluster.isReady) events.ready();
  });
  cluster.on('connect', () => events.ready());

  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = (attempt: number): void => {
    cluster.connect().catch((error: unknown) => {
      if (closed) return;
      // Why the seed failed was emitted already ('error'); this only says that it did.
      if (!(error instanceof RootNodesUnavailableError)) events.error(error, false);
      retry = setTimeout(() => connect(attempt + 1), reconnectDelay(attempt));
      retry.unref();
    });
  };
  const stop = () => {
    closed = true;
    clearTimeout(retry);
  };

  return {
    commands: {
      sendCommand: <T>(args: readonly string[]) => cluster.sendCommand<T>(firstKeyOf(args), false, [...args]),
    },
    get isReady() {
      return cluster.isReady;
    },
    start: () => connect(0),
    async masters() {
      // Before the slots are known there are no masters to ask: not an empty cluster that passed its checks.
      if (!cluster.isReady) throw new ClientOfflineError();
      // Slots known and none served (nodes that were never given slots): down, as Redis itself says it.
      if (cluster.masters.length === 0) throw new Error('CLUSTERDOWN no master serves a hash slot');
      return Promise.all(
        cluster.masters.map(async (node) => nodeOf(node.address, await cluster.nodeClient(node), true)),
      );
    },
    async close() {
      stop();
      if (cluster.isOpen) await cluster.close();
    },
    destroy() {
      stop();
      cluster.destroy();
    },
  };
}
