// A real three-node Redis Cluster (Debian's redis-server and redis-cli) on free loopback ports, for the
// tests of the gateway's connection to a cluster: three masters, no replicas, each with an append-only file
// (`appendfsync always`) in a folder of its own (redis.ts's servers, so each is stopped and its folder
// removed even when a test fails), joined by `redis-cli --cluster create` and waited for until every node
// says `cluster_state:ok`. A node can be stalled (SIGSTOP) and resumed; `nodeOf` says which node holds a
// key's slot, so that a test can pick keys on different nodes.
import { runProcess } from './processes';
import { type RedisServer, startRedis } from './redis';

export interface RedisCluster {
  /** A seed: the first node's URL (the gateway learns the others from it). */
  url: string;
  ports: number[];
  /** SIGSTOP: the node keeps its sockets but answers nothing. */
  pause(node: number): void;
  /** SIGCONT. */
  resume(node: number): void;
  /** SIGKILL, then started again with what its append-only file and nodes.conf kept: back in the cluster. */
  restart(node: number): Promise<void>;
  /** The node (0, 1 or 2) that holds `key`'s hash slot. */
  nodeOf(key: string): Promise<number>;
  /** redis-cli against one node (`CONFIG SET …`, `CLUSTER INFO`): its output, without the last newline. */
  cli(node: number, ...args: string[]): Promise<string>;
  /** Stops every node and removes their folders. */
  dispose(): Promise<void>;
}

export const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';

/** `args`: more redis-server arguments for every node (`--cluster-node-timeout 500`, say). */
export async function startRedisCluster({ args = [] }: { args?: string[] } = {}): Promise<RedisCluster> {
  const started = await Promise.allSettled(
    [0, 1, 2].map(() =>
      startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', ...args], undefined, undefined, {
        aof: true,
      }),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const dispose = async () => {
    await Promise.all(nodes.map((node) => node.dispose()));
  };
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return await join(nodes, dispose);
  } catch (error) {
    await dispose();
    throw error;
  }
}

async function join(nodes: RedisServer[], dispose: () => Promise<void>): Promise<RedisCluster> {
  const ports = nodes.map((node) => node.port);
  const cli = async (node: number, ...args: string[]) => {
    const done = await runProcess(REDIS_CLI, ['-p', String(ports[node]), ...args], { timeoutMs: 10_000 });
    if (done.code !== 0) throw new Error(`redis-cli ${args.join(' ')} on node ${node}: ${done.stderr || done.stdout}`);
    return done.stdout.replace(/\n$/, '');
  };
  const create = await runProcess(
    REDIS_CLI,
    ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { timeoutMs: 30_000 },
  );
  if (create.code !== 0 || !create.stdout.includes('All 16384 slots covered'))
    throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
  // Commands fail with CLUSTERDOWN until each node has heard from the others.
  await until(
    async () =>
      (await Promise.all(nodes.map((_, i) => cli(i, 'CLUSTER', 'INFO')))).every((state) =>
        state.includes('cluster_state:ok'),
      ),
    'come up',
  );
  return {
    url: nodes[0]!.url,
    ports,
    pause: (node) => nodes[node]!.pause(),
    resume: (node) => nodes[node]!.resume(),
    async restart(node) {
      await nodes[node]!.stop();
      await nodes[node]!.start({ keepData: true });
      await until(async () => (await cli(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), 'rejoin');
    },
    async nodeOf(key) {
      const slot = Number(await cli(0, 'CLUSTER', 'KEYSLOT', key));
      // CLUSTER NODES: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges…>`.
      for (const line of (await cli(0, 'CLUSTER', 'NODES')).split('\n')) {
        const [, address = '', , , , , , , ...ranges] = line.split(' ');
        const port = Number(/:(\d+)@/.exec(address)?.[1]);
        for (const range of ranges) {
          const [from, to = from] = range.split('-').map(Number);
          if (from !== undefined && to !== undefined && slot >= from && slot <= to) return ports.indexOf(port);
        }
      }
      throw new Error(`no node holds slot ${slot}`);
    },
    cli,
    dispose,
  };
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error(`the cluster did not ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
