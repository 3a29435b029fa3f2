// How the gateway's Redis client connects: commands fail fast instead of queueing while Redis is away, and
// the client reconnects forever, a little slower each time. The client's own command timeout is not relied
// on (node-redis drops it once a command is written to the socket): deadline.ts is the gateway's own.
export function redisClientOptions(url: string, commandTimeoutMs: number) {
  return {
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      connectTimeout: Math.max(1_000, commandTimeoutMs * 4),
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000),
    },
  } as const;
}
