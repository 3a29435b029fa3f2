// What the connection (connection.ts) talks to: one Redis, or a Redis Cluster (cluster.ts), behind the same
// narrow surface, so that the connection's health, deadline and checks, and the stores' commands, do not
// depend on which. A command names its key first (args[1], or a script's first key): a cluster routes it
// to the node of that key's slot; every command and script of the gateway touches the keys of one slot.
import { createClient } from 'redis';
import { redisClientOptions } from './options';

/** What a command given to RedisConnection.run may use: one command, its key at args[1] (or EVAL's first key). */
export interface RedisCommands {
  sendCommand<T = unknown>(args: readonly string[]): Promise<T>;
}

/** One master, asked on its own: what it is (INFO), what it is set to (CONFIG GET), whether it answers. */
export interface RedisNode {
  /** host:port. */
  where: string;
  info(section: string): Promise<string>;
  configGet(name: string): Promise<Record<string, string>>;
  ping(): Promise<unknown>;
  /**
   * Whether it serves its slots: a cluster's node says `cluster_state:ok` (each node has a view of its own,
   * so one may still refuse with CLUSTERDOWN after another serves again). One Redis always does.
   */
  serving(): Promise<boolean>;
}

/** What the backend tells the connection. */
export interface BackendEvents {
  /** A connection failed (or its first attempt); `handshaking`: its socket connected, its hello unanswered. */
  error(error: unknown, handshaking: boolean): void;
  /** Connected, or connected again: the connection runs its checks. */
  ready(): void;
}

export interface RedisBackend {
  readonly commands: RedisCommands;
  /** Connected (a cluster: its slots known), so that a probe can be sent. */
  readonly isReady: boolean;
  /** Connects in the background, again and again until closed; failures reach `BackendEvents.error`. */
  start(): void;
  /** Every master, each to be asked on its own. */
  masters(): Promise<RedisNode[]>;
  /** Stops connecting, and closes what is open (a stalled server may never answer: then `destroy`). */
  close(): Promise<void>;
  destroy(): void;
}

/** A node-redis client (one Redis's, or a cluster node's) as the checks ask it. */
export function nodeOf(
  where: string,
  client: {
    info(section: string): Promise<string>;
    configGet(name: string): Promise<unknown>;
    ping(): Promise<unknown>;
    clusterInfo(): Promise<string>;
  },
  cluster: boolean,
): RedisNode {
  return {
    where,
    info: (section) => client.info(section),
    configGet: async (name) => (await client.configGet(name)) as Record<string, string>,
    ping: () => client.ping(),
    async serving() {
      if (!cluster) return true;
      try {
        return /^cluster_state:ok\r?$/m.test(await client.clusterInfo());
      } catch (error) {
        // Not allowed (an ACL without CLUSTER INFO): the commands themselves say CLUSTERDOWN then.
        if (error instanceof Error && /^(NOPERM|ERR unknown command)\b/.test(error.message)) return true;
        throw error;
      }
    },
  };
}

/** One Redis: node-redis reconnects it on its own. */
export function singleBackend(url: string, commandTimeoutMs: number, events: BackendEvents): RedisBackend {
  const client = createClient(redisClientOptions(url, commandTimeoutMs));
  let handshaking = false;
  client.on('error', (error: unknown) => events.error(error, handshaking));
  client.on('connect', () => {
    handshaking = true;
  });
  client.on('ready', () => {
    handshaking = false;
    events.ready();
  });
  const parsed = new URL(url);
  const node = nodeOf(`${parsed.hostname}:${parsed.port || '6379'}`, client, false);
  return {
    commands: { sendCommand: <T>(args: readonly string[]) => client.sendCommand<T>(args) },
    get isReady() {
      return client.isReady;
    },
    start() {
      client.connect().catch((error: unknown) => events.error(error, false));
    },
    masters: async () => [node],
    close: async () => {
      if (client.isOpen) await client.close();
    },
    destroy: () => client.destroy(),
  };
}
